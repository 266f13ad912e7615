"""The same job on the same machine gives the same numbers: a smoke job run twice, metrics compared exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

# what depends on the clock or the machine's load, not on the run
TIMINGS = {"runtime_s", "tokens_per_s", "peak_memory_mb", "first_step_at", "wall_time_s", "seconds",
           "generation_s", "judge_s"}
PLACES = {"resumed_from", "reused_from", "wandb_group", "wandb_run_id"}


def numbers(value, path=""):
    """Every number and string in metrics.json by its dotted path, timings and folder names left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in TIMINGS and key not in PLACES and not key.endswith("_s"):
                yield from numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers(item, f"{path}[{index}]")
    else:
        yield path, value


def test_one_job_run_twice_from_scratch_gives_identical_metrics(tmp_path):
    runs = []
    for attempt in ("a", "b"):
        env = dict(os.environ, FINE_TUNE_CACHE=str(tmp_path / f"cache-{attempt}"), PYTHONPATH=str(REPO))
        env.pop("HYDRA_FULL_ERROR", None)
        run_dir = tmp_path / attempt
        done = subprocess.run([sys.executable, "-m", "fine_tune", "debug=smoke", "logger=none", "data=raw",
                               "method=[sft_cot,dpo]", f"hydra.run.dir={run_dir}"],
                              env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(dict(numbers(json.loads((run_dir / "metrics.json").read_text()))))
    first, second = runs
    assert len(first) > 100  # losses, tokens, accuracies, WinRate, DeepEval: not an empty comparison
    assert {path: (first[path], second.get(path)) for path in first if first[path] != second.get(path)} == {}
    assert (tmp_path / "a" / "manifest.json").read_text().count('"threads"') == 1
