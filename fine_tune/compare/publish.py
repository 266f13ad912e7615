"""Log the comparison to W&B as one more run of the sweep's group, job_type "compare".

The jobs log one run per stage under group = the sweep folder, so in the W&B
UI the comparison sits beside the runs it compares. `--wandb auto` logs only
when the jobs themselves were online (or WANDB_MODE=online): a sweep run
offline on a laptop should not start talking to a server at compare time.
Offline mode writes under `<sweep>/wandb/`; `wandb sync` uploads later.
wandb is imported only here, and only when used: it is slow to import.
"""

from __future__ import annotations

import os
from pathlib import Path

from fine_tune.compare.collect import Sweep, wandb_group
from fine_tune.compare.table import RAW_FIELDS
from fine_tune.tracking import open_wandb_run

MODES = ("auto", "online", "offline", "disabled")


def resolve_mode(flag: str, sweep: Sweep) -> str | None:
    """The W&B mode to log in, or None to skip W&B.

    Args:
        flag: the `--wandb` value, one of MODES.
        sweep: the loaded sweep; its jobs' `logger` config decides `auto`.

    Returns:
        "online", "offline", or None.
    """
    if flag in ("online", "offline"):
        return flag
    if flag == "disabled":
        return None
    if "wandb" not in sweep.config_values("logger", "name"):
        return None  # logger=none jobs logged nowhere: nothing to sit beside
    online = "online" in sweep.config_values("logger", "mode") or os.environ.get("WANDB_MODE") == "online"
    return "online" if online else None


def log_comparison(sweep: Sweep, mode: str, rows: list[dict], images: dict[str, Path]) -> str:
    """Open a run of job_type "compare" in the sweep's group; log the table and the plots.

    Args:
        sweep: the loaded sweep (project, entity and group come from its jobs).
        mode: "online" or "offline".
        rows: raw rows (`table.raw_row`): W&B keeps numbers sortable.
        images: plot name -> PNG path.

    Returns:
        Where the run went: its URL online, its folder offline.
    """
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    group = wandb_group(sweep)
    kwargs = dict(
        project=str((sweep.config_values("logger", "project") or ["fine-tune"])[0]),
        entity=(sweep.config_values("logger", "entity") or [None])[0],
        group=group,
        job_type="compare",
        name=f"{group}/compare",
        tags=["compare"] + ([f"study:{sweep.study}"] if sweep.study else []),
        config={"sweep_dir": str(sweep.folder), "jobs": len(sweep.jobs), "study": sweep.study},
        dir=str(sweep.folder),
        reinit="finish_previous",
    )
    run = open_wandb_run(mode, **kwargs)  # as the jobs do: an unreachable server falls back to offline
    table = wandb.Table(columns=RAW_FIELDS, data=[[r[k] for k in RAW_FIELDS] for r in rows])
    run.log({"comparison": table, **{Path(n).stem: wandb.Image(str(p)) for n, p in images.items()}})
    where = run.url if mode == "online" and run.url else Path(run.dir).parent  # run.dir is its files/
    run.finish()
    return str(where)
