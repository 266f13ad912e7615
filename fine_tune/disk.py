"""A full disk: one line that names the folder and the space needed, and nothing written before lost.

Result files are written atomically (fine_tune.outputs), adapters through a staging
folder, and a checkpoint counts only once complete (fine_tune.stages.chain.last_checkpoint),
so a write that runs out of space leaves the previous state: rerun the same command after
freeing space and finished stages are reused, an interrupted one resumes from its last
complete checkpoint. A stage also checks the space it will need before it trains, so a
disk that is already too full costs seconds, not a stage.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

from fine_tune.errors import UserError, is_no_space, no_space_line


def human(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds `folder` (or its nearest existing parent)."""
    folder = Path(folder).resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def no_space_message(folder: Path, what: str, needed: int | None = None) -> str:
    try:
        free = f"{human(free_bytes(folder))} free"
    except OSError:
        free = "free space unknown"
    need = f", about {human(needed)} needed" if needed else ""
    return no_space_line(f" of {folder} while writing {what} ({free}{need})")


@contextmanager
def writing(folder: Path, what: str, needed: int | None = None):
    """Turn the OS's "no space left" raised inside the block into one line naming `folder` and `what`."""
    try:
        yield
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - only a full disk is turned into a user error; the rest re-raise
        if not is_no_space(err):
            raise
        raise UserError(no_space_message(folder, what, needed)) from err


def check_space(folder: Path, needed: int, what: str) -> None:
    """Refuse to start work whose output cannot fit on the disk of `folder`."""
    free = free_bytes(folder)
    if free < needed:
        raise UserError(f"{folder} has {human(free)} free, but {what} needs about {human(needed)}: free some "
                        "space, or set hydra.run.dir (and cache_dir) to a folder on a larger disk")


def stage_bytes(model) -> int:
    """What a training stage writes at most: a checkpoint (weights and the optimizer's two moments of the
    trained ones, fp32) beside the previous one, and the saved adapter or model."""
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    trained = sum(p.numel() for p in params if p.requires_grad)
    return 2 * (weights + 2 * 4 * trained) + weights
