"""A study's sweep on this machine: `fine-tune -m experiment=<study>`, then `fine-tune-compare`.

    python benchmarks/sweep.py                                  # method_comparison: 10 jobs, one seed
    python benchmarks/sweep.py --study seeded_study             # the claims over seeds 1-3 (36 jobs)

Runs the sweep on the embedded default (every eval prompt, raw on all its rows) with the
joblib launcher (2 jobs at a time), then `fine-tune-compare` on its folder; prints the wall
time against the study's target (method_comparison 45 min, seeded_study 2 h) and the
comparison with its claims section, and saves comparison.md/.csv, the plots and
wall_time.json (wall time, cores, exit status, the command) to benchmarks/results/<study>/.
It uses a cache of its own, so no stage or job of an earlier sweep is reused: every job
trains. That cache is warmed first by a one-step run (the curated data are built once for
all jobs), so the figure is the sweep's own time; pass --cold to include that.

A stopped study continues with --resume: the cache its first part used (recorded in
wall_time.json, or --cache DIR) holds its finished jobs and stages, so a new sweep folder
gets the finished jobs copied in, not retrained, and a killed stage resumes from its
checkpoint. wall_time.json then lists each part and their sum as the study's wall time.

    python benchmarks/sweep.py [--study NAME] [--sweep-dir multirun/benchmark] [--cold] [overrides...]
    python benchmarks/sweep.py --study seeded_study --sweep-dir multirun/seeded_study_2 --resume [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS_S = {"method_comparison": 45 * 60, "seeded_study": 120 * 60}  # the issues' targets, on 2 cores
SAVED = ("comparison.md", "comparison.csv", "loss_curves.png", "accuracy.png", "winrate.png", "deepeval.png",
         "index.html")


def job_counts(sweep_dir: Path) -> dict:
    """How many job folders the sweep started and how many finished: a stopped sweep says so."""
    started = [p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()] if sweep_dir.is_dir() else []
    finished = 0
    for job in started:
        try:
            finished += json.loads((job / "metrics.json").read_text()).get("status") == "finished"
        except (OSError, ValueError):
            pass
    return {"jobs_started": len(started), "jobs_finished": finished}


def earlier_parts(results: Path, args) -> list[dict]:
    """The parts of a stopped study recorded in its wall_time.json (one part if written before parts)."""
    try:
        recorded = json.loads((results / "wall_time.json").read_text())
    except (OSError, ValueError):
        sys.exit(f"sweep.py: --resume found no wall_time.json of an earlier part in {results}")
    if "parts" in recorded:
        return recorded["parts"]
    keep = ("wall_s", "exit", "jobs_started", "jobs_finished", "finished", "stopped", "code", "cache")
    return [{k: recorded[k] for k in keep if k in recorded}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="method_comparison", help="an experiment preset that sweeps (-m)")
    parser.add_argument("--sweep-dir", type=Path, default=REPO / "multirun" / "benchmark" / time.strftime("%H-%M-%S"))
    parser.add_argument("--cold", action="store_true", help="start from an empty cache (builds included)")
    parser.add_argument("--resume", action="store_true", help="continue a stopped study in --sweep-dir")
    parser.add_argument("--cache", type=Path, help="with --resume: the cache of the earlier part")
    parser.add_argument("overrides", nargs="*", help="extra overrides for the sweep, e.g. logger=none")
    args = parser.parse_args()
    results = REPO / "benchmarks" / "results" / args.study
    earlier = earlier_parts(results, args) if args.resume else []
    cache = args.cache or (Path(earlier[-1]["cache"]) if earlier and "cache" in earlier[-1] else None)
    if args.resume and (cache is None or not cache.is_dir()):
        sys.exit(f"sweep.py: --resume needs the earlier part's cache (--cache DIR); {cache} is not a folder")
    cache = cache or Path(tempfile.mkdtemp(prefix="fine-tune-bench-"))
    env = dict(os.environ, PYTHONPATH=str(REPO), FINE_TUNE_CACHE=str(cache))
    command = [sys.executable, "-m", "fine_tune", "-m", f"experiment={args.study}",
               f"hydra.sweep.dir={args.sweep_dir}", *args.overrides]
    if not args.cold:  # the embedded data and tiny model builds are shared by every job
        subprocess.run([sys.executable, "-m", "fine_tune", "experiment=method_comparison", "data=curated",
                        "method=sft", "debug.max_steps=1", "eval.enabled=false", "logger=none",
                        f"hydra.run.dir={tempfile.mkdtemp(prefix='warm-')}"], env=env, check=True,
                       capture_output=True)
    started = time.perf_counter()
    sweep = subprocess.run(command, env=env, cwd=REPO)
    wall = time.perf_counter() - started
    subprocess.run([sys.executable, "-m", "fine_tune.compare", str(args.sweep_dir)], env=env, check=False)
    results.mkdir(parents=True, exist_ok=True)
    for name in SAVED:
        if (args.sweep_dir / name).is_file():
            shutil.copy2(args.sweep_dir / name, results / name)
    target = TARGETS_S.get(args.study)
    counts = job_counts(args.sweep_dir)
    if sweep.returncode != 0:  # stopped or failed: its wall time is not the whole study's
        verdict = f"not comparable: the sweep exited {sweep.returncode} after {counts['jobs_finished']} finished jobs"
    else:
        verdict = "no target" if target is None else "met" if wall <= target else "MISSED"
    part = {"wall_s": round(wall, 1), "exit": sweep.returncode, **counts, "cache": str(cache),
            "finished": time.strftime("%Y-%m-%d %H:%M")}
    wall = sum(p["wall_s"] for p in earlier) + wall  # a resumed study's time is all its parts'
    if sweep.returncode == 0 and target is not None:
        verdict = "met" if wall <= target else "MISSED"
    (results / "wall_time.json").write_text(json.dumps({
        "study": args.study, "wall_s": round(wall, 1), "cores": os.cpu_count(), "target_s": target,
        "exit": sweep.returncode, "verdict": verdict, **counts, "command": " ".join(command[2:]),
        "finished": part["finished"], "parts": [*earlier, part],
    }, indent=2) + "\n")
    print(f"\n{args.study} sweep: {wall / 60:.1f} min wall on {os.cpu_count()} cores "
          f"(target <= {(target or 0) // 60} min: {verdict}); exit {sweep.returncode}; folder {args.sweep_dir}")


if __name__ == "__main__":
    main()
