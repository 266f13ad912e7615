"""The reference study's comparison on this machine: `fine-tune -m experiment=method_comparison`.

Runs the 10-job sweep on the embedded default (every eval prompt, raw on all its rows)
with the joblib launcher (2 jobs at a time), then `fine-tune-compare` on its folder;
prints the wall time against the 45-minute target and the comparison with its claims
section, and copies comparison.md/.csv and the plots to benchmarks/results/method_comparison/.
It uses a cache of its own, so no stage or job of an earlier sweep is reused: every job
trains. That cache is warmed first by a one-step run (the curated data are built once for
all jobs), so the figure is the sweep's own time; pass --cold to include that.

    python benchmarks/sweep.py [--sweep-dir multirun/benchmark] [--cold]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 45 * 60
RESULTS = REPO / "benchmarks" / "results" / "method_comparison"
SAVED = ("comparison.md", "comparison.csv", "loss_curves.png", "accuracy.png", "winrate.png", "deepeval.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-dir", type=Path, default=REPO / "multirun" / "benchmark" / time.strftime("%H-%M-%S"))
    parser.add_argument("--cold", action="store_true", help="start from an empty cache (builds included)")
    parser.add_argument("overrides", nargs="*", help="extra overrides for the sweep, e.g. logger=none")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO), FINE_TUNE_CACHE=tempfile.mkdtemp(prefix="fine-tune-bench-"))
    command = [sys.executable, "-m", "fine_tune", "-m", "experiment=method_comparison",
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in SAVED:
        if (args.sweep_dir / name).is_file():
            shutil.copy2(args.sweep_dir / name, RESULTS / name)
    verdict = "met" if wall <= TARGET_S else "MISSED"
    print(f"\nmethod_comparison sweep: {wall / 60:.1f} min wall on {os.cpu_count()} cores "
          f"(target <= {TARGET_S // 60} min: {verdict}); exit {sweep.returncode}; folder {args.sweep_dir}")


if __name__ == "__main__":
    main()
