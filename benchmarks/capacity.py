"""The curve behind the embedded base: size x pre-training tokens -> accuracy after the default fine-tune.

For each model size (a `model.tiny` shape; tokenizer, corpus and optimiser as in
conf/model/tiny.yaml), one pre-training run saves snapshots after a quarter, a half and
all of its steps. Each snapshot then gets the default fine-tune, exactly what `make run`
does (`fine-tune` on curated data, `method=[sft_cot,dpo]`, the tiny preset's budget), and
is scored on every eval prompt. Printed and saved for each point: parameters, tokens seen,
pre-training time, the base model's and the tuned model's checker accuracy (with the
Wilson interval), the skills under twice their constant-answer floor, and the fine-tune's
own wall time (what a bigger base costs every `make run`).

The quarter and half points are snapshots of the same cosine run, taken before its
learning rate has decayed: a lower bound of what a run of that length would reach. The
last point of each size is a finished run. Results are appended as they come to
benchmarks/results/capacity/curve.json, so a killed benchmark continues where it stopped.

    python benchmarks/capacity.py                         # S, M, L at 2,000 steps (hours on 2 cores)
    python benchmarks/capacity.py --sizes M --steps 400   # one size, a shorter run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "capacity"

SIZES = {
    "S": dict(hidden_size=192, num_hidden_layers=3, intermediate_size=512, num_attention_heads=4, num_key_value_heads=2),
    "M": dict(hidden_size=256, num_hidden_layers=4, intermediate_size=768, num_attention_heads=4, num_key_value_heads=2),
    # the largest that ships under 25 MB in float32 (~5.7M parameters)
    "L": dict(hidden_size=320, num_hidden_layers=5, intermediate_size=864, num_attention_heads=5, num_key_value_heads=1),
}


def pretrain(size: str, steps: int, work: Path, cache: str) -> tuple[dict[int, Path], dict]:
    """Pre-train one size for `steps`, with snapshots at 1/4 and 1/2; returns (step -> model folder, figures).

    The finished run is built through the project's own build (fine_tune.models.tiny) into the
    cache `fine-tune` and `fine-tune-base` use, so the chosen point can be shipped as it is.
    """
    from omegaconf import OmegaConf

    from fine_tune.config import compose
    from fine_tune.models.tiny import MARKER, tiny_model_dir

    spec = OmegaConf.to_object(compose(["model=tiny"]).model.tiny)
    spec = dataclasses.replace(spec, **SIZES[size], pretrain_steps=steps)
    spec = dataclasses.replace(spec, corpus_size=max(spec.corpus_size, _documents_for(spec)))
    snapshots = {s: work / f"{size}-{s}" for s in (steps // 4, steps // 2)}
    final = tiny_model_dir(spec, cache, snapshots=snapshots)
    marker = json.loads((final / MARKER).read_text())
    taken = {s: f for s, f in snapshots.items() if (f / "config.json").is_file()}  # none if the build was cached
    return {**taken, steps: final}, {**marker["pretraining"], "spec": marker["settings"]}


def _documents_for(spec) -> int:
    """Enough corpus documents that the run reads each about once (~210 tokens a document)."""
    return spec.pretrain_steps * spec.pretrain_batch_size * spec.pretrain_seq_length // 200


def fine_tune(model: Path, run_dir: Path, cache: str) -> dict:
    """The default `make run` job on `model`; returns its metrics.json and its wall time."""
    if not (run_dir / "metrics.json").is_file():
        env = dict(os.environ, FINE_TUNE_CACHE=cache, PYTHONPATH=str(REPO))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fine_tune", f"model.path={model}", "logger=none",
                        "eval.deepeval=false", "eval.baseline=null", f"hydra.run.dir={run_dir}"],
                       env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (run_dir / "wall.json").write_text(json.dumps({"wall_s": time.perf_counter() - started}))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {**metrics, "wall_s": json.loads((run_dir / "wall.json").read_text())["wall_s"]}


def point(size: str, steps: int, folder: Path, metrics: dict, pretraining: dict) -> dict:
    tuned, base = metrics["tuned"], metrics.get("base") or {}
    below = [s for s, b in tuned["per_skill"].items() if b["floor"] is not None and b["accuracy"] < 2 * b["floor"]]
    tokens = steps * pretraining["spec"]["pretrain_batch_size"] * pretraining["spec"]["pretrain_seq_length"]
    fine_tune_s = sum(st.get("runtime_s") or 0 for st in metrics["stages"].values())
    return {"size": size, "parameters": pretraining["parameters"], "steps": steps, "tokens": tokens,
            "pretrain_s": pretraining["runtime_s"] * steps / pretraining["steps"], "base_accuracy": base.get("accuracy"),
            "accuracy": tuned["accuracy"], "ci": [tuned["ci_low"], tuned["ci_high"]], "floor": tuned["floor"],
            "per_skill": {s: b["accuracy"] for s, b in tuned["per_skill"].items()}, "below_2x_floor": below,
            "fine_tune_s": fine_tune_s, "job_wall_s": metrics["wall_s"], "model": str(folder)}


def markdown(points: list[dict]) -> str:
    lines = ["| size | parameters | tokens seen | pre-training | base acc. | tuned acc. [95% CI] | skills < 2x floor "
             "| fine-tune (SFT-CoT + DPO) | whole job |", "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for p in sorted(points, key=lambda p: (p["parameters"], p["tokens"])):
        lines.append(
            f"| {p['size']} | {p['parameters'] / 1e6:.2f}M | {p['tokens'] / 1e6:.1f}M | {p['pretrain_s'] / 60:.0f} min "
            f"| {p['base_accuracy'] * 100:.1f}% | {p['accuracy'] * 100:.1f}% [{p['ci'][0] * 100:.1f}, {p['ci'][1] * 100:.1f}] "
            f"| {', '.join(p['below_2x_floor']) or 'none'} | {p['fine_tune_s']:.0f} s | {p['job_wall_s']:.0f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,M,L", help="comma-separated keys of SIZES")
    parser.add_argument("--steps", type=int, default=2000, help="pre-training steps of each size's run")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "fine-tune-capacity")
    args = parser.parse_args()
    cache = os.environ.get("FINE_TUNE_CACHE", str(Path.home() / ".cache" / "fine-tune"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    store = RESULTS / "curve.json"
    points = json.loads(store.read_text()) if store.is_file() else []
    for size in args.sizes.split(","):
        folders, pretraining = pretrain(size, args.steps, args.work, cache)
        for steps, folder in sorted(folders.items()):
            if any(p["model"] == str(folder) for p in points):
                continue
            metrics = fine_tune(folder, args.work / f"run-{size}-{steps}", cache)
            points.append(point(size, steps, folder, metrics, pretraining))
            store.write_text(json.dumps(points, indent=2))
            print(markdown(points[-1:]).splitlines()[-1], flush=True)
    table = markdown(points)
    (RESULTS / "curve.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
