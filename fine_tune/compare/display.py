"""The comparison table as text: one display row per job (formatted, "—" where missing) for
comparison.md and index.html, from the raw rows fine_tune.compare.table builds, so the two cannot disagree."""

from __future__ import annotations

import math
from typing import Any

from fine_tune.compare.table import number

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
