"""One run: data -> base model -> stages in order -> evaluation -> metrics.json and W&B.

Called by the `fine-tune` entrypoint (fine_tune.cli) with the composed config;
writes everything into Hydra's output folder for the run, laid out as
fine_tune.run_folder.LAYOUT says (the README's Outputs table).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from fine_tune import jobs
from fine_tune.backends import resolve_backend
from fine_tune.chat import answer_instruction, prompts_that_ask_already
from fine_tune.config import METHODS
from fine_tune.data.pipeline import load_splits
from fine_tune.data.preferences import preference_rows
from fine_tune.data.report import write_report
from fine_tune.disk import check_space, stage_bytes, writing
from fine_tune.distributed import is_main
from fine_tune.errors import UserError, describe
from fine_tune.evaluation.accuracy import checker_accuracy
from fine_tune.evaluation.generations import Decoding, generations_for, reference_budget, shared_path
from fine_tune.evaluation.loss import eval_loss, shared_loss
from fine_tune.evaluation.sampling import eval_rows, loss_rows
from fine_tune.evaluation.suite import EvalTarget, evaluate, record, summary_metrics
from fine_tune.models.load import check_trainable, load_model, model_identity, resolve_source
from fine_tune.outputs import build_manifest
from fine_tune.report import print_summary
from fine_tune.run_folder import RunFolder
from fine_tune.run_status import heartbeat
from fine_tune.stage_settings import resolve_stage
from fine_tune.stages import check_available, check_trl_args, max_length, response_format, runner, save_and_merge
from fine_tune.stages.chain import (
    adopted_from,
    apply_saved,
    finished_metrics,
    last_checkpoint,
    mark_done,
    stage_dir,
    stage_keys,
    stage_lock,
)
from fine_tune.stages.common import StageContext
from fine_tune.stages.guard import StageUnstable
from fine_tune.tracking import NoTracker, log_reused_job, make_tracker, stage_summary, sweep_group

log = logging.getLogger(__name__)


def _group_and_label(cfg: DictConfig, run_dir: Path) -> tuple[str, str]:
    """W&B group: logger.group when set, else the sweep folder for a multirun, else the run's own folder."""
    hc = HydraConfig.get()
    if cfg.logger.group:
        return str(cfg.logger.group), run_dir.name
    if hc.mode == RunMode.MULTIRUN:
        return sweep_group(hc.sweep.dir), run_dir.name
    return run_dir.name, run_dir.name


class Run:
    """One run, in torchtune's recipe shape: setup() -> train() -> evaluate() -> finish().

    It holds what the steps share (the config, its folder, the data splits, the model, the
    stage keys, the tracker and the metrics record), so each step reads as one straight walk:
    config -> Run -> stage (fine_tune.stages) -> TRL. `fine-tune-eval` builds one from a
    finished run's folder and calls its evaluation steps only.
    """

    def __init__(self, cfg: DictConfig, run_dir: Path, metrics: dict | None = None):
        """`metrics`: a finished run's metrics.json, for fine-tune-eval; a new run starts from none."""
        self.cfg, self.folder = cfg, RunFolder(run_dir)
        self.stages = list(cfg.method.keys())
        self.started = time.time()
        self.tracker = NoTracker()  # the other processes of a multi-process job train only
        self.metrics: dict = metrics if metrics is not None else {}
        self.base_records: list[dict] | None = None
        # set by setup(): where the base comes from, the data, the model being trained, each stage's key
        self.backend: str | None = None
        self.source: str | None = None
        self.splits = None
        self.model, self.tokenizer = None, None
        self.keys: list[str] = []
        # set by plan_evaluation(): the prompts generated for, the rows the loss is scored on, the
        # response format and the decoding settings
        self.rows: list[dict] = []
        self.scored: list[dict] = []
        self.response: str | None = None
        self.decoding: Decoding | None = None

    # -- set up ------------------------------------------------------------------------------
    def setup(self) -> None:
        """Every cheap check, then the data, the model, the manifest and the tracker."""
        cfg = self.cfg
        # the config passed check_config before this module loaded; what remains needs TRL's classes
        check_available(self.stages)
        check_trl_args(cfg)
        self.backend = resolve_backend(cfg.backend.name)
        self.source = resolve_source(cfg.model, cfg.cache_dir)  # a bad model.path fails before data work

        import transformers

        transformers.set_seed(cfg.seed)
        self.splits = load_splits(cfg.data, cfg.cache_dir)
        check_sizes(cfg, self.splits)
        _warn_if_prompts_ask_already(cfg, self.splits)
        self.model, self.tokenizer = load_model(self.source, cfg.model, cfg.cache_dir, self.backend, max_length(cfg))
        check_trainable(self.model, self.source)
        group, label = _group_and_label(cfg, self.folder.root)
        if is_main():
            write_report(self.splits.report, self.splits.rejects, self.folder.root)
            self.folder.write_manifest(build_manifest(cfg.seed, self.splits.fingerprints, self.backend, self.source))
            self.tracker = make_tracker(cfg, OmegaConf.to_container(cfg, resolve=True), self.folder.root, group, label)
        self.metrics = {"status": "running", "stages_order": self.stages, "data": self.splits.report, "stages": {},
                        "wandb_group": group}
        self.keys = stage_keys(cfg, self.stages, self.source, self.splits.fingerprints)

    def plan_evaluation(self, held_out: list[dict], tokenizer, recorded_budget: int | None = None) -> None:
        """The prompts, loss rows, response format and decoding every evaluation of this run uses.

        `tokenizer` is called only when the generation budget must be measured (no eval.max_new_tokens,
        nothing recorded by an earlier evaluation)."""
        cfg = self.cfg
        self.rows, self.scored = eval_rows(held_out, cfg.eval), loss_rows(held_out, cfg.eval)
        self.response = response_format(cfg)
        budget = cfg.eval.max_new_tokens or recorded_budget or reference_budget(tokenizer(), self.rows, self.response)
        self.decoding = Decoding(budget, answer_instruction(cfg.data.answer_instruction), cfg.eval.batch_size)

    @property
    def evaluating(self) -> bool:
        return bool(self.cfg.eval.enabled) and is_main()  # one process evaluates a multi-process job

    def score_base(self) -> None:
        """The base model's generations (shared by every job of a sweep: made once) and accuracy."""
        cfg, model, tokenizer = self.cfg, self.model, self.tokenizer
        identity = model_identity(self.source, cfg.model, self.backend)
        shared = shared_path(cfg.cache_dir, identity, self.rows, self.decoding)
        self.base_records = generations_for(lambda: (model, tokenizer), self.rows, self.decoding, "base",
                                            self.folder.generations, reuse=False, shared=shared)
        base_accuracy = checker_accuracy(self.base_records)
        if base_accuracy is not None:
            self.metrics["base"] = base_accuracy
        if cfg.eval.loss:  # the same held-out loss as the tuned model's: how far training moved it
            settings = [max_length(cfg), self.response, self.decoding.instruction]
            self.metrics["base_loss"] = shared_loss(
                cfg.cache_dir, identity, self.scored, settings,
                lambda: eval_loss(model, tokenizer, self.scored, cfg.eval.batch_size, *settings)[0])

    def load_base_records(self, model_loader) -> None:
        """A finished run's base generations (fine-tune-eval): reused from its folder when they match."""
        self.base_records = generations_for(model_loader, self.rows, self.decoding, "base", self.folder.generations)

    # -- train -------------------------------------------------------------------------------
    def train(self) -> bool:
        """The stages in order, each from the last one's merged weights; False when one was unstable."""
        for index, (name, key) in enumerate(zip(self.stages, self.keys), start=1):
            with stage_lock(self.cfg.cache_dir, key, name):
                folder = stage_dir(self.folder.root, index, name, key, self.cfg.cache_dir)
                done = finished_metrics(folder, key)
                if done is not None:
                    self._reuse_stage(name, index, folder, done)
                elif not self._train_stage(name, index, key, folder):
                    return False  # unstable: the later stages would start from broken weights
            if self.evaluating and self.cfg.eval.per_stage and index < len(self.stages):  # the last: evaluate()
                results, _ = self.evaluate(f"{index:02d}-{name}", {name: self.metrics["stages"][name]})
                self.metrics["stages"][name]["eval"] = results
                self.tracker.log_summary(summary_metrics(results, f"eval_after_{name}"))
            if is_main():
                self.folder.write_metrics(self.metrics)  # progress survives a later crash
            if index < len(self.stages):
                self.tracker.finish_stage()
        return True

    def _reuse_stage(self, name: str, index: int, folder: Path, done: dict) -> None:
        log.info("stage %s already finished in %s: skipped", name, adopted_from(folder))
        self.model = apply_saved(self.model, folder)
        self.metrics["stages"][name] = {**done, "skipped": True, "reused_from": adopted_from(folder)}
        self.tracker.start_stage(name, index, reused_from=done.get("wandb_run_id") or "")
        self.tracker.log_summary(stage_summary(done))

    def _train_stage(self, name: str, index: int, key: str, folder: Path) -> bool:
        """Train one stage (resuming a killed attempt); False when it was unstable."""
        cfg, metrics = self.cfg, self.metrics
        resume = last_checkpoint(folder)
        if resume:
            log.info("stage %s resumes from %s", name, resume)
        ctx = StageContext.from_config(cfg, name, index, self.splits.train, self.splits.eval, folder,
                                       self.tracker.report_to, resume, self.backend)
        needed = stage_bytes(self.model)
        check_space(folder, needed, f"stage {name} (checkpoint and saved weights)")  # before, not after, training
        self.tracker.start_stage(name, index)
        try:
            with writing(folder, f"stage {name}'s checkpoint", needed):
                trainer, metrics["stages"][name] = runner(name)(ctx, self.model, self.tokenizer)
            metrics["stages"][name]["wandb_run_id"] = self.tracker.run_id  # a later job reusing the stage names it
        except StageUnstable as err:
            metrics["stages"][name] = {**err.metrics, "unstable": err.reason}
            metrics.update(status="unstable", unstable_reason=f"{name}: {err.reason}")
            self.tracker.log_summary({"unstable": True, "unstable_reason": metrics["unstable_reason"]})
            return False
        with writing(folder, f"stage {name}'s adapter or model", needed):
            self.model = save_and_merge(trainer, self.tokenizer, folder)
        if is_main():
            mark_done(folder, key, metrics["stages"][name])
        return True

    # -- evaluate ----------------------------------------------------------------------------
    def evaluate(self, label: str = "tuned", stages: dict | None = None, model_loader=None,
                 reuse_generations: bool = False) -> tuple[dict, list]:
        """The eval suite on the current model (or `model_loader`'s): right after training its
        generations are new, so none on disk are reused."""
        if model_loader is None:
            model, tokenizer = self.model, self.tokenizer  # bound now: a later stage replaces self.model
            model_loader = lambda: (model, tokenizer)  # noqa: E731
        target = EvalTarget(label, model_loader, self.rows, self.scored, self.folder.root, self.cfg.cache_dir,
                            self.cfg.seed, self.decoding, self.response, max_length(self.cfg),
                            reuse_generations=reuse_generations)
        return evaluate(self.cfg.eval, target, self.metrics["stages"] if stages is None else stages,
                        self.base_records)

    # -- finish ------------------------------------------------------------------------------
    def finish(self) -> None:
        """The run's summary figures into metrics.json and its last W&B run."""
        metrics, tracker = self.metrics, self.tracker
        last = metrics["stages"][list(metrics["stages"])[-1]]
        metrics.update(final_train_loss=last["final_train_loss"], wall_time_s=time.time() - self.started)
        metrics.setdefault("eval_loss", last.get("eval_loss"))  # the held-out loss when evaluated (suite.record)
        tracker.log_table("data/curation", ["step", "rows_in", "rows_out"],
                          [[st["step"], st["rows_in"], st["rows_out"]] for st in self.splits.report["steps"]])
        tracker.log_summary(_summary(metrics))
        tracker.finish_stage()  # a W&B run that could not be written fails the run, not "finished"
        if is_main():
            self.folder.write_metrics(metrics)
            print_summary(metrics, self.folder.root)

    def fail(self, err: BaseException) -> None:
        """Keep what finished and say why the run stopped (the caller re-raises).

        An exit or Ctrl-C is `interrupted`, not failed: submitit exits this way after requeueing a
        preempted or timed-out Slurm job, which then resumes from its last checkpoint."""
        status = "interrupted" if isinstance(err, (SystemExit, KeyboardInterrupt)) else "failed"
        self.metrics.update(status=status, error=f"{type(err).__name__}: {err}",
                            wall_time_s=time.time() - self.started)
        if is_main():
            self.folder.write_metrics(self.metrics)
        self.tracker.finish_stage(failed=True)


def run(cfg: DictConfig) -> dict:
    """Train and evaluate the run `cfg` describes; returns what it wrote to metrics.json."""
    job = Run(cfg, Path(HydraConfig.get().runtime.output_dir))
    job.setup()
    try:
        job.plan_evaluation(job.splits.eval, lambda: job.tokenizer)
        if job.evaluating and (cfg.eval.evaluate_base or cfg.eval.baseline == "base"):
            job.score_base()
        if job.train():
            if job.evaluating:
                record(job.metrics, *job.evaluate(), job.tracker)
            job.metrics["status"] = "finished"
        job.finish()
    except BaseException as err:
        job.fail(err)
        raise
    return job.metrics


def _check_shared_run_dir() -> None:
    """The processes of one job must share its folder; `${now:...}` could differ between them.

    Checked before the processes join their group (the launcher's WORLD_SIZE says how many there
    are), so the mistake is one line, not a rendezvous that fails or hangs."""
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if processes > 1 and not any(o.startswith("hydra.run.dir=") for o in HydraConfig.get().overrides.hydra):
        raise UserError(f"a job launched on {processes} processes needs one folder for all of them: "
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
    for name in cfg.method:  # each stage's own batch, as it will train (fine_tune.stage_settings)
        batch = resolve_stage(cfg, name).batch_size
        if len(splits.train) < batch:
            raise UserError(f"{len(splits.train)} train rows are fewer than one batch of {batch} ({name}): add rows, "
                            f"or set model.per_device_train_batch_size={len(splits.train)} or lower (or "
                            f"method.{name}.per_device_train_batch_size)")
    if any(METHODS[name].needs_pairs for name in cfg.method):  # pairs the data cannot make (or that are all equal) end the run here, not at stage 2
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
    _check_shared_run_dir()
    _threads_as_scheduled()
    with heartbeat(run_dir) if is_main() else contextlib.nullcontext():  # "running" or "killed" to readers
        return _run_job(cfg, run_dir)


def _threads_as_scheduled() -> None:
    """Use the CPUs Slurm gave the job, not every core of the node.

    torch starts one thread per core; two jobs of one CPU each on a node then fight over its
    cores (measured: 4 smoke jobs took 6.4x as long as on joblib, whose workers get one thread
    each). OMP_NUM_THREADS, when set, is the user's choice and wins.
    """
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(int(cpus))


def _run_job(cfg: DictConfig, run_dir: Path) -> float:
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        metrics = run(cfg)  # a single run's errors reach the user (fine_tune.cli)
    else:
        earlier = jobs.finished_job(cfg)
        if earlier is not None and earlier.resolve() != run_dir.resolve():
            metrics = jobs.reuse(earlier, run_dir)
            group, label = _group_and_label(cfg, run_dir)
            log_reused_job(make_tracker(cfg, OmegaConf.to_container(cfg, resolve=True), run_dir, group, label),
                           metrics, _summary(metrics))  # the same final figures the job logged when it ran
            return jobs.objective_value(metrics, cfg.objective)
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
