"""What a run leaves in its folder: metrics.json and manifest.json, each written atomically.

A reader (the compare command, a rerun) never sees a half-written file: data
goes to a temporary file in the same folder, is flushed, then renamed over
the target, which POSIX makes atomic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from fine_tune.disk import writing

TRACKED_PACKAGES = (
    "torch", "transformers", "tokenizers", "datasets", "accelerate", "peft", "trl",
    "hydra-core", "omegaconf", "wandb", "deepeval", "datasketch", "unsloth",
)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` so that readers see the old file or the new one, never half."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8) atomically: see write_bytes_atomic."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it, then rename it over `path`."""

    with writing(path.parent, path.name, len(data)):  # a full disk: one line, and the old file stays
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it private; results are meant to be shared
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@contextmanager
def file_lock(path: Path, waiting: str | None = None):
    """Hold an exclusive lock on `path` (created if needed) for the `with` block (the `filelock` package).

    The OS releases it when the process dies, so a killed holder never blocks the next one.
    `waiting` is logged when another process holds the lock and this one has to wait.
    """
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if waiting:
            logging.getLogger(__name__).info(waiting)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def write_folder_atomic(target: Path, write: Callable[[Path], None]) -> None:
    """Have `write` fill a staging folder beside `target`, then swap it in for `target`.

    A killed write leaves only the staging folder, never a half-filled `target`; a
    failed one (an exception) leaves neither.
    """
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)


def link_tree(source: Path, target: Path) -> None:
    """`source`'s files at `target` as hard links (copies across disks): the same bytes, stored once, and
    each folder stands alone: deleting either never breaks the other. Files are never edited in place
    (every writer replaces them), so sharing them is safe."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:  # another disk, or a file system without hard links
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link, dirs_exist_ok=True)


def content_key(content, length: int = 16) -> str:
    """The key of every cache: sha256 of `content` as canonical JSON (sorted keys; anything else as str),
    `length` hex characters. 16 (64 bits) keeps collisions out of reach for any cache's size."""
    blob = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def fingerprint(rows: list[dict]) -> str:
    """A content hash of data rows: the same rows in the same order give the same value."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def git_sha(repo: Path) -> str:
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def scheduler() -> dict | None:
    """The Slurm job this run is, when it is one (a sweep through hydra/launcher=slurm): its ids, node
    and how often it was requeued (preempted or timed out, then resumed)."""
    env = os.environ
    if "SLURM_JOB_ID" not in env:
        return None
    keys = {"job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID", "array_task_id": "SLURM_ARRAY_TASK_ID",
            "node": "SLURMD_NODENAME", "partition": "SLURM_JOB_PARTITION", "restart_count": "SLURM_RESTART_COUNT"}
    return {"name": "slurm", **{key: env.get(var) for key, var in keys.items()}}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def build_manifest(seed: int, data_fingerprints: dict[str, str], backend: str, model_source: str) -> dict:
    return {
        "git_sha": git_sha(Path(__file__).resolve().parent.parent),
        "command": " ".join(sys.argv),
        "packages": package_versions(),
        "data_fingerprint": data_fingerprints,
        "seed": seed,
        "device": device_description(),
        # CPU results depend on it (the order of float sums): a joblib sweep of n jobs gives each
        # cores/n threads, so a job there differs from the same job run alone; the same count reproduces
        "threads": _threads(),
        "scheduler": scheduler(),
        "backend": backend,
        "base_model": model_source,
    }
