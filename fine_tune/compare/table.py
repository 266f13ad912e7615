"""The comparison table: one row per job, in the reference study's terms.

Each job gives one *raw* row (numbers as numbers, None where a value is
missing), which is what comparison.csv and the W&B table hold, and one
*display* row (formatted text, "—" where missing) for comparison.md and
index.html. Both come from the same raw row, so they cannot disagree.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from fine_tune.compare.collect import Job, dig
from fine_tune.config import METHODS, LossKind
from fine_tune.evaluation.reasoning import MULTI_STEP
from fine_tune.run_folder import RunFolder

MISSING = "—"

# (raw key, display header, right-aligned?) for the markdown and HTML tables.
COLUMNS: list[tuple[str, str, bool]] = [
    ("job", "job", True),
    ("method", "method", False),
    ("data", "data", False),
    ("budget", "budget", False),
    ("seed", "seed", True),
    ("train_rows", "train rows", True),
    ("eval_rows", "eval prompts", True),
    ("contaminated_eval", "eval prompts in train rows", True),
    ("epochs", "epochs", True),
    # one column per kind of stage: SFT's cross-entropy, DPO's preference loss and GRPO's policy loss
    # are different quantities and never share a column
    ("sft_train_loss", "SFT final train loss", True),
    ("dpo_train_loss", "DPO final train loss", True),
    ("grpo_train_loss", "GRPO final train loss", True),
    ("eval_loss", "eval loss (own format)", True),
    ("answer_loss", "answer loss, prompt alone (mean over prompts)", True),
    ("convergence_epoch", "converged (epoch)", True),
    ("tuned_accuracy", "checker accuracy [95% CI]", True),
    ("accuracy_floor", "constant-answer floor", True),
    ("multi_step_accuracy", "multi-step skills (floor)", True),
    ("win_rate", "WinRate vs SFT-CoT + DPO, checker judge [CI]", True),
    ("deepeval_accuracy", "DeepEval", True),
    ("cut_off", "cut off", True),
    ("wall_time_s", "wall time", True),
    ("status", "status", False),
]

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


def fmt_float(value: Any, digits: int = 4) -> str:
    value = number(value)
    return MISSING if value is None else f"{value:.{digits}f}"


def fmt_percent(fraction: Any) -> str:
    """0.068 -> '6.8%'."""
    fraction = number(fraction)
    return MISSING if fraction is None else f"{fraction * 100:.1f}%"


def fmt_duration(seconds: Any) -> str:
    """422 -> '7m 02s'; 3723 -> '1h 02m 03s'."""
    seconds = number(seconds)
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _with_interval(value: Any, low: Any, high: Any) -> str:
    text = fmt_percent(value)
    if text != MISSING and number(low) is not None and number(high) is not None:
        text += " (all tied)" if low == high == value else f" [{low * 100:.1f}, {high * 100:.1f}]"
    return text


def _fmt_win_rate(row: dict) -> str:
    if row["winrate_baseline"] == "itself":
        return "(reference)"
    return _with_interval(row["win_rate"], row["win_rate_ci_low"], row["win_rate_ci_high"])


def _fmt_convergence(row: dict) -> str:
    if row["convergence_epoch"] is not None:
        stage = f" ({row['convergence_stage']})" if row["convergence_stage"] else ""
        return f"{row['convergence_epoch']:g}{stage}"
    return str(row["convergence_status"]) if row["convergence_status"] else MISSING


def _fmt_plain(value: Any) -> str:
    return MISSING if value is None or value == "" else str(value)


def display_row(row: dict) -> dict[str, str]:
    """The raw row as the text each COLUMNS cell shows.

    Args:
        row: a row from `raw_row`.

    Returns:
        Header key -> text, "—" where the job has no value.
    """
    epochs = row["epochs"]
    return {
        "job": _fmt_plain(row["job"] if row["job"] is not None else row["folder"]),
        "method": _fmt_plain(row["method"]),
        "data": _fmt_plain(row["data"]) + (f" ({row['ablate']})" if row["ablate"] not in (None, "none") else "")
        + (" (checker-filtered)" if "(checkers)" in (row["curation"] or "") else ""),
        "seed": _fmt_plain(row["seed"]),
        "train_rows": _fmt_plain(row["train_rows"]),
        "eval_rows": _fmt_plain(row["eval_rows"]),
        "epochs": MISSING if epochs is None else f"{round(epochs, 2):g}",
        "budget": _fmt_plain(row["budget"]),
        "contaminated_eval": _fmt_plain(row["contaminated_eval"]),
        "sft_train_loss": fmt_float(row["sft_train_loss"]),
        "dpo_train_loss": fmt_float(row["dpo_train_loss"]),
        "grpo_train_loss": fmt_float(row["grpo_train_loss"]),
        "eval_loss": fmt_float(row["eval_loss"]) + (f" ({row['loss_response']})" if row["loss_response"] else ""),
        "answer_loss": fmt_float(row["answer_loss"]),
        "convergence_epoch": _fmt_convergence(row),
        "tuned_accuracy": _with_interval(row["tuned_accuracy"], row["tuned_accuracy_ci_low"],
                                         row["tuned_accuracy_ci_high"]),
        "accuracy_floor": fmt_percent(row["accuracy_floor"]),
        "multi_step_accuracy": fmt_percent(row["multi_step_accuracy"])
        + (f" ({fmt_percent(row['multi_step_floor'])})" if row["multi_step_floor"] is not None else ""),
        "win_rate": _fmt_win_rate(row),
        "deepeval_accuracy": fmt_percent(row["deepeval_accuracy"]),
        "cut_off": fmt_percent(row["cut_off"]),
        "wall_time_s": fmt_duration(row["wall_time_s"]),
        "status": row["status"] + (f": {row['reason']}" if row["reason"] else ""),
    }


def markdown_table(headers: list[str], rows: list[list[str]], right: list[bool] | None = None) -> str:
    """A GitHub-flavoured markdown table; `|` and line breaks in cells are escaped."""
    right = right or [False] * len(headers)

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    rule = "|" + "|".join("---:" if r else "---" for r in right) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def headers(rows: list[dict]) -> list[str]:
    """The column headers; the DeepEval one names what was measured (the checker metric alone offline)."""
    return [deepeval_header(rows) if key == "deepeval_accuracy" else h for key, h, _ in COLUMNS]


def deepeval_header(rows: list[dict]) -> str:
    ran = list(dict.fromkeys(m for r in rows for m in (r["deepeval_metrics"] or "").split(", ") if m))
    if ran == ["checker_correctness"]:
        return "DeepEval (checker metric)"
    return f"DeepEval ({', '.join(m.replace('_', ' ') for m in ran)})" if ran else "DeepEval"


def comparison_markdown(rows: list[dict]) -> str:
    """The main table, one line per job, from raw rows."""
    shown = [display_row(r) for r in rows]
    return markdown_table(headers(rows), [[d[k] for k, _, _ in COLUMNS] for d in shown], [r for _, _, r in COLUMNS])


def csv_text(rows: list[dict]) -> str:
    """comparison.csv: every raw field, numbers unformatted, empty cells for missing values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RAW_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in RAW_FIELDS} for r in rows)
    return buffer.getvalue()
