"""A real pretrained LLM fine-tuned on 2 CPU cores: SmolLM2-135M-Instruct base vs sft_cot vs [sft_cot,dpo].

    python benchmarks/real_model.py                      # 2 CPU cores: the budget of experiments/real_model.yaml
    python benchmarks/real_model.py --gpu                # the device tool's GPU: backend=unsloth, whole test split

Two parts, in one run on the same machine:

1. Speed: tokens/s of the project's LoRA SFT stage (model=smollm2-135m) against a bare TRL+PEFT
   script (benchmarks/bare_trl_sft.py with the same LoRA, rows, batch, rate and steps); target: the
   project's time per token <= 1.15x the bare script's.
2. Quality: `fine-tune -m experiment=real_model` (sft_cot, then [sft_cot,dpo], LoRA, on GSM8K's train
   split, scored on a stratified, seeded sample of its test split; the base model scored on the same
   prompts), `fine-tune-compare` on the sweep (its claims: fine_tune/claim_sets/real_model.yaml), and
   each tuned model against the base on the same prompts: Wilson intervals, exact McNemar, the
   smallest difference the prompts could detect.

Saves speed.json, comparison.md/.csv, base_vs_tuned.md and wall_time.json to
benchmarks/results/real_model[_gpu]/. GSM8K comes from --data (a folder with train.jsonl and
test.jsonl, default ../shared/data/gsm8k) or, with --data hub, from the Hugging Face Hub.
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
sys.path.insert(0, str(REPO / "benchmarks"))

from omegaconf import OmegaConf  # noqa: E402
from overhead import project_run, timed, write_rows  # noqa: E402

from fine_tune.config import compose  # noqa: E402
from fine_tune.evaluation.stats import detectable_difference, discordant, mcnemar, wilson  # noqa: E402

SPEED_TARGET = 1.15


def data_overrides(data: str) -> list[str]:
    if data == "hub":
        return ["data=gsm8k"]
    return ["data=gsm8k", "data.source.name=null", f"data.source.path={Path(data).resolve()}"]


def speed(data: list[str], steps: int, work: Path, env: dict) -> dict:
    """Tokens/s of the project's LoRA SFT stage and of the bare TRL+PEFT script, same work."""
    overrides = ["model=smollm2-135m", *data, "method=sft_cot", f"method.sft_cot.max_steps={steps}",
                 "method.sft_cot.max_length=512", "eval.enabled=false", "eval.max_loss_rows=16", "logger=none"]
    cfg = compose(overrides)
    from fine_tune.models.load import resolve_source

    model_dir = resolve_source(cfg.model, cfg.cache_dir)  # converted once, outside both timings
    train, held = write_rows(cfg, work)
    # the bare script evaluates its eval file once after training (outside its train time): 16 rows, not
    # GSM8K's 1,319 test rows, which would take longer than the training on a CPU
    held.write_text("".join(held.read_text().splitlines(keepends=True)[:16]))
    lora = cfg.method.sft_cot.lora
    _, bare_wall, out = timed([sys.executable, "benchmarks/bare_trl_sft.py", model_dir, str(train), str(held),
                               str(steps), str(cfg.model.per_device_train_batch_size), str(cfg.model.learning_rate),
                               str(work / "bare"), f"lora:{lora.r}:{lora.alpha}:{lora.dropout}"],
                              dict(env, HF_DATASETS_CACHE=str(work / "hf-datasets")))
    bare = json.loads(out.split("bare train ")[1].splitlines()[0])
    # a cache of its own holding only the converted model: no finished or checkpointed stage of an
    # earlier run is reused, so the project trains every step it is timed for (project_run checks)
    cache = work / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(Path(model_dir).parent)
    run = work / "project"
    project_wall, _ = project_run(overrides, run, cache, env, steps)
    stage = json.loads((run / "metrics.json").read_text())["stages"]["sft_cot"]
    if bare["steps"] != steps:
        sys.exit(f"real_model: the bare script trained {bare['steps']} steps, not {steps}")
    if bare["tokens"] != stage["train_tokens"]:  # not the same rows: the tokens/s would compare unlike work
        print(f"real_model: warning: the bare script trained {bare['tokens']} tokens, the project "
              f"{stage['train_tokens']}", file=sys.stderr)
    rates = {"project": stage["train_tokens"] / stage["runtime_s"], "bare": bare["tokens"] / bare["runtime_s"]}
    return {"steps": steps, "batch": cfg.model.per_device_train_batch_size, "lora": OmegaConf.to_container(lora),
            "project": {"tokens": stage["train_tokens"], "train_s": stage["runtime_s"], "wall_s": project_wall,
                        "tokens_per_s": rates["project"]},
            "bare": {"tokens": bare["tokens"], "train_s": bare["runtime_s"], "wall_s": bare_wall,
                     "tokens_per_s": rates["bare"]},
            "time_per_token_ratio": rates["bare"] / rates["project"],
            # the same rows in the same order (same seed): equal token counts, so per step says the same
            "time_per_step_ratio": stage["runtime_s"] / bare["runtime_s"], "target": SPEED_TARGET}


def _correct(file: Path) -> dict:
    """prompt id -> whether the checker found the generation right."""
    with file.open(encoding="utf-8") as handle:
        return {r["id"]: bool(r["correct"]) for r in map(json.loads, handle)}


def base_vs_tuned(sweep: Path) -> list[str]:
    """Each job's tuned model against the base, on the same prompts: a markdown table."""
    lines = [("| job | base | tuned | tuned - base | only base right / only tuned right | McNemar p | "
              "smallest detectable |"), "|---|---|---|---|---|---|---|"]
    for job in sorted(p for p in sweep.iterdir() if (p / "generations" / "tuned.jsonl").is_file()):
        base, tuned = _correct(job / "generations" / "base.jsonl"), _correct(job / "generations" / "tuned.jsonl")
        ids = sorted(set(base) & set(tuned))
        a, b = [tuned[i] for i in ids], [base[i] for i in ids]
        only_tuned, only_base = discordant(a, b)
        cells = []
        for values in (b, a):
            low, high = wilson(sum(values), len(values))
            cells.append(f"{sum(values) / len(values):.1%} [{low:.1%}, {high:.1%}]")
        mdd = detectable_difference(only_tuned, only_base, len(ids))
        lines.append(f"| {job.name} | {cells[0]} | {cells[1]} | {(sum(a) - sum(b)) / len(ids):+.1%} | "
                     f"{only_base} / {only_tuned} | {mcnemar(only_tuned, only_base):.3g} | "
                     f"{'-' if mdd is None else f'{mdd:.1%}'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "gsm8k"),
                        help="a GSM8K folder (train.jsonl, test.jsonl), or 'hub'")
    parser.add_argument("--gpu", action="store_true", help="backend=unsloth, the whole test split, one epoch of SFT")
    parser.add_argument("--speed-steps", type=int, default=10)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true", help="the speed part only")
    parser.add_argument("--results", type=Path, help="where to save (default benchmarks/results/real_model[_gpu])")
    parser.add_argument("overrides", nargs="*", help="more overrides for the sweep, e.g. eval.max_prompts=50")
    args = parser.parse_args()
    data = data_overrides(args.data)
    results = args.results or REPO / "benchmarks" / "results" / ("real_model_gpu" if args.gpu else "real_model")
    results.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, WANDB_MODE="disabled", PYTHONPATH=str(REPO))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_speed:
            figures = speed(data, args.speed_steps, Path(tmp), env)
            (results / "speed.json").write_text(json.dumps(figures, indent=2) + "\n")
            print(f"LoRA SFT tokens/s: project {figures['project']['tokens_per_s']:.1f}, bare TRL+PEFT "
                  f"{figures['bare']['tokens_per_s']:.1f}: project time per token {figures['time_per_token_ratio']:.3f}x "
                  f"the bare script's (target <= {SPEED_TARGET})")
    if args.skip_sweep:
        return
    # one epoch of the 7,470 curated train rows at batch 8, and dpo's own 0.1 epoch of its pairs
    gpu = ["backend=unsloth", "eval.max_prompts=null", "budget.sft_steps=934", "budget.dpo_steps=94"] if args.gpu else []
    sweep = REPO / "multirun" / ("real_model_gpu" if args.gpu else "real_model") / time.strftime("%Y-%m-%d_%H-%M-%S")
    command = [sys.executable, "-m", "fine_tune", "-m", "experiment=real_model", *data, *gpu, *args.overrides,
               f"hydra.sweep.dir={sweep}"]
    swept = subprocess.run(command, env=env, cwd=REPO, check=False)
    subprocess.run([sys.executable, "-m", "fine_tune.compare", str(sweep)], env=env, check=False)
    for name in ("comparison.md", "comparison.csv", "accuracy.png"):
        if (sweep / name).is_file():
            (results / name).write_bytes((sweep / name).read_bytes())
    table = base_vs_tuned(sweep)
    (results / "base_vs_tuned.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    wall = time.perf_counter() - started
    (results / "wall_time.json").write_text(json.dumps({
        "wall_s": round(wall, 1), "cores": os.cpu_count(), "exit": swept.returncode, "gpu": args.gpu,
        "command": " ".join(command[2:]), "finished": time.strftime("%Y-%m-%d %H:%M")}, indent=2) + "\n")
    print(f"\nreal_model: {wall / 60:.1f} min on {os.cpu_count()} cores; sweep {sweep}; exit {swept.returncode}")
    sys.exit(swept.returncode)


if __name__ == "__main__":
    main()
