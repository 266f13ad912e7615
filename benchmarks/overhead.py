"""What the project costs on top of TRL: its SFT job against a bare TRL script doing the same training.

Both train the same cached tiny model on the same curated rows for the same
number of steps, evaluate the eval loss once and save the model; the project
also composes its config, builds and curates the data, writes its manifest
and metrics. Checker evaluation and W&B are off in both. Printed:

- wall-time ratio project / bare (target <= 1.15), both tokenising from scratch
  (the project runs on a fresh data cache that shares only the built model);
- seconds from launching the command to the first training step (target <= 10),
  cold (tokenising) and warm (a rerun, whose tokenised data set is cached).

    .venv/bin/python benchmarks/overhead.py [--steps 60]
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
sys.path.insert(0, str(REPO))


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from fine_tune.cli import conf_dir
    from fine_tune.config import register_configs

    register_configs()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return hydra_compose("config", overrides=overrides)


def write_rows(cfg, folder: Path) -> tuple[Path, Path]:
    """The project's own train/eval rows, as the conversations its SFT stage trains on."""
    from fine_tune.data.pipeline import load_splits
    from fine_tune.stages.sft import to_dataset

    splits = load_splits(cfg.data, show_progress=False)
    response = str(cfg.method.sft_cot.response.value)
    paths = folder / "train.jsonl", folder / "eval.jsonl"
    to_dataset(splits.train, response).to_json(str(paths[0]))
    to_dataset(splits.eval, response).to_json(str(paths[1]))
    return paths


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(launch time, wall seconds, stdout) of one command."""
    started = time.time()
    done = subprocess.run(cmd, check=True, env=env, cwd=REPO, capture_output=True, text=True)
    return started, time.time() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    overrides = [f"method.sft_cot.max_steps={args.steps}", "logger=none", "eval.enabled=false"]
    cfg = compose(overrides)
    from fine_tune.models.load import resolve_source

    model_dir = resolve_source(cfg.model, cfg.cache_dir)  # build once, outside both timings
    env = dict(os.environ, WANDB_MODE="disabled")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, held = write_rows(cfg, tmp)
        batch, lr = cfg.model.per_device_train_batch_size, cfg.model.learning_rate
        bare_launched, bare, out = timed([sys.executable, "benchmarks/bare_trl_sft.py", model_dir, str(train),
                                          str(held), str(args.steps), str(batch), str(lr), str(tmp / "bare")], env)
        bare_first = float(out.split("bare first step at ")[1].split()[0]) - bare_launched
        # A fresh cache holding only the built model: the project tokenises like the bare script.
        (tmp / "cache").mkdir()
        (tmp / "cache" / "models").symlink_to(Path(model_dir).parent)
        env["FINE_TUNE_CACHE"] = str(tmp / "cache")
        firsts, walls = [], []
        for attempt in ("cold", "warm"):
            run_dir = tmp / f"run-{attempt}"
            launched, wall, _ = timed([sys.executable, "-m", "fine_tune", *overrides, f"hydra.run.dir={run_dir}"], env)
            metrics = json.loads((run_dir / "metrics.json").read_text())
            firsts.append(metrics["stages"]["sft_cot"]["first_step_at"] - launched)
            walls.append(wall)
    project = walls[0]
    print(f"steps {args.steps}, batch {batch}, model {model_dir}")
    print(f"bare TRL script wall   {bare:8.2f} s")
    print(f"project job wall       {project:8.2f} s  (rerun, tokenised data cached: {walls[1]:.2f} s)")
    print(f"ratio project / bare   {project / bare:8.3f}  (target <= 1.15)")
    print(f"command -> first step  {firsts[0]:8.2f} s cold, {firsts[1]:.2f} s warm  (target <= 10; "
          f"bare TRL script: {bare_first:.2f} s)")


if __name__ == "__main__":
    main()
