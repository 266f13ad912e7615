"""`fine-tune-eval <run folder> [overrides]`: evaluate a finished run again, without retraining.

    fine-tune-eval outputs/2026-11-26/10-00-00_curated_sft_cot+dpo eval.baseline=reference
    fine-tune-eval multirun/2026-11-26/10-00-00/0_curated_sft_cot eval.judge.kind=llm \\
        eval.judge.url=http://localhost:8000/v1 eval.judge.model=Qwen/Qwen2.5-7B-Instruct \\
        eval.judge.api_key_env=JUDGE_API_KEY

The run's own config (.hydra/config.yaml) is the starting point; overrides may
change `eval.*` and `logger.*` only (anything else would change what was trained).
Generations on disk are reused when the prompts and decoding settings match, so
a new judge, baseline or metric set costs only the judging; judgments are cached.
metrics.json gets the new `eval` section (atomically) and a `reevaluations` entry.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

from omegaconf import OmegaConf

from fine_tune.config import Config, conf_dir, register_configs
from fine_tune.config_ranges import check_config
from fine_tune.errors import UserError, exit_on_error
from fine_tune.report import eval_lines
from fine_tune.run_folder import RunFolder

EDITABLE = ("eval.", "logger.")


def load_run_config(run_dir: Path, overrides: list[str]):
    """The run's config with `overrides` applied, checked against the schemas.

    Raises:
        UserError: not a run folder, an override outside eval.*/logger.*, or a bad key/value.
    """

    register_configs()
    folder = RunFolder(run_dir)
    expected = [folder.config, folder.metrics]
    missing = folder.missing(*expected)
    if missing:
        raise UserError(f"{run_dir} is not a fine-tune run folder: expected {' and '.join(map(str, expected))} "
                        f"(missing: {', '.join(str(run_dir / m) for m in missing)})")
    groups = [item for item in overrides if item.split("=", 1)[0] == "logger"]  # logger=none, as in fine-tune
    settings = [item for item in overrides if item not in groups]
    for item in settings:
        key = item.split("=", 1)[0].lstrip("+")
        if "=" not in item or not key.startswith(EDITABLE):
            raise UserError(f"override '{item}': fine-tune-eval changes eval.* and logger.* settings only "
                            "(key=value, or logger=<option>); to change what was trained, start a new run")
    cfg = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(expected[0]))
    OmegaConf.set_struct(cfg, True)
    for item in groups:
        cfg = OmegaConf.merge(cfg, {"logger": _logger_option(item.split("=", 1)[1])})
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(settings))


def _logger_option(option: str):
    """conf/logger/<option>.yaml's settings (its defaults list is the schema the run's config already has)."""

    folder = conf_dir() / "logger"
    options = sorted(p.stem for p in folder.glob("*.yaml"))
    if option not in options:
        raise UserError(f"logger={option}: no such option: choose one of {', '.join(options)}")
    settings = OmegaConf.load(folder / f"{option}.yaml")
    settings.pop("defaults", None)
    return settings


def reevaluate(run_dir: Path, overrides: list[str]) -> dict:
    """Evaluate `run_dir` again under its config plus `overrides`; returns the new eval results."""
    # the folder and the overrides first: a mistake answers in a second, before torch and TRL load
    cfg = load_run_config(run_dir, overrides)
    folder = RunFolder(run_dir)
    metrics = folder.read_metrics()
    if metrics.get("status") != "finished":
        raise UserError(f"{run_dir} has status '{metrics.get('status')}': only a finished run can be evaluated "
                        "(run its command again to finish it)")
    check_config(cfg)  # the same single check as fine-tune's: eval.max_prompts=0 answers here
    # heavy: these load torch and TRL, only once the folder and the overrides check out
    from fine_tune.data.pipeline import load_splits
    from fine_tune.evaluation.suite import record
    from fine_tune.export import load_run_model
    from fine_tune.tracking import make_tracker
    from fine_tune.train import Run

    run = Run(cfg, run_dir, metrics)  # the run's evaluation steps, on its saved weights
    tuned = functools.cache(lambda: load_run_model(run_dir))
    # the run's own budget, so its generations on disk are reused; measured afresh only when not recorded
    recorded = (metrics.get("eval") or {}).get("generation", {}).get("max_new_tokens")
    run.plan_evaluation(load_splits(cfg.data, cfg.cache_dir, show_progress=False).eval, lambda: tuned()[1], recorded)
    if cfg.eval.evaluate_base or cfg.eval.baseline == "base":
        run.load_base_records(lambda: load_run_model(run_dir, with_stages=False))
    results, samples = run.evaluate(model_loader=tuned, reuse_generations=True)
    tracker = make_tracker(cfg, OmegaConf.to_container(cfg, resolve=True), run_dir,
                           metrics.get("wandb_group") or run_dir.name, run_dir.name)
    # job type: the last stage, whose model is evaluated; the `reeval` tag tells it from the training run
    tracker.start_stage(metrics["stages_order"][-1], len(metrics["stages_order"]), tags=("reeval",))
    record(metrics, results, samples, tracker)
    tracker.finish_stage()
    metrics.setdefault("reevaluations", []).append({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "overrides": overrides})
    folder.write_metrics(metrics)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fine-tune-eval", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a finished run's folder (outputs/... or a sweep job folder)")
    parser.add_argument("overrides", nargs="*", help="eval.*/logger.* settings, e.g. eval.baseline=reference")
    args = parser.parse_args(argv)
    results = exit_on_error("fine-tune-eval", lambda: reevaluate(args.run_dir, args.overrides))

    for line in eval_lines(results):
        print(line)
    print(f"metrics.json of {args.run_dir} updated")


if __name__ == "__main__":
    main()
