"""Whether a run is running, or was killed: its process leaves a heartbeat in the run folder.

metrics.json says `finished`, `failed` or `unstable` once the run gets to say so; a run
that has just started has no metrics.json yet, and a killed one never changes its
`running`. So while a run works, `process.json` in its folder names the host and process
and its modification time is refreshed every HEARTBEAT_S seconds; the run writes `ended`
into it on the way out, whatever the outcome. A reader (fine-tune-compare) calls a run
running only while its process is alive (same host) and its heartbeat fresh (any host,
e.g. a Slurm node), and killed otherwise. Standard library only: the compare command
must not pay for torch.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from fine_tune.outputs import write_json_atomic

PROCESS = "process.json"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 3 * HEARTBEAT_S  # a missed beat or two is a busy machine, not a dead run


@contextmanager
def heartbeat(run_dir: Path, interval: float = HEARTBEAT_S):
    """Mark `run_dir` as worked on by this process for the block (see the module docstring)."""

    path = Path(run_dir) / PROCESS
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    write_json_atomic(path, record)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                os.utime(path)
            except OSError:  # the folder was moved or deleted: nothing to keep fresh
                return

    thread = threading.Thread(target=beat, name="run-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        write_json_atomic(path, {**record, "ended": time.time()})


def live_status(run_dir: Path, metrics: dict | None) -> tuple[str, str | None] | None:
    """("running" | "killed" | "failed", why) for a run whose metrics.json is absent or says running (or
    interrupted, while a requeued attempt runs); else None."""
    recorded = metrics.get("status") if metrics is not None else None
    if recorded not in (None, "running", "interrupted"):
        return None
    path = Path(run_dir) / PROCESS
    try:
        record = json.loads(path.read_text())
        beat = path.stat().st_mtime
    except (OSError, ValueError):
        return None  # no record of a process: the caller's own words (e.g. "no metrics.json")
    if "ended" in record:
        if recorded == "interrupted":
            return None  # its own words (requeued by Slurm, stopped by the user) say more
        return "failed", "its process ended without recording a result"
    age = time.time() - beat
    gone = record.get("host") == socket.gethostname() and not _alive(record.get("pid"))
    if (gone or age > STALE_AFTER_S) and recorded == "interrupted":
        return None
    if gone:
        return "killed", f"process {record.get('pid')} is gone"
    if age > STALE_AFTER_S:
        return "killed", f"no heartbeat for {age / 60:.0f} min from {record.get('host')}"
    return "running", f"on {record.get('host')}, pid {record.get('pid')}"


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True
