"""Where a faster seeded study could come from: the same SFT stage under each way of using 2 cores.

The seeded study (benchmarks/sweep.py --study seeded_study) is training-bound: two joblib workers,
one thread each. This times the study's commonest stage (sft_cot on curated data, the tiny model)
for the same steps in each arrangement, on the machine as it is, and prints tokens/s per job and
for the whole machine:

    one job, 1 thread          what each joblib worker gets now
    two jobs at once, 1 each   the study's arrangement: the machine's throughput is the sum
    one job, 2 threads         the jobs one after the other, each with both cores
    ... padding-free           TRL's padding_free=True (no pad tokens in a batch; transformers keeps
                               the rows apart by their position ids); its first-step
                               loss is printed beside the padded one's: the same rows must give
                               the same loss, or the batching changed the sums, not only the speed
    ... bf16 autocast          bf16=True: transformers trains under torch's CPU autocast (bfloat16
                               matmuls, float32 weights and optimizer); the CPU needs bfloat16
                               instructions (avx512_bf16 or AMX) to gain; the last logged loss
                               is printed beside float32's: the same rows, so a gap is the precision

    .venv/bin/python benchmarks/study_speed.py [--steps 120] [--only bf16 --out study_speed_bf16.json]

Saves benchmarks/results/study_speed.json (or --out). Run it on a quiet machine: another process on
the cores moves every figure. --only keeps the variants whose name holds one of its words, and the
study's own arrangement, which every ratio is against.
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


def launch(overrides: list[str], run_dir: Path, cache: Path, threads: int) -> subprocess.Popen:
    env = dict(os.environ, FINE_TUNE_CACHE=str(cache), OMP_NUM_THREADS=str(threads), WANDB_MODE="disabled")
    return subprocess.Popen([sys.executable, "-m", "fine_tune", *overrides, f"hydra.run.dir={run_dir}"], env=env,
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stage_figures(run_dir: Path, steps: int) -> dict:
    stage = json.loads((run_dir / "metrics.json").read_text())["stages"]["sft_cot"]
    if stage["global_steps"] != steps or stage.get("resumed_from"):
        sys.exit(f"study_speed: {run_dir.name} did not train {steps} steps itself")
    return {"tokens": stage["train_tokens"], "train_s": stage["runtime_s"],
            "tokens_per_s": stage["train_tokens"] / stage["runtime_s"], "first_loss": stage["first_train_loss"],
            "last_loss": stage["final_train_loss"]}


def variant(name: str, jobs: int, threads: int, extra: list[str], steps: int, work: Path, cache: Path) -> dict:
    """`jobs` runs of the stage started together, each with `threads` threads; job k trains seed k + 1,
    so two at once are two stages (one seed would make the second wait for the first and reuse it)."""
    shutil.rmtree(cache / "stages", ignore_errors=True)  # train, do not reuse an earlier variant's stage
    runs = []
    started = time.perf_counter()
    for job in range(jobs):
        overrides = ["method=sft_cot", f"method.sft_cot.max_steps={steps}", "eval.enabled=false", "logger=none",
                     f"seed={job + 1}", *extra]
        runs.append((work / f"{name}-{job}", launch(overrides, work / f"{name}-{job}", cache, threads)))
    for run_dir, process in runs:
        if process.wait() != 0:
            sys.exit(f"study_speed: {name} failed: {process.stderr.read()[-2000:]}")
    wall = time.perf_counter() - started
    figures = [stage_figures(run_dir, steps) for run_dir, _ in runs]
    machine = sum(f["tokens"] for f in figures) / max(f["train_s"] for f in figures)
    return {"jobs": jobs, "threads": threads, "extra": extra, "wall_s": wall, "per_job": figures,
            "machine_tokens_per_s": machine}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--only", nargs="*", default=None, help="variants whose name holds one of these words")
    parser.add_argument("--out", default="study_speed.json", help="file name under benchmarks/results/")
    args = parser.parse_args()
    # TRL refuses padding_free with a max_length it cannot enforce without packing: the tiny model's rows
    # are far under method.sft_cot.max_length (512), so none is cut either way
    free = ["+method.sft_cot.trl_args.padding_free=true", "+method.sft_cot.trl_args.max_length=null"]
    bf16 = ["+method.sft_cot.trl_args.bf16=true"]
    plan = [("one job, 1 thread", 1, 1, []), ("two jobs at once, 1 thread each", 2, 1, []),
            ("one job, 2 threads", 1, 2, []), ("one job, 1 thread, padding-free", 1, 1, free),
            ("two jobs at once, 1 thread each, padding-free", 2, 1, free),
            ("one job, 2 threads, padding-free", 1, 2, free), ("one job, 1 thread, bf16 autocast", 1, 1, bf16),
            ("two jobs at once, 1 thread each, bf16 autocast", 2, 1, bf16)]
    baseline = "two jobs at once, 1 thread each"
    if args.only:
        plan = [v for v in plan if v[0] == baseline or any(word in v[0] for word in args.only)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        # one cache for every variant, warmed first: the base model and the curated data are built
        # once, so two jobs started together train together instead of one building while one trains
        cache = Path(tmp) / "cache"
        warm = launch(["method=sft_cot", "method.sft_cot.max_steps=1", "eval.enabled=false", "logger=none",
                       "seed=1"], Path(tmp) / "warm", cache, 2)
        if warm.wait() != 0:
            sys.exit(f"study_speed: the warm-up run failed: {warm.stderr.read()[-2000:]}")
        for index, (name, jobs, threads, extra) in enumerate(plan):
            results[name] = variant(f"v{index}", jobs, threads, extra, args.steps, Path(tmp), cache)
            figures = results[name]
            print(f"{name:48s} machine {figures['machine_tokens_per_s']:7.0f} tokens/s; per job "
                  + ", ".join(f"{f['tokens_per_s']:.0f}" for f in figures["per_job"])
                  + f"; first-step loss {figures['per_job'][0]['first_loss']:.4f}, last "
                  + f"{figures['per_job'][0]['last_loss']:.4f}", flush=True)
    now = results[baseline]["machine_tokens_per_s"]
    for name, figures in results.items():
        print(f"{name:48s} {figures['machine_tokens_per_s'] / now:5.2f}x the study's arrangement")
    out = REPO / "benchmarks" / "results" / args.out
    out.write_text(json.dumps({"steps": args.steps, "cores": os.cpu_count(), "variants": results,
                               "finished": time.strftime("%Y-%m-%d %H:%M")}, indent=2) + "\n")


if __name__ == "__main__":
    main()
