"""Read local data files or a Hub data set into canonical rows (see `formats.py`).

    from fine_tune.data.sources import load_rows
    load_rows(path="../shared/data/gsm8k", split="test")     # 1319 rows, format gsm8k
    load_rows(path="data.jsonl", on_error="skip")            # bad lines go to .rejects
    load_rows(name="openai/gsm8k", subset="main")            # needs the network

Every record read ends up in `rows` or in `rejects`, never dropped: with
`on_error="raise"` the first bad record stops the load with a one-line
`UserError` that names the file and line; with `on_error="skip"` it is kept in
`rejects` with its reason. JSONL is parsed here line by line, not by `datasets`,
so that a malformed line can be named and skipped.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from fine_tune.data import formats
from fine_tune.errors import UserError

log = logging.getLogger(__name__)

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet", ".csv")
SPLIT_NAMES = ("train", "test", "validation", "valid", "dev", "eval")
ON_ERROR = ("raise", "skip")
# Detection votes over this many records: one odd first record does not decide the format.
DETECT_ROWS = 10


@dataclass
class LoadResult:
    """Canonical rows, the records that were rejected, and the format they were read as."""

    rows: list[dict]
    rejects: list[dict]  # {"source", "line", "reason", "raw"}
    format: str


class _Record(NamedTuple):
    line: int  # 1-based: the line in JSONL, the item or row number elsewhere
    raw: object  # the parsed dict, or the text of a line that is not one
    error: str | None


class _Source(NamedTuple):
    name: str  # file path or Hub id: the rows' `source`
    stem: str  # prefix of generated ids: '<stem>-<index>'
    unit: str  # 'line' (JSONL) or 'row': how error messages point into it
    records: list[_Record]


# --- reading ------------------------------------------------------------------------------
def _suffix(file: Path) -> str | None:
    return next((s for s in SUFFIXES if file.name.endswith(s)), None)


def _open(file: Path):
    # utf-8-sig: a byte-order mark, which Windows tools write, is read as nothing
    return gzip.open(file, "rt", encoding="utf-8-sig") if file.name.endswith(".gz") else open(file, encoding="utf-8-sig")


_TOO_DEEP = "nested deeper than the JSON reader allows (Python's recursion limit)"


def _starts_with_array(file: Path) -> bool:
    """Whether the file's first non-blank character opens a JSON array: a .json saved under .jsonl."""
    with _open(file) as handle:
        for line in handle:
            if line.strip():
                return line.lstrip().startswith("[")
    return False


def _read_jsonl(file: Path) -> list[_Record]:
    records = []
    with _open(file) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():  # a blank line holds no record
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                records.append(_Record(number, line.rstrip("\n"), f"malformed JSON ({err.msg} at column {err.colno})"))
                continue
            except RecursionError:
                records.append(_Record(number, line[:200], _TOO_DEEP))
                continue
            error = None if isinstance(obj, dict) else f"not a JSON object but a {type(obj).__name__}"
            records.append(_Record(number, obj, error))
    return records


def _read_json(file: Path) -> tuple[str, list[_Record]]:
    with _open(file) as handle:
        text = handle.read()
    try:
        data = json.loads(text)
    except RecursionError:
        raise UserError(f"{file}: {_TOO_DEEP}; flatten the file's structure") from None
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":  # JSON Lines saved as .json, common on the Hub
            return "line", _read_jsonl(file)
        raise UserError(f"{file}:{err.lineno}: malformed JSON ({err.msg} at column {err.colno}); fix the file") from None
    if isinstance(data, dict):
        data = next((data[k] for k in ("data", "rows", "train") if isinstance(data.get(k), list)), data)
    if not isinstance(data, list):
        raise UserError(f"{file} holds a JSON {type(data).__name__}, not rows: "
                        "write a list of objects, or an object with the list under 'data'")
    return "row", [_Record(n, obj, None if isinstance(obj, dict) else f"not a JSON object but a {type(obj).__name__}")
                   for n, obj in enumerate(data, 1)]


def _read_csv(file: Path) -> list[_Record]:
    records = []
    with open(file, newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.DictReader(handle), 1):
            extra = row.pop(None, None)  # cells beyond the header
            error = f"has {len(extra)} more cells than the header" if extra else None
            # CSV has no null: an empty cell is an absent field, as a null is in Parquet
            records.append(_Record(number, {k: (v if v != "" else None) for k, v in row.items()}, error))
    return records


def _read_file(file: Path) -> _Source:
    suffix = _suffix(file)
    stem = file.name[: -len(suffix)]
    try:
        if suffix in (".jsonl", ".jsonl.gz") and _starts_with_array(file):
            log.warning("%s holds a JSON array, not JSON Lines: read as one (name it .json)", file)
            return _Source(str(file), stem, *_read_json(file))
        if suffix in (".jsonl", ".jsonl.gz"):
            return _Source(str(file), stem, "line", _read_jsonl(file))
        if suffix in (".json", ".json.gz"):
            return _Source(str(file), stem, *_read_json(file))
        if suffix == ".csv":
            return _Source(str(file), stem, "row", _read_csv(file))
        import pyarrow.parquet as pq  # slow to import; only Parquet needs it

        rows = pq.read_table(file).to_pylist()
        return _Source(str(file), stem, "row", [_Record(n, row, None) for n, row in enumerate(rows, 1)])
    # ArrowInvalid is a ValueError; a truncated .gz ends in EOFError, a corrupt one in zlib.error
    except UnicodeDecodeError as err:
        raise UserError(f"cannot read {file}: not UTF-8 text (byte {err.object[err.start:err.start + 1]!r} at "
                        f"offset {err.start}); save it as UTF-8, e.g. iconv -f latin1 -t utf-8") from None
    except (OSError, EOFError, zlib.error, csv.Error, ValueError) as err:
        line = " ".join(str(err).split())
        raise UserError(f"cannot read {file}: {line[:200]}; check that it is a {suffix} file") from None


def _read_hub(name: str, subset: str | None, split: str) -> _Source:
    import datasets  # ~2 s to import: only when the Hub is asked for

    try:
        data = datasets.load_dataset(name, subset, split=split)
    except Exception as err:  # offline, unknown id, gated, bad subset or split: all are the user's to fix
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot load data set '{name}' from the Hugging Face Hub: {first}; "
                        "check the name, your network, or use data.source.path=<local file>") from None
    return _Source(name, f"{name}-{split}", "row", [_Record(n, dict(row), None) for n, row in enumerate(data, 1)])


def _files(path: Path, split: str) -> list[Path]:
    """The data files of `path`: itself, the folder's files named after `split`, or all the folder's files."""
    if not path.exists():
        raise UserError(f"data.source.path '{path}' does not exist; check the path (relative to the run's directory)")
    if path.is_file():
        if _suffix(path) is None:
            raise UserError(f"data.source.path '{path}' is not a data file; use one of {', '.join(SUFFIXES)}")
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and _suffix(p))
    if not files:
        raise UserError(f"data.source.path '{path}' holds no data file ({', '.join(SUFFIXES)})")
    # train.jsonl, test.jsonl.gz, train-00000-of-00002.parquet
    split_of = {p: p.name[: -len(_suffix(p))].split("-")[0] for p in files}
    matching = [p for p in files if split_of[p] == split]
    named = sorted({s for s in split_of.values() if s in SPLIT_NAMES})
    if named and not matching:
        listing = ", ".join(p.name for p in files)
        raise UserError(f"data.source.path '{path}' has no '{split}' split (files: {listing}); "
                        f"set data.source.split to one of {', '.join(named)}")
    return matching or files


# --- converting -----------------------------------------------------------------------------
def _detect(source: _Source) -> str | None:
    """The format most of the first records fit (ties: the earliest); None when no record parsed."""
    good = [r.raw for r in source.records if r.error is None][:DETECT_ROWS]
    if not good:
        return None
    votes = Counter(name for name in map(formats.detect, good) if name)
    if not votes:
        raise UserError(f"no known format in {source.name}: found fields [{', '.join(formats.present(good[0]))}]; "
                        f"{formats.needs_listing()}; declare one with data.source.format=<name>")
    return votes.most_common(1)[0][0]


def _questions(source: _Source) -> dict:
    """MT-Bench questions by id, from question.jsonl beside a reference-answer file."""
    file = Path(source.name).parent / "question.jsonl"
    if not file.is_file():
        raise UserError(f"{source.name}: format mt_bench_reference takes its prompts from question.jsonl beside it, "
                        "which is absent; put MT-Bench's question.jsonl in the same folder")
    return {r.raw["question_id"]: r.raw for r in _read_jsonl(file) if r.error is None and "question_id" in r.raw}


def _convert(source: _Source, fmt: str | None, on_error: str) -> tuple[list[dict], list[dict]]:
    """(rows, rejects) of one source read as `fmt`; raises UserError on the first bad record unless skipping."""
    extra = {"questions": _questions(source)} if fmt == "mt_bench_reference" else {}
    rows, rejects = [], []
    for index, record in enumerate(source.records):
        try:
            if record.error:
                raise formats.RowError(record.error)
            out = formats.parse(fmt, record.raw, **extra)
        except formats.RowError as err:
            if on_error == "raise":
                where = f"{source.name}:{record.line}" if source.unit == "line" else f"{source.name} row {record.line}"
                raise UserError(f"{where}: {err}; fix the {source.unit} or set data.on_error=skip") from None
            rejects.append({"source": source.name, "line": record.line, "reason": str(err), "raw": record.raw})
            continue
        base = out[0]["id"] or f"{source.stem}-{index}"  # index among all records: stable when others are rejected
        for k, row in enumerate(out):
            row.update(id=base if len(out) == 1 else f"{base}-{k}", source=source.name)
        rows.extend(out)
    return rows, rejects


def _check_args(path: str | None, name: str | None, format: str | None, on_error: str) -> None:
    if (path is None) == (name is None):
        raise UserError("set exactly one of data.source.path (a local file or folder) and data.source.name (a Hub id)")
    if format is not None and format not in formats.FORMATS:
        raise UserError(f"unknown data.source.format '{format}'; known formats: {formats.needs_listing()}")
    if on_error not in ON_ERROR:
        raise UserError(f"data.on_error must be one of {', '.join(ON_ERROR)}, not '{on_error}'")


def load_rows(path: str | None = None, name: str | None = None, split: str = "train", format: str | None = None,
              on_error: str = "raise", subset: str | None = None) -> LoadResult:
    """Load a data file, a folder of them, or a Hub data set as canonical rows.

    Args:
        path: a .jsonl(.gz), .json(.gz), .parquet or .csv file, or a folder of them.
        name: a Hugging Face Hub data set id (instead of `path`).
        split: the Hub split; in a folder with split-named files (train.jsonl, test.jsonl), which to read.
        format: a key of `formats.FORMATS`; None detects it from the first records of each file.
        on_error: "raise" stops at the first bad record; "skip" keeps it in `rejects` and goes on.
        subset: the Hub configuration (e.g. "main" for openai/gsm8k).

    Returns:
        A `LoadResult`: len(rows) + len(rejects) covers every record read (self_instruct tasks
        with several instances give one row each).

    Raises:
        UserError: a missing path, an unreachable Hub id, an unknown or mixed format, or a
            bad record with on_error="raise".
    """
    _check_args(path, name, format, on_error)
    if name is not None:
        sources = [_read_hub(name, subset, split)]
    else:
        sources = [_read_file(file) for file in _files(Path(path), split)]
    for source in sources:
        if not source.records:
            raise UserError(f"{source.name} holds no rows; point data.source.path at a file with data")
    detected = {source.name: format or _detect(source) for source in sources}
    kinds = sorted({fmt for fmt in detected.values() if fmt})
    if len(kinds) > 1:
        listing = ", ".join(f"{Path(src).name} is {fmt}" for src, fmt in detected.items())
        raise UserError(f"the files of data.source.path '{path}' hold different formats ({listing}); "
                        "point data.source.path at one file")
    fmt = kinds[0] if kinds else None  # None: no record of any file parsed, all become rejects
    rows, rejects = [], []
    for source in sources:
        got, bad = _convert(source, fmt, on_error)
        rows += got
        rejects += bad
    log.info("loaded %d rows (%d rejected) of format %s from %s", len(rows), len(rejects), fmt, name or path)
    return LoadResult(rows=rows, rejects=rejects, format=fmt or "none")

