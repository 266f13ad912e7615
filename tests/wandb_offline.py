"""Read the records of an offline W&B run (`run-<id>.wandb`), for tests.

wandb 0.31 ships no reader. The file is a 7-byte header (`:W&B`, 0xBEE1,
version) followed by 32 KiB blocks in LevelDB log framing: each chunk has a
7-byte header (crc32, little-endian length, type FULL/FIRST/MIDDLE/LAST), a
block's tail shorter than a header is zero padding, and a record split across
blocks is FIRST + MIDDLE* + LAST. Each record is a protobuf
`wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _payloads(data: bytes):
    pos, pending = HEADER, b""  # skip the file header
    while pos + HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < HEADER:  # zero padding up to the next block
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""
        else:  # zero type: the rest of a block written short
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0


def read_records(path: Path):
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    for payload in _payloads(data):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        yield record


def finished_records(path: Path, timeout_s: float = 60.0) -> list:
    """The run's records once W&B has written them all (its `exit` record is there).

    `run.finish()` can return before W&B's service process has flushed the file,
    so a busy machine may show a run file without its records yet.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            records = list(read_records(path))
        except Exception:  # noqa: BLE001 - a record cut off mid-write does not parse yet
            records = []
        if any(record.WhichOneof("record_type") == "exit" for record in records):
            return records
        assert time.monotonic() < deadline, f"{path} has no exit record after {timeout_s:.0f} s"
        time.sleep(0.5)


def run_contents(path: Path) -> dict:
    """history rows, summary, config and run fields of one finished offline run file."""
    history, summary, config, run = [], {}, {}, {}
    for record in finished_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
        elif kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                config[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "run":
            run = {
                "project": record.run.project,
                "group": record.run.run_group,
                "job_type": record.run.job_type,
                "tags": list(record.run.tags),
                "name": record.run.display_name,
            }
            for item in record.run.config.update:
                config[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return {"history": history, "summary": summary, "config": config, "run": run}
