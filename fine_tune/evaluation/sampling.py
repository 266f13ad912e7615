"""Which eval rows each measure reads: all of them, or a deterministic sample stratified by skill.

`eval.max_prompts` caps the prompts that are generated from (and so judged and scored);
`eval.max_loss_rows` caps the rows of the held-out loss and of the trainers' own
evaluation, which on a large test split (1,319 GSM8K rows) would otherwise cost minutes
a stage. A cap gives each skill its share, so a capped set still covers every skill.
"""

from __future__ import annotations

import math
from collections import defaultdict

from fine_tune.data.embedded import stable_hash


def stratified_sample(rows: list[dict], cap: int | None) -> list[dict]:
    """All rows, or `cap` of them stratified by skill.

    Each skill gets its share of the cap (largest remainders first, at least one per skill
    when the cap allows); within a skill, rows are ranked by a stable hash of their id, so
    the sample is the same on every machine. Input order is kept.
    """
    if not cap or cap >= len(rows):
        return list(rows)
    by_skill: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_skill[row.get("skill") or ""].append(row)
    exact = {skill: cap * len(group) / len(rows) for skill, group in by_skill.items()}
    quota = {skill: math.floor(x) for skill, x in exact.items()}
    if cap >= len(by_skill):  # every skill is seen: a small skill's 0 takes one from the largest
        for skill in [k for k in quota if quota[k] == 0]:
            quota[max(quota, key=quota.get)] -= 1
            quota[skill] = 1
    for skill in sorted(exact, key=lambda k: (quota[k] - exact[k], k))[: cap - sum(quota.values())]:
        quota[skill] += 1  # the rest by largest remainder
    chosen = set()
    for skill, group in by_skill.items():
        ranked = sorted(group, key=lambda r: stable_hash("eval-sample", r["id"]))
        chosen.update(r["id"] for r in ranked[: quota[skill]])
    return [r for r in rows if r["id"] in chosen]


def eval_rows(rows: list[dict], eval_cfg) -> list[dict]:
    """The prompts generations are made for: every eval row, or eval.max_prompts of them."""
    return stratified_sample(rows, eval_cfg.max_prompts)


def loss_rows(rows: list[dict], eval_cfg) -> list[dict]:
    """The rows the held-out loss and the trainers' evaluation read: all, or eval.max_loss_rows of them."""
    return stratified_sample(rows, eval_cfg.max_loss_rows)
