"""The same sweep on joblib and on a real one-node Slurm cluster (scripts/slurm_local.sh): wall times.

    python benchmarks/slurm_vs_joblib.py                      # 4 smoke jobs, 2 at a time on each
    python benchmarks/slurm_vs_joblib.py --steps 200 --sweep method=sft,sft_cot data=raw,curated

Each launcher gets its own fresh cache (no stage of one is reused by the other) and runs 2 jobs at
a time (joblib n_jobs=2, Slurm array_parallelism=2 with one CPU per job). Prints both wall times
and Slurm's overhead as a ratio; writes benchmarks/results/slurm/<date>-steps<N>.json. Needs root (the
cluster's daemons) or a running cluster named by SLURM_CONF.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "slurm_local.sh"
LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "slurm": ["hydra/launcher=slurm_local", "hydra.launcher.array_parallelism=2"],
}


def sweep(launcher: str, work: Path, env: dict, steps: int, grid: list[str]) -> float:
    folder = work / launcher
    env = dict(env, FINE_TUNE_CACHE=str(work / f"cache-{launcher}"))
    command = [sys.executable, "-m", "fine_tune", "-m", "debug=smoke", "logger=none", f"debug.max_steps={steps}",
               f"hydra.sweep.dir={folder}", *grid, *LAUNCHERS[launcher]]
    started = time.time()
    done = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True)
    wall = time.time() - started
    if done.returncode != 0:
        sys.exit(f"{launcher} sweep failed:\n{done.stderr[-3000:]}")
    statuses = [json.loads((job / "metrics.json").read_text())["status"] for job in sorted(folder.iterdir())
                if (job / ".hydra").is_dir()]
    if not statuses or set(statuses) != {"finished"}:
        sys.exit(f"{launcher} sweep: job statuses {statuses}")
    print(f"{launcher:>6}: {len(statuses)} jobs in {wall:.1f} s")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps per job (debug.max_steps)")
    parser.add_argument("--sweep", nargs="+", default=["method=sft,sft_cot", "data=raw,curated"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slurm-bench-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        started_here = "SLURM_CONF" not in env
        if started_here:
            out = subprocess.run(["bash", str(SCRIPT), "start", str(work / "cluster")], capture_output=True,
                                 text=True, check=True).stdout
            env["SLURM_CONF"] = out.strip().split("=", 1)[1]
        try:
            walls = {name: sweep(name, work, env, args.steps, args.sweep) for name in LAUNCHERS}
        finally:
            if started_here:
                subprocess.run(["bash", str(SCRIPT), "stop", str(work / "cluster")], check=True)
    ratio = walls["slurm"] / walls["joblib"]
    print(f"Slurm / joblib wall time: {ratio:.2f}x ({walls['slurm'] - walls['joblib']:+.1f} s)")
    results = REPO / "benchmarks" / "results" / "slurm"
    results.mkdir(parents=True, exist_ok=True)
    record = {"sweep": args.sweep, "steps": args.steps, "wall_s": walls, "ratio": ratio, "cpus": os.cpu_count()}
    (results / f"{time.strftime('%Y-%m-%d')}-steps{args.steps}.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
