"""From `cfg.data` to the rows the stages train and evaluate on.

    source   the embedded world, a local file/folder (data.source.path) or a Hub set (data.source.name)
    curate   data=curated: the steps of fine_tune.data.curation, cached by (source, config)
    split    the source's eval split, or a stratified hold-out of data.eval_fraction
    size     data.fraction / data.max_samples, for data-size studies

The embedded world has a fixed eval set, so `data=raw` and `data=curated`
are scored on the same prompts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from omegaconf import OmegaConf

from fine_tune.cache import cached_json
from fine_tune.config import OnError
from fine_tune.data.curation import Curated, curate
from fine_tune.data.curation.decontaminate import contaminated_eval_ids
from fine_tune.data.embedded import build_world, stratified_split
from fine_tune.data.schema import canonical
from fine_tune.data.sources import load_rows
from fine_tune.errors import UserError
from fine_tune.outputs import fingerprint

log = logging.getLogger(__name__)
CACHE_VERSION = 3  # bump when curation code changes what it keeps (3: checker-passing copies, decontamination by share)


@dataclass
class Splits:
    train: list[dict]
    eval: list[dict]
    report: dict = field(default_factory=dict)  # rows in and out of every step
    rejects: list[dict] = field(default_factory=list)  # {"step", "reason", "row"}: every removed row

    @cached_property
    def fingerprints(self) -> dict[str, str]:
        """Content hashes of the rows: the manifest records them, caches key on them."""
        return {"train": fingerprint(self.train), "eval": fingerprint(self.eval)}


@dataclass
class _Source:
    label: str
    format: str
    rows: list[dict]
    eval: list[dict] | None  # None: hold out a share of the (curated) rows
    rejects: list[dict]


def _read_source(data_cfg, show_progress: bool) -> _Source:
    src = data_cfg.source
    if src.path is None and src.name is None:
        emb = data_cfg.embedded
        try:
            world = build_world(emb.seed, emb.clean_size, emb.eval_fraction, dict(emb.defect_rates),
                                emb.contamination, show_progress)
        except ValueError as err:
            raise UserError(f"data.embedded.defect_rates / contamination: {err}") from err
        rows = [canonical(r, "embedded") for r in world.raw]
        return _Source("embedded", "embedded", rows, [canonical(r, "embedded") for r in world.eval], [])
    path = str(Path(src.path).expanduser()) if src.path else None
    kwargs = dict(path=path, name=src.name, format=src.format, on_error=OnError(data_cfg.on_error).value, subset=src.subset)
    loaded = load_rows(split=src.split, **kwargs)
    rejects = [{"step": "load", "reason": r["reason"], "row": r} for r in loaded.rejects]
    eval_rows = None
    if src.eval_split:
        held = load_rows(split=src.eval_split, **kwargs)
        eval_rows = held.rows
        rejects += [{"step": "load", "reason": r["reason"], "row": r} for r in held.rejects]
    return _Source(path or src.name, loaded.format, loaded.rows, eval_rows, rejects)


def _curated(source: _Source, data_cfg, cache_dir: str | None, show_progress: bool) -> Curated:
    """curate(), cached under a key of (source rows, eval rows, curation config)."""
    key = [fingerprint(source.rows), fingerprint(source.eval or []),
           OmegaConf.to_container(data_cfg.curation, resolve=True), CACHE_VERSION]

    def compute() -> dict:
        result = curate(source.rows, source.eval or [], data_cfg.curation, show_progress)
        return {"rows": result.rows, "rejects": result.rejects, "steps": result.steps}

    cached = cached_json(cache_dir, "curated", key, compute)
    return Curated(cached["rows"], cached["rejects"], cached["steps"])


def _resize(train: list[dict], data_cfg) -> list[dict]:
    # both in range: fine_tune.config_ranges.check_config ran before (data.max_samples=-5 would slice rows off)
    if data_cfg.fraction is not None:
        train = train[: max(1, round(len(train) * data_cfg.fraction))]
    if data_cfg.max_samples is not None:
        train = train[: data_cfg.max_samples]
    return train


def _checker_use(data_cfg, rows: list[dict], rejects: list[dict]) -> dict:
    """Whether curation read the rows' own checkers, and how many rows that removed.

    A checker is an oracle scraped data does not come with: a curated set cleaned by it is
    cleaner than real curation could make it, and the report and comparison table say so.
    """
    cur = data_cfg.curation  # the noise step drops failing rows; exact dedup keeps a group's passing copy
    uses = bool(cur.enabled and cur.noise.check_answers and (cur.noise.enabled or cur.exact_dedup.enabled)
                and any(r.get("check") for r in [*rows, *(x["row"] for x in rejects)]))
    removed = sum(1 for x in rejects if str(x.get("reason", "")).startswith("answer fails its checker"))
    return {"uses_checkers": uses, "checker_removed": removed}


def _contamination(train: list[dict], eval_rows: list[dict], data_cfg) -> dict:
    """The eval prompts the final train rows carry (decontamination's rule), for every data set.

    Curation removes them; raw data and user files may carry some, and a job scored on a
    prompt it trained on measures recall there: the ids let a comparison leave them out.
    Costs about 0.25 s on the 15,745 raw rows (one pass over their 13-grams).
    """
    n = data_cfg.curation.decontamination.ngram
    ids = contaminated_eval_ids(train, eval_rows, n)
    return {"ngram": n, "count": len(ids), "ids": ids}


def load_splits(data_cfg, cache_dir: str | None = None, show_progress: bool = True) -> Splits:
    """The train and eval rows `cfg.data` describes, with a report of every step.

    Raises:
        UserError: bad input (see fine_tune.data.sources), or no train rows left.
    """
    source = _read_source(data_cfg, show_progress)
    steps: list[dict] = []
    rows, rejects = source.rows, list(source.rejects)
    if data_cfg.curation.enabled:
        result = _curated(source, data_cfg, cache_dir, show_progress)
        rows, steps, rejects = result.rows, result.steps, rejects + result.rejects
    eval_rows = source.eval
    if eval_rows is None:
        rows, eval_rows = stratified_split(rows, data_cfg.eval_fraction, data_cfg.split_seed)
        steps.append({"step": "split", "rows_in": len(rows) + len(eval_rows), "rows_out": len(rows), "examples": []})
    train = _resize(rows, data_cfg)
    report = {
        "name": data_cfg.name, "source": source.label, "format": source.format,
        "rows_read": len(source.rows), "load_rejects": len(source.rejects), "steps": steps,
        "train_rows": len(train), "eval_rows": len(eval_rows), **_checker_use(data_cfg, rows, rejects),
        "contaminated_eval": _contamination(train, eval_rows, data_cfg),
    }
    if not train:
        counts = ", ".join(f"{s['step']} {s['rows_in']}->{s['rows_out']}" for s in steps) or "no steps"
        raise UserError(f"no train rows left after curation of {source.label} ({counts}): "
                        "loosen or disable a step, e.g. data.curation.noise.enabled=false")
    log.info("data=%s: %d train rows, %d eval rows", data_cfg.name, len(train), len(eval_rows))
    return Splits(train=train, eval=eval_rows, report=report, rejects=rejects)
