"""One run: data -> base model -> stages in order -> evaluation -> metrics.json and W&B.

Called by the `fine-tune` entrypoint (fine_tune.cli) with the composed config;
writes everything into Hydra's output folder for the run:

    .hydra/             the config snapshot (Hydra's own)
    manifest.json       git SHA, package versions, data fingerprint, seed, device
    metrics.json        per-stage losses, tokens/s, memory; base and tuned accuracy
    data_report.{json,md}, rejects.jsonl   rows in/out of every data step; every removed row and why
    01-sft_cot/adapter  the stage's LoRA adapter (or model/ for finetune=full), done.json when finished,
                        stage.json (the stage's key); hard links to an earlier run's files when that one
                        did the same work, so either folder can be deleted
    .stale/             a stage folder of another config, moved aside instead of resumed
    generations/        every eval generation, base and tuned, as JSONL (reused by fine-tune-eval)
    eval/               the WinRate judgments, prompt by prompt (both orders)
    wandb/              the offline W&B runs, one per stage
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from fine_tune import jobs
from fine_tune.backends import resolve_backend
from fine_tune.distributed import is_main, world_size
from fine_tune.data.pipeline import load_splits
from fine_tune.data.preferences import preference_rows
from fine_tune.data.report import write_report
from fine_tune.errors import UserError, describe
from fine_tune.evaluation.accuracy import checker_accuracy
from fine_tune.chat import answer_instruction, prompts_that_ask_already
from fine_tune.evaluation.generations import Decoding, generations_for, reference_budget, shared_path
from fine_tune.evaluation.sampling import eval_rows, loss_rows
from fine_tune.evaluation.suite import EvalTarget, evaluate, record, summary_metrics
from fine_tune.models.load import load_model, model_identity, resolve_source
from fine_tune.outputs import build_manifest, write_json_atomic
from fine_tune.report import print_summary
from fine_tune.run_status import heartbeat
from fine_tune.config_ranges import check_lora_settings
from fine_tune.stage_names import requested_stages
from fine_tune.disk import check_space, stage_bytes, writing
from fine_tune.stages import RUNNERS, check_available, check_trl_args, max_length, response_format, save_and_merge
from fine_tune.stages.chain import (adopted_from, apply_saved, finished_metrics, last_checkpoint, mark_done, stage_dir, stage_keys,
                                    stage_lock)
from fine_tune.stages.common import StageContext
from fine_tune.stages.guard import StageUnstable
from fine_tune.tracking import NoTracker, make_tracker, sweep_group

log = logging.getLogger(__name__)


def _group_and_label(cfg: DictConfig, run_dir: Path) -> tuple[str, str]:
    """W&B group: logger.group when set, else the sweep folder for a multirun, else the run's own folder."""
    hc = HydraConfig.get()
    if cfg.logger.group:
        return str(cfg.logger.group), run_dir.name
    if hc.mode == RunMode.MULTIRUN:
        return sweep_group(hc.sweep.dir), run_dir.name
    return run_dir.name, run_dir.name


def run(cfg: DictConfig) -> dict:
    """Train and evaluate the run `cfg` describes; returns what it wrote to metrics.json."""
    started = time.time()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    _check_shared_run_dir()
    stages = list(cfg.method.keys())
    check_available(stages, requested_stages(HydraConfig.get().overrides.task))  # before anything loads
    check_lora_settings(cfg)
    check_trl_args(cfg)
    backend = resolve_backend(cfg.backend.name)
    source = resolve_source(cfg.model, cfg.cache_dir)  # a bad model.path fails before data work

    import transformers

    transformers.set_seed(cfg.seed)
    splits = load_splits(cfg.data, cfg.cache_dir)
    check_sizes(cfg, splits)
    _warn_if_prompts_ask_already(cfg, splits)
    model, tokenizer = load_model(source, cfg.model, cfg.cache_dir, backend, max_length(cfg))
    group, label = _group_and_label(cfg, run_dir)
    tracker = NoTracker()  # the other processes of a multi-process job train only
    if is_main():
        write_report(splits.report, splits.rejects, run_dir)
        write_json_atomic(run_dir / "manifest.json", build_manifest(cfg.seed, splits.fingerprints, backend, source))
        tracker = make_tracker(cfg, OmegaConf.to_container(cfg, resolve=True), run_dir, group, label)
    metrics: dict = {"status": "running", "stages_order": stages, "data": splits.report, "stages": {},
                     "wandb_group": group}
    try:
        _train_and_evaluate(cfg, stages, source, backend, model, tokenizer, splits, run_dir, tracker, metrics)
        last = metrics["stages"][list(metrics["stages"])[-1]]
        metrics.update(final_train_loss=last["final_train_loss"], wall_time_s=time.time() - started)
        metrics.setdefault("eval_loss", last.get("eval_loss"))  # the held-out loss when evaluated (suite.record)
        tracker.log_table("data/curation", ["step", "rows_in", "rows_out"],
                          [[st["step"], st["rows_in"], st["rows_out"]] for st in splits.report["steps"]])
        tracker.log_summary(_summary(metrics))
        tracker.finish_stage()  # inside: a W&B run that could not be written fails the run, not "finished"
    except BaseException as err:
        # Keep what finished and say why the run stopped; the error still propagates.
        metrics.update(status="failed", error=f"{type(err).__name__}: {err}", wall_time_s=time.time() - started)
        if is_main():
            write_json_atomic(run_dir / "metrics.json", metrics)
        tracker.finish_stage(failed=True)
        raise
    if is_main():
        write_json_atomic(run_dir / "metrics.json", metrics)
        print_summary(metrics, run_dir)
    return metrics


def _check_shared_run_dir() -> None:
    """The processes of one job must share its folder; `${now:...}` could differ between them."""
    if world_size() > 1 and not any(o.startswith("hydra.run.dir=") for o in HydraConfig.get().overrides.hydra):
        raise UserError(f"a job launched on {world_size()} processes needs one folder for all of them: "
                        "add hydra.run.dir=<folder> to the command")


def check_sizes(cfg: DictConfig, splits) -> None:
    """Data too small to train and evaluate on: an error before the model loads, not a silent run.

    Raises:
        UserError: no eval rows, fewer train rows than one batch, or (for dpo) no usable preference pairs;
            naming the sizes and the fix.
    """
    if not splits.eval:
        raise UserError(f"the data has {len(splits.train)} train rows and no eval rows: nothing would measure the "
                        f"run; raise data.eval_fraction (now {cfg.data.eval_fraction}) or give "
                        "data.source.eval_split")
    batch = cfg.debug.batch_size or cfg.model.per_device_train_batch_size
    if len(splits.train) < batch:
        raise UserError(f"{len(splits.train)} train rows are fewer than one batch of {batch}: add rows, or set "
                        f"model.per_device_train_batch_size={len(splits.train)} or lower")
    if "dpo" in cfg.method:  # pairs the data cannot make (or that are all equal) end the run here, not at stage 2
        preference_rows(splits.train, cfg.seed, "train")


def _warn_if_prompts_ask_already(cfg: DictConfig, splits) -> None:
    """Once a run: data.answer_instruction on prompts that already ask for an answer form asks twice."""
    rows = [*splits.train, *splits.eval]
    asking = prompts_that_ask_already(rows, answer_instruction(cfg.data.answer_instruction))
    if asking and is_main():
        log.warning("data.answer_instruction is on, but %d of %d prompts already ask for a final-answer form "
                    "(first: %s, %r): they are asked twice; set data.answer_instruction=off if the source asks "
                    "for its own format", len(asking), len(rows), asking[0].get("id"), asking[0]["prompt"][-80:])


def run_job(cfg: DictConfig) -> float:
    """One job of the `fine-tune` command; returns the value of `cfg.objective` (NaN if none).

    In a sweep (-m), a job whose config finished before is copied, not retrained, and a
    job that fails is recorded in its metrics.json and logged; the sweep goes on.
    """
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with heartbeat(run_dir) if is_main() else contextlib.nullcontext():  # "running" or "killed" to readers
        return _run_job(cfg, run_dir)


def _run_job(cfg: DictConfig, run_dir: Path) -> float:
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        metrics = run(cfg)  # a single run's errors reach the user (fine_tune.cli)
    else:
        earlier = jobs.finished_job(cfg)
        if earlier is not None and earlier.resolve() != run_dir.resolve():
            return jobs.objective_value(jobs.reuse(earlier, run_dir), cfg.objective)
        try:
            metrics = run(cfg)
        except Exception as err:  # noqa: BLE001 - one job's failure must not end the sweep
            log.error("job %s failed: %s", run_dir.name, describe(err) or f"{type(err).__name__}: {err}",
                      exc_info=describe(err) is None)
            jobs.record_failure(run_dir, err)
            return float("nan")
    if metrics["status"] == "finished" and is_main():
        jobs.register_finished(cfg, run_dir)
    return jobs.objective_value(metrics, cfg.objective)


def _train_and_evaluate(cfg, stages, source, backend, model, tokenizer, splits, run_dir: Path, tracker,
                        metrics: dict) -> None:
    """Base score, the stages in order (each from the last one's merged weights), tuned score."""
    rows, scored = eval_rows(splits.eval, cfg.eval), loss_rows(splits.eval, cfg.eval)
    evaluating = cfg.eval.enabled and is_main()  # one process evaluates a multi-process job
    response = response_format(cfg)
    decoding = Decoding(cfg.eval.max_new_tokens or reference_budget(tokenizer, rows, response),
                        answer_instruction(cfg.data.answer_instruction), cfg.eval.batch_size)
    base_records = None
    if evaluating and (cfg.eval.evaluate_base or cfg.eval.baseline == "base"):
        # every job of a sweep starts from the same base: its generations are made once and shared
        shared = shared_path(cfg.cache_dir, model_identity(source, cfg.model, backend), rows, decoding)
        base_records = generations_for(lambda: (model, tokenizer), rows, decoding, "base", run_dir / "generations",
                                       reuse=False, shared=shared)
        base_accuracy = checker_accuracy(base_records)
        if base_accuracy is not None:
            metrics["base"] = base_accuracy
    keys = stage_keys(cfg, stages, source, splits.fingerprints)
    for index, (name, key) in enumerate(zip(stages, keys), start=1):
        with stage_lock(cfg.cache_dir, key, name):
            folder = stage_dir(run_dir, index, name, key, cfg.cache_dir)
            done = finished_metrics(folder, key)
            if done is not None:
                log.info("stage %s already finished in %s: skipped", name, adopted_from(folder))
                model = apply_saved(model, folder)
                metrics["stages"][name] = {**done, "skipped": True, "reused_from": adopted_from(folder)}
                tracker.start_stage(name, index, reused_from=done.get("wandb_run_id") or "")
                tracker.log_summary(_stage_summary(done))
            else:
                model = _train_stage(cfg, name, index, key, folder, backend, model, tokenizer, splits, tracker,
                                     metrics)
                if model is None:
                    return  # unstable: the later stages would start from broken weights
        if evaluating and cfg.eval.per_stage and index < len(stages):  # the last one is the final eval
            merged = model
            target = EvalTarget(f"{index:02d}-{name}", lambda: (merged, tokenizer), rows, scored, run_dir,
                                cfg.cache_dir, cfg.seed, decoding, response, max_length(cfg), reuse_generations=False)
            metrics["stages"][name]["eval"], _ = evaluate(cfg.eval, target, {name: metrics["stages"][name]},
                                                          base_records)
            tracker.log_summary(summary_metrics(metrics["stages"][name]["eval"], f"eval_after_{name}"))
        if is_main():
            write_json_atomic(run_dir / "metrics.json", metrics)  # progress survives a later crash
        if index < len(stages):
            tracker.finish_stage()
    if evaluating:
        target = EvalTarget("tuned", lambda: (model, tokenizer), rows, scored, run_dir, cfg.cache_dir, cfg.seed,
                            decoding, response, max_length(cfg), reuse_generations=False)
        record(metrics, *evaluate(cfg.eval, target, metrics["stages"], base_records), tracker)
    metrics["status"] = "finished"


def _train_stage(cfg, name, index, key, folder: Path, backend, model, tokenizer, splits, tracker, metrics: dict):
    """Train one stage (resuming a killed attempt); returns the merged model, or None when unstable."""
    resume = last_checkpoint(folder)
    if resume:
        log.info("stage %s resumes from %s", name, resume)
    ctx = StageContext(name, index, cfg.method[name], cfg, splits, folder, tracker.report_to, resume, backend)
    needed = stage_bytes(model)
    check_space(folder, needed, f"stage {name} (checkpoint and saved weights)")  # before, not after, training
    tracker.start_stage(name, index)
    try:
        with writing(folder, f"stage {name}'s checkpoint", needed):
            trainer, metrics["stages"][name] = RUNNERS[name](ctx, model, tokenizer)
        metrics["stages"][name]["wandb_run_id"] = tracker.run_id  # a later job reusing the stage names it
    except StageUnstable as err:
        metrics["stages"][name] = {**err.metrics, "unstable": err.reason}
        metrics.update(status="unstable", unstable_reason=f"{name}: {err.reason}")
        tracker.log_summary({"unstable": True, "unstable_reason": metrics["unstable_reason"]})
        return None
    with writing(folder, f"stage {name}'s adapter or model", needed):
        model = save_and_merge(trainer, tokenizer, folder)
    if is_main():
        mark_done(folder, key, metrics["stages"][name])
    return model


def _stage_summary(stage: dict) -> dict:
    """A reused stage's figures, as its W&B run's summary (its curves live in the run that trained it)."""
    keys = ("final_train_loss", "mean_train_loss", "eval_loss", "global_steps", "train_tokens", "runtime_s")
    return {f"stage/{key}": stage[key] for key in keys if stage.get(key) is not None}


def _summary(metrics: dict) -> dict:
    summary = {"final/eval_loss": metrics["eval_loss"], "final/final_train_loss": metrics["final_train_loss"]}
    if "base" in metrics:
        summary["final/base_accuracy"] = metrics["base"]["accuracy"]
    if "tuned" not in metrics:
        return summary
    summary["final/tuned_accuracy"] = metrics["tuned"]["accuracy"]
    for skill, block in metrics["tuned"]["per_skill"].items():
        summary[f"final/tuned_accuracy/{skill}"] = block["accuracy"]
    return summary
