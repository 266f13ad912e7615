"""Read a Hydra sweep folder: one `Job` per sub-folder that has a `.hydra/` snapshot.

A sweep folder is what `fine-tune -m ...` leaves under `multirun/<date>/<time>/`:
`multirun.yaml`, perhaps Optuna's `optimization_results.yaml`, and one folder per
job named `<job num>_<data>_<stages joined by +>`. Everything else is ignored.
Nothing here raises on a broken job: a job without a readable `metrics.json`
is still a `Job`, with `problem` saying why, so the table never drops it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fine_tune.errors import UserError
from fine_tune.run_folder import RunFolder
from fine_tune.tracking import sweep_group

EXPECTED = "a Hydra sweep folder such as multirun/<date>/<time>/, with one sub-folder per job"


@dataclass
class Job:
    """One job of the sweep, as read from its folder.

    `metrics` is None when metrics.json is absent or unreadable; `problem` then
    says which, in the words the table's status column shows.
    """

    folder: Path
    num: int | None
    overrides: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    hydra: dict = field(default_factory=dict)
    metrics: dict | None = None
    problem: str | None = None

    @property
    def label(self) -> str:
        """The job folder's name, e.g. `0_curated_sft_cot+dpo`: what plots use in legends."""
        return self.folder.name


@dataclass
class Sweep:
    """A sweep folder and its jobs, sorted by job number."""

    folder: Path
    jobs: list[Job]

    def config_values(self, *keys: str) -> list[Any]:
        """The distinct non-null values of one config key across jobs, in job order."""
        values = []
        for job in self.jobs:
            value = dig(job.config, *keys)
            if value is not None and value not in values:
                values.append(value)
        return values

    @property
    def study(self) -> str | None:
        return ", ".join(str(v) for v in self.config_values("study")) or None


def dig(data: Any, *keys: str | int) -> Any:
    """`data[k1][k2]...`, or None as soon as a level is missing or not a container.

    metrics.json fields may be absent or null in any job (a crash leaves only
    what finished), so every read goes through here.
    """
    for key in keys:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def load_sweep(folder: Path) -> Sweep:
    """Read every job folder of the sweep at `folder`.

    Args:
        folder: the sweep folder, e.g. `multirun/2026-11-26/10-00-00`.

    Returns:
        The sweep, its jobs sorted by job number (jobs without one last, by name).

    Raises:
        UserError: `folder` is not a folder, or has no job sub-folders.
    """
    if not folder.exists():
        raise UserError(f"{folder}: no such folder; expected {EXPECTED}")
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder; expected {EXPECTED}")
    job_dirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / ".hydra").is_dir()]
    if not job_dirs:
        hint = " (it is a single run's folder: compare its sweep folder instead)" if (folder / ".hydra").is_dir() else ""
        raise UserError(f"{folder}: no job folders (sub-folders with .hydra/) in it{hint}; expected {EXPECTED}")
    jobs = [load_job(p) for p in job_dirs]
    jobs.sort(key=lambda j: (j.num is None, j.num if j.num is not None else 0, j.label))
    return Sweep(folder=folder, jobs=jobs)


def load_job(folder: Path) -> Job:
    """Read one job folder: its `.hydra/` snapshot and its metrics.json, whatever state they are in."""
    run = RunFolder(folder)
    hydra = _read_yaml(run.config.with_name("hydra.yaml"))
    overrides = _read_yaml(run.config.with_name("overrides.yaml"))
    metrics, problem = _read_metrics(run.metrics)
    return Job(
        folder=folder,
        num=_job_num(folder.name, hydra),
        overrides=[str(o) for o in overrides] if isinstance(overrides, list) else [],
        config=_as_dict(_read_yaml(run.config)),
        hydra=_as_dict(hydra.get("hydra") if isinstance(hydra, dict) else None),
        metrics=metrics,
        problem=problem,
    )


def _read_metrics(path: Path) -> tuple[dict | None, str | None]:
    if not path.is_file():
        return None, "no metrics.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError covers JSONDecodeError and bad UTF-8
        return None, f"unreadable metrics.json: {err}"
    if not isinstance(data, dict):
        return None, f"unreadable metrics.json: a JSON {type(data).__name__}, not an object"
    return data, None


def _read_yaml(path: Path) -> Any:
    """The parsed file, or None when it is missing or broken: the job is still listed."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _job_num(name: str, hydra: Any) -> int | None:
    # The folder name leads with the job number (hydra.sweep.subdir); hydra.yaml
    # holds it too, for sweeps that set their own subdir pattern.
    found = re.match(r"(\d+)(?:_|$)", name)
    if found:
        return int(found.group(1))
    num = dig(hydra, "hydra", "job", "num")
    return num if isinstance(num, int) and not isinstance(num, bool) else None


def wandb_group(sweep: Sweep) -> str:
    """The W&B group the jobs logged under, so the compare run lands beside them.

    Newer jobs record it in metrics.json (`wandb_group`). Otherwise we redo what
    they compute, `tracking.sweep_group(hydra.sweep.dir)`: hydra.yaml
    keeps `sweep.dir` unresolved (`multirun/${now:%Y-%m-%d}/...`), so when it is
    an interpolation we rebuild it from what is resolved, the job's output_dir,
    which is `<cwd>/<sweep.dir>/<subdir>`.

    Args:
        sweep: the loaded sweep.

    Returns:
        The group name, e.g. `multirun_2026-11-26_10-00-00`.
    """
    for job in sweep.jobs:
        recorded = dig(job.metrics, "wandb_group")
        if isinstance(recorded, str) and recorded:
            return recorded
    for job in sweep.jobs:
        sweep_dir = dig(job.hydra, "sweep", "dir")
        if isinstance(sweep_dir, str) and sweep_dir and "${" not in sweep_dir:
            return sweep_group(sweep_dir)
        output_dir, cwd = dig(job.hydra, "runtime", "output_dir"), dig(job.hydra, "runtime", "cwd")
        if isinstance(output_dir, str) and output_dir:
            return sweep_group(_relative_to(Path(output_dir).parent, cwd))
    return sweep_group(_relative_to(sweep.folder.resolve(), str(Path.cwd())))


def _relative_to(path: Path, cwd: Any) -> Path:
    """`path` relative to `cwd` when it lies under it (Hydra's relative sweep.dir), else as is."""
    if isinstance(cwd, str) and cwd:
        try:
            return path.relative_to(cwd)
        except ValueError:
            pass
    return path
