"""The comparison table: one row per job, in the reference study's terms.

Each job gives one *raw* row (numbers as numbers, None where a value is
missing), which is what comparison.csv and the W&B table hold; its display row
(formatted text) for comparison.md and index.html is fine_tune.compare.display's,
made from the same raw row, so the two cannot disagree.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fine_tune.compare.collect import Job, dig
from fine_tune.config import METHODS, LossKind
from fine_tune.evaluation.reasoning import MULTI_STEP
from fine_tune.run_folder import RunFolder

# Every raw field, in CSV column order: the display columns plus what they fold together.
RAW_FIELDS = [
    "job", "folder", "method", "data", "budget", "ablate", "curation", "seed", "train_rows", "eval_rows",
    "contaminated_eval", "epochs", "sft_train_loss", "dpo_train_loss", "grpo_train_loss", "eval_loss",
    "loss_response", "answer_loss", "convergence_epoch", "convergence_stage", "convergence_status",
    "tuned_accuracy", "tuned_accuracy_ci_low", "tuned_accuracy_ci_high", "accuracy_floor", "base_accuracy",
    "multi_step_accuracy", "multi_step_floor", "single_step_accuracy", "valid_chains", "win_rate", "win_rate_ci_low",
    "win_rate_ci_high", "winrate_judged", "winrate_baseline", "deepeval_accuracy", "deepeval_metrics", "cut_off",
    "wall_time_s", "status", "reason",
]



def number(value: Any) -> float | int | None:
    """`value` if it is a real number (JSON null, strings and booleans are not), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _first_number(*values: Any) -> float | int | None:
    return next((v for v in map(number, values) if v is not None), None)


def _stages(job: Job) -> list[str]:
    """The chain's stages in order: metrics.json first, then the composed config, then the folder name."""
    order = dig(job.metrics, "stages_order")
    if isinstance(order, list) and order:
        return [str(s) for s in order]
    method = job.config.get("method")
    if isinstance(method, dict) and method:
        return [str(s) for s in method]  # YAML mappings keep the chain order
    parts = job.label.split("_", 2)
    return parts[2].split("+") if len(parts) == 3 else []


def _override(job: Job, key: str) -> str | None:
    for item in job.overrides:
        name, _, value = item.lstrip("+~").partition("=")
        if name == key:
            return value
    return None


def _status(job: Job) -> tuple[str, str | None]:
    """(status, reason): reason is the unstable reason, the error's first line, or where it runs."""
    live = RunFolder(job.folder).status(job.metrics)  # started, or killed, before it could write its status
    if live is not None:
        return live
    if job.metrics is None:
        return "failed", job.problem
    status = str(job.metrics.get("status") or "unknown")
    if status == "unstable":
        return status, _first_line(job.metrics.get("unstable_reason"))
    if status in ("failed", "interrupted"):  # interrupted: exited or stopped (a requeued Slurm job resumes)
        return status, _first_line(job.metrics.get("error"))
    return status, None


def _first_line(text: Any) -> str | None:
    if text is None:
        return None
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else None


def _epochs(stages: Any) -> float | None:
    if not isinstance(stages, dict):
        return None
    values = [number(dig(s, "epochs")) for s in stages.values()]
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def raw_row(job: Job) -> dict[str, Any]:
    """The job's values, unformatted: what comparison.csv and the W&B table hold.

    Args:
        job: one loaded job; its metrics may be None or partial.

    Returns:
        A dict with every key of RAW_FIELDS (None where the job has no value).
    """
    m = job.metrics or {}
    data = job.config.get("data")
    status, reason = _status(job)
    stages = _stages(job)
    done = m.get("stages") if isinstance(m.get("stages"), dict) else {}
    deepeval_metrics = dig(m, "eval", "deepeval", "metrics")
    return {
        "job": job.num,
        "folder": job.label,
        "method": " → ".join(stages),
        "data": dig(data, "name") or dig(m, "data", "name") or _override(job, "data"),
        "budget": dig(job.config, "budget", "name") or "epochs",
        "ablate": dig(job.hydra, "runtime", "choices", "ablate") or _override(job, "ablate"),
        "curation": _curation(m),
        "seed": job.config.get("seed", _override(job, "seed")),
        "train_rows": number(dig(m, "data", "train_rows")),
        "eval_rows": number(dig(m, "eval", "prompts")) or number(dig(m, "data", "eval_rows")),
        "contaminated_eval": number(dig(m, "data", "contaminated_eval", "count")),
        "epochs": _epochs(m.get("stages")),
        # A failed chain has no top-level losses: fall back to the last stage that wrote one.
        **_stage_losses(done),
        "eval_loss": _first_number(dig(m, "eval", "loss", "eval_loss"), m.get("eval_loss")),
        "loss_response": dig(m, "eval", "loss", "response"),
        "answer_loss": number(dig(m, "eval", "loss", "answer_loss")),
        "convergence_epoch": number(dig(m, "eval", "convergence", "epoch")),
        "convergence_stage": dig(m, "eval", "convergence", "stage"),
        "convergence_status": dig(m, "eval", "convergence", "status"),
        "tuned_accuracy": number(dig(m, "tuned", "accuracy")),
        "tuned_accuracy_ci_low": number(dig(m, "tuned", "ci_low")),
        "tuned_accuracy_ci_high": number(dig(m, "tuned", "ci_high")),
        "accuracy_floor": number(dig(m, "tuned", "floor")),
        "base_accuracy": number(dig(m, "base", "accuracy")),
        "multi_step_accuracy": number(dig(m, "eval", "reasoning", "multi_step", "accuracy")),
        "multi_step_floor": _multi_step_floor(dig(m, "tuned", "per_skill")),
        "single_step_accuracy": number(dig(m, "eval", "reasoning", "single_step", "accuracy")),
        "valid_chains": number(dig(m, "eval", "reasoning", "valid_chains")),
        # the head-to-head against the reference pipeline, filled in by fine_tune.compare.paired
        "win_rate": None, "win_rate_ci_low": None, "win_rate_ci_high": None, "winrate_judged": None,
        "winrate_baseline": None,
        "deepeval_accuracy": number(dig(m, "eval", "deepeval", "accuracy")),
        "deepeval_metrics": ", ".join(deepeval_metrics) if isinstance(deepeval_metrics, dict) else None,
        "cut_off": number(dig(m, "eval", "generation", "cut_off")),
        "wall_time_s": number(m.get("wall_time_s")),
        "status": status,
        "reason": reason,
    }


def _stage_losses(stages: dict) -> dict[str, float | None]:
    """The final train loss of the last stage of each kind (sft_train_loss, dpo_train_loss, grpo_train_loss)."""
    losses: dict[str, float | None] = {f"{kind.value}_train_loss": None for kind in LossKind}
    for name, stage in stages.items():  # in chain order: a later stage of the same kind wins
        method = METHODS.get(str(name))
        if method and number(dig(stage, "final_train_loss")) is not None:
            losses[f"{method.loss.value}_train_loss"] = stage["final_train_loss"]
    return losses


def _multi_step_floor(per_skill: Any) -> float | None:
    """The constant-answer floor over the multi-step skills: each skill's best constant, weighted by its prompts."""
    if not isinstance(per_skill, dict):
        return None
    blocks = [b for s, b in per_skill.items() if s in MULTI_STEP and number(dig(b, "floor")) is not None
              and number(dig(b, "total"))]
    total = sum(b["total"] for b in blocks)
    return sum(b["floor"] * b["total"] for b in blocks) / total if total else None


def _curation(metrics: dict) -> str | None:
    """Which curation steps ran; `checkers` says that one of them read the rows' own checkers (an oracle)."""
    steps = [s.get("step") for s in dig(metrics, "data", "steps") or [] if isinstance(s, dict)]
    steps = [s for s in steps if s and s != "split"]
    if not steps:
        return None
    oracle = dig(metrics, "data", "uses_checkers")
    return "+".join(steps) + (" (checkers)" if oracle else "")


def csv_text(rows: list[dict]) -> str:
    """comparison.csv: every raw field, numbers unformatted, empty cells for missing values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RAW_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in RAW_FIELDS} for r in rows)
    return buffer.getvalue()
