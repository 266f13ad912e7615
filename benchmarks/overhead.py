"""What the project costs on top of TRL: its SFT job against a bare TRL script doing the same training.

Both train the same cached tiny model on the same curated rows for the same
number of steps, evaluate the eval loss once and save the model; the project
also composes its config, builds and curates the data, writes its manifest
and metrics. Checker evaluation and W&B are off in both. Printed:

- wall-time ratio project / bare (target <= 1.15), both tokenising from scratch
  (the project runs on a fresh data cache that shares only the built model);
- seconds from launching the command to the first training step (target <= 10),
  cold (tokenising) and warm (a rerun, whose tokenised data set is cached).

Each figure is the median of a few runs (their values are printed beside it):
a single run moved by several percent on the 2-core machine.

    .venv/bin/python benchmarks/overhead.py [--steps 60] [--repeats 2] [--warm-runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fine_tune.config import compose  # noqa: E402


def write_rows(cfg, folder: Path) -> tuple[Path, Path]:
    """The project's own train/eval rows, as the conversations its SFT stage trains on."""
    from fine_tune.chat import answer_instruction
    from fine_tune.data.pipeline import load_splits
    from fine_tune.stages.sft import to_dataset

    splits = load_splits(cfg.data, show_progress=False)
    response = str(cfg.method.sft_cot.response.value)
    # the stage appends data.answer_instruction to each prompt (GSM8K's asks for "The answer is"):
    # without it the bare script would train shorter rows than the project it is timed against
    instruction = answer_instruction(cfg.data.answer_instruction)
    paths = folder / "train.jsonl", folder / "eval.jsonl"
    to_dataset(splits.train, response, instruction).to_json(str(paths[0]))
    to_dataset(splits.eval, response, instruction).to_json(str(paths[1]))
    return paths


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(launch time, wall seconds, stdout) of one command."""
    started = time.time()
    done = subprocess.run(cmd, check=True, env=env, cwd=REPO, capture_output=True, text=True)
    return started, time.time() - started, done.stdout


def project_run(overrides: list[str], run_dir: Path, cache: Path, env: dict, steps: int) -> tuple[float, float]:
    """(wall seconds, seconds from launch to the first training step) of one project job."""
    # The job must train, not find an earlier run's finished stage: forget the stage registry
    # (a tokenised data set, cached by `datasets`, stays).
    shutil.rmtree(cache / "stages", ignore_errors=True)
    launched, wall, _ = timed([sys.executable, "-m", "fine_tune", *overrides, f"hydra.run.dir={run_dir}"],
                              dict(env, FINE_TUNE_CACHE=str(cache)))
    stage = json.loads((run_dir / "metrics.json").read_text())["stages"]["sft_cot"]
    if stage.get("skipped") or stage.get("resumed_from") or stage["global_steps"] != steps:
        sys.exit(f"overhead: {run_dir.name} did not train {steps} steps itself: {stage}")
    return wall, stage["first_step_at"] - launched


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f} s (runs: {', '.join(f'{v:.2f}' for v in values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    # one run of each moved the ratio by +-7% and the warm start by +-3 s on the 2-core machine: medians
    parser.add_argument("--repeats", type=int, default=2, help="bare and cold project runs (median)")
    parser.add_argument("--warm-runs", type=int, default=3, help="reruns with the tokenised data cached (median)")
    args = parser.parse_args()
    # method=sft_cot said out loud: the default job chains DPO after it, which the bare script does not do
    overrides = ["method=sft_cot", f"method.sft_cot.max_steps={args.steps}", "logger=none", "eval.enabled=false"]
    cfg = compose(overrides)
    from fine_tune.models.load import resolve_source

    model_dir = resolve_source(cfg.model, cfg.cache_dir)  # build once, outside every timing
    env = dict(os.environ, WANDB_MODE="disabled")
    bare, bare_first, cold, cold_first, warm, warm_first = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, held = write_rows(cfg, tmp)
        batch, lr = cfg.model.per_device_train_batch_size, cfg.model.learning_rate
        for repeat in range(args.repeats):  # bare and project in turn: a slow spell of the machine hits both
            # its own datasets cache: load_dataset caches the JSON and the tokenised rows, so a second
            # bare run on the same file would not tokenise, and the bare figure would be a warm one
            launched, wall, out = timed([sys.executable, "benchmarks/bare_trl_sft.py", model_dir, str(train),
                                         str(held), str(args.steps), str(batch), str(lr), str(tmp / f"bare-{repeat}")],
                                        dict(env, HF_DATASETS_CACHE=str(tmp / f"hf-datasets-{repeat}")))
            bare.append(wall)
            bare_first.append(float(out.split("bare first step at ")[1].split()[0]) - launched)
            # A fresh cache holding only the built model: the project tokenises like the bare script.
            cache = tmp / f"cache-{repeat}"
            cache.mkdir()
            (cache / "models").symlink_to(Path(model_dir).parent)
            wall, first = project_run(overrides, tmp / f"cold-{repeat}", cache, env, args.steps)
            cold.append(wall)
            cold_first.append(first)
        for repeat in range(args.warm_runs):  # the last cache holds the tokenised set now
            wall, first = project_run(overrides, tmp / f"warm-{repeat}", cache, env, args.steps)
            warm.append(wall)
            warm_first.append(first)
    ratio = statistics.median(cold) / statistics.median(bare)
    print(f"steps {args.steps}, batch {batch}, model {model_dir}; medians")
    print(f"bare TRL script wall            {spread(bare)}")
    print(f"project job wall                {spread(cold)}")
    print(f"project rerun wall (tokenised)  {spread(warm)}")
    print(f"ratio project / bare            {ratio:8.3f}  (target <= 1.15)")
    print(f"command -> first step, cold     {spread(cold_first)}  (bare TRL script: {statistics.median(bare_first):.2f} s)")
    print(f"command -> first step, warm     {spread(warm_first)}  (target <= 10)")


if __name__ == "__main__":
    main()
