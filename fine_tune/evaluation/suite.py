"""Everything measured after a run (or a stage): accuracy, reasoning, loss, convergence, WinRate, DeepEval.

Called by the training run for the final model (and per stage with eval.per_stage=true)
and by `fine-tune-eval` for a finished run. The model is loaded only when something
needs it: generations already on disk (same prompts, same decoding) are reused, so a
new judge or baseline costs judge calls only.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fine_tune.cache import cache_path
from fine_tune.config import JudgeKind
from fine_tune.evaluation.accuracy import checker_accuracy
from fine_tune.evaluation.baselines import baseline_responses
from fine_tune.evaluation.deepeval_suite import deepeval_scores
from fine_tune.evaluation.generations import Decoding, generations_for
from fine_tune.evaluation.judge_cache import JudgmentCache
from fine_tune.evaluation.judges import CachedJudge, make_judge
from fine_tune.evaluation.loss import eval_loss, run_convergence
from fine_tune.evaluation.reasoning import reasoning_measures
from fine_tune.evaluation.winrate import judge_pairs, summarize
from fine_tune.outputs import write_text_atomic
from fine_tune.run_folder import RunFolder

log = logging.getLogger(__name__)


@dataclass
class EvalTarget:
    """What to evaluate and where its files go."""

    label: str  # "tuned", or "NN-<stage>" for a per-stage evaluation
    model_loader: Callable  # () -> (model, tokenizer), called at most once
    rows: list[dict]  # the prompts generated from: eval rows, cut to eval.max_prompts
    loss_rows: list[dict]  # the held-out loss's rows: eval rows, cut to eval.max_loss_rows
    run_dir: Path
    cache_dir: str | None
    seed: int
    decoding: Decoding  # the generation budget and the prompts' answer instruction
    response: str = "cot"  # the run's own response format: its held-out loss is scored in it
    max_length: int = 1024
    reuse_generations: bool = True  # False right after training: the model is new


def evaluate(eval_cfg, target: EvalTarget, stages: dict, base_records: list[dict] | None) -> tuple[dict, list]:
    """All measures of `target`; returns (results for metrics.json["eval"], W&B sample rows)."""
    loader = functools.cache(target.model_loader)  # loaded at most once, and only if needed
    folder = RunFolder(target.run_dir).generations
    records = generations_for(loader, target.rows, target.decoding, target.label, folder, target.reuse_generations)
    # a bad baseline fails now, before the loss pass loads the model
    baseline = baseline_responses(str(eval_cfg.baseline), records, target.run_dir, base_records) \
        if eval_cfg.baseline else None
    results: dict = {"prompts": len(records), "accuracy": checker_accuracy(records),
                     "reasoning": reasoning_measures(records),
                     "generation": {"max_new_tokens": target.decoding.max_new_tokens,
                                    "instruction": target.decoding.instruction,
                                    "budget": "eval.max_new_tokens" if eval_cfg.max_new_tokens else "references + 25%",
                                    "cut_off": _share(r.get("cut_off") for r in records)}}
    if eval_cfg.loss:
        model, tokenizer = loader()
        results["loss"], per_row = eval_loss(model, tokenizer, target.loss_rows, eval_cfg.batch_size,
                                             target.max_length, target.response, target.decoding.instruction)
        _write_jsonl(RunFolder(target.run_dir).eval / f"{target.label}_loss.jsonl", per_row)
    results["convergence"] = run_convergence(stages, eval_cfg.convergence_tolerance)
    judge_kind = JudgeKind(eval_cfg.judge.kind).value
    client = None
    if judge_kind == "llm" and (eval_cfg.baseline or eval_cfg.deepeval):
        # heavy: openai and a judge model, only for an llm judge
        from fine_tune.evaluation.judge_clients import make_client

        client = make_client(eval_cfg.judge)
    outcomes: list[dict] = []
    if baseline is not None:
        results["winrate"], outcomes = _winrate(eval_cfg, target, records, baseline, client)
    if eval_cfg.deepeval:
        results["deepeval"] = deepeval_scores(records, client, eval_cfg.deepeval_threshold, target.cache_dir)
    return results, _samples(records, outcomes, eval_cfg.logged_samples)


def _winrate(eval_cfg, target: EvalTarget, records, labelled_baseline, client) -> tuple[dict, list[dict]]:
    label, baseline = labelled_baseline
    pairs = [(r, r["response"], baseline[r["id"]]) for r in records if r["id"] in baseline]
    cache = JudgmentCache(cache_path(target.cache_dir, "judgments.sqlite") if target.cache_dir else None)
    judge = CachedJudge(make_judge(eval_cfg.judge, client), cache)
    try:
        outcomes = judge_pairs(judge, pairs)
    finally:
        cache.close()
    summary = summarize(outcomes, eval_cfg.bootstrap_samples, eval_cfg.confidence_level, target.seed)
    summary.update(baseline=label, judge=judge.name, judge_calls=judge.calls,
                   unmatched=len(records) - len(pairs))  # prompts the baseline has no answer for
    _write_jsonl(RunFolder(target.run_dir).eval / f"{target.label}_judgments.jsonl", outcomes)
    log.info("WinRate vs %s (%s judge): %s", label, judge.name, summary["win_rate"])
    return summary, outcomes


def _write_jsonl(path: Path, items: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))


def _share(flags) -> float | None:
    flags = [bool(f) for f in flags if f is not None]
    return sum(flags) / len(flags) if flags else None


def _samples(records: list[dict], outcomes: list[dict], limit: int) -> list[list]:
    """Rows of the W&B samples table: prompt, answer, reference, checker verdict, judge's verdict."""
    verdicts = {o["id"]: o["result"] for o in outcomes}
    return [[r["prompt"], r["response"], r.get("reference"), r.get("correct"), verdicts.get(r["id"])]
            for r in records[:limit]]


SAMPLE_COLUMNS = ["prompt", "response", "reference", "checker_correct", "winrate_verdict"]


def record(metrics: dict, results: dict, samples: list[list], tracker) -> None:
    """File an evaluation of the final model: metrics.json's eval, tuned accuracy and held-out loss; W&B."""
    metrics["eval"] = results
    if results["accuracy"] is not None:
        metrics["tuned"] = results["accuracy"]
    if (results.get("loss") or {}).get("eval_loss") is not None:
        metrics["eval_loss"] = results["loss"]["eval_loss"]
    tracker.log_summary(summary_metrics(results))
    tracker.log_table("eval/samples", SAMPLE_COLUMNS, samples)


def summary_metrics(results: dict, prefix: str = "eval") -> dict:
    """Flat W&B summary keys of one evaluation."""
    flat = {}
    accuracy = results.get("accuracy")
    if accuracy:
        flat[f"{prefix}/checker_accuracy"] = accuracy["accuracy"]
        flat[f"{prefix}/checker_accuracy_ci_low"], flat[f"{prefix}/checker_accuracy_ci_high"] = \
            accuracy["ci_low"], accuracy["ci_high"]
        flat[f"{prefix}/constant_answer_floor"] = accuracy["floor"]
        for skill, block in accuracy["per_skill"].items():
            flat[f"{prefix}/checker_accuracy/{skill}"] = block["accuracy"]
            flat[f"{prefix}/constant_answer_floor/{skill}"] = block["floor"]
    for group in ("multi_step", "single_step"):
        if results.get("reasoning"):
            flat[f"{prefix}/{group}_accuracy"] = results["reasoning"][group]["accuracy"]
    if results.get("reasoning"):
        flat[f"{prefix}/valid_chains"] = results["reasoning"]["valid_chains"]
    if results.get("generation"):
        flat[f"{prefix}/cut_off"] = results["generation"]["cut_off"]
    if results.get("loss"):
        flat[f"{prefix}/loss"], flat[f"{prefix}/perplexity"] = results["loss"]["eval_loss"], results["loss"]["perplexity"]
        flat[f"{prefix}/answer_loss"] = results["loss"]["answer_loss"]
    flat[f"{prefix}/convergence_epoch"] = results["convergence"]["epoch"]
    for key in ("win_rate", "ci_low", "ci_high", "position_consistency", "wins", "losses", "ties", "invalid"):
        if results.get("winrate"):
            flat[f"{prefix}/winrate/{key}"] = results["winrate"][key]
    if results.get("deepeval"):
        flat[f"{prefix}/deepeval_accuracy"] = results["deepeval"]["accuracy"]
        for name, m in results["deepeval"]["metrics"].items():
            flat[f"{prefix}/deepeval/{name}"] = m["mean_score"]
    return {key: value for key, value in flat.items() if value is not None}
