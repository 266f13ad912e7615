"""Seed spread: how much the headline numbers move when only the seed changes.

Jobs belong together when their overrides are the same once `seed=...` is
dropped (so `data=curated method=[sft_cot,dpo] seed=1,2,3` gives one group);
jobs without a readable overrides.yaml fall back to (method, data). A group
needs two or more jobs with different seeds. Spread is the sample standard
deviation (n - 1), the usual choice for a handful of seeds.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable

from fine_tune.compare.collect import Job
from fine_tune.compare.display import MISSING, markdown_table

# (raw key, header, how to show one value): the numbers the study compares runs by.
METRICS: list[tuple[str, str, Callable[[float], str]]] = [
    ("tuned_accuracy", "checker accuracy", lambda v: f"{v * 100:.1f}"),
    ("multi_step_accuracy", "multi-step skills", lambda v: f"{v * 100:.1f}"),
    ("win_rate", "WinRate vs SFT-CoT + DPO", lambda v: f"{v * 100:.1f}"),
    ("answer_loss", "answer-only loss", lambda v: f"{v:.4f}"),
    ("deepeval_accuracy", "DeepEval", lambda v: f"{v * 100:.1f}"),
]
PERCENT = {"win_rate", "deepeval_accuracy", "tuned_accuracy", "multi_step_accuracy"}
HEADERS = ["method", "data", "seeds", *(h for _, h, _ in METRICS)]


def _group_key(job: Job, row: dict) -> tuple:
    rest = sorted(o for o in job.overrides if o.lstrip("+~").partition("=")[0] != "seed")
    if job.overrides:
        return ("overrides", *rest)
    return ("method+data", row["method"], row["data"])


def seed_groups(jobs: list[Job], rows: list[dict]) -> list[list[dict]]:
    """Rows grouped by everything but the seed; only groups with two or more seeds.

    Args:
        jobs: the sweep's jobs.
        rows: their raw rows (`table.raw_row`), in the same order.

    Returns:
        The groups, in the order their first job appears.
    """
    groups: dict[tuple, list[dict]] = {}
    for job, row in zip(jobs, rows):
        groups.setdefault(_group_key(job, row), []).append(row)
    return [g for g in groups.values() if len({str(r["seed"]) for r in g}) > 1]


def _mean_std(values: list[float], show: Callable[[float], str], percent: bool) -> str:
    unit = "%" if percent else ""
    if not values:
        return MISSING
    if len(values) == 1:
        return f"{show(values[0])}{unit} (n=1)"
    return f"{show(statistics.fmean(values))}{unit} ± {show(statistics.stdev(values))} (n={len(values)})"


def spread_rows(groups: list[list[dict]]) -> list[list[str]]:
    """One text row per group: method, data, seeds, then mean ± std of each metric.

    Jobs without a value (a failed seed) are left out of that metric; n says how many counted.
    """
    table = []
    for group in groups:
        budget = group[0].get("budget")
        data = (group[0]["data"] or MISSING) + (f", {budget}" if budget not in (None, "epochs") else "")
        cells: list[Any] = [group[0]["method"] or MISSING, data]
        cells.append(", ".join(str(r["seed"]) for r in group))
        for key, _, show in METRICS:
            values = [r[key] for r in group if r[key] is not None]
            cells.append(_mean_std(values, show, key in PERCENT))
        table.append([str(c) for c in cells])
    return table


def spread_markdown(groups: list[list[dict]]) -> str:
    """The seed-spread table as markdown, or a line saying there is nothing to spread."""
    if not groups:
        return "No jobs differ only by seed."
    return markdown_table(HEADERS, spread_rows(groups), [False, False, False, *(True for _ in METRICS)])
