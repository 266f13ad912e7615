"""How long a config mistake takes to answer: the installed `fine-tune` command, a fresh process each time.

Each case is a mistake of the table in tests/test_bad_input.py (an unknown option, key, type
or range, a repeated stage, LoRA under full fine-tuning), run as a user runs it:
`.venv/bin/fine-tune <override>` in a new process, so the interpreter's start and every
import count. Prints each case's wall time and the median (target: under 3 s on 2 cores,
before torch, transformers or TRL load), and checks each ended in one error line.

    .venv/bin/python benchmarks/time_to_error.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMAND = Path(sys.executable).parent / "fine-tune"

MISTAKES = [
    ["method=sftt"],
    ["data=curatd"],
    ["debug=smok"],
    ["experiment=sft_cot_curatd"],
    ["method=sft", "method.sft.lrr=1"],
    ["seed=abc"],
    ["method=[sft,sft]"],
    ["data.max_samples=-5"],
    ["method.dpo.beta=0"],
    ["model.finetune=full", "method.sft_cot.lora.r=8"],
]


def one(args: list[str], run_dir: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([str(COMMAND), *args, f"hydra.run.dir={run_dir}"], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    elapsed = time.perf_counter() - start
    errors = [line for line in result.stderr.splitlines() if line.startswith("fine-tune: error:")]
    if result.returncode != 2 or len(errors) != 1 or "Traceback" in result.stderr:
        sys.exit(f"{' '.join(args)}: expected one error line and status 2, got {result.returncode}:\n"
                 f"{result.stderr[-1500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case; its median counts")
    args = parser.parse_args()
    medians = []
    with tempfile.TemporaryDirectory() as run_dir:
        for mistake in MISTAKES:
            times = [one(mistake, run_dir) for _ in range(args.repeat)]
            medians.append(statistics.median(times))
            print(f"{' '.join(mistake):<45} {medians[-1]:5.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"median time to the error over {len(MISTAKES)} config mistakes: {statistics.median(medians):.2f} s "
          f"(slowest {max(medians):.2f} s; target < 3 s)")


if __name__ == "__main__":
    main()
