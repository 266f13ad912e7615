"""data=curated: the cleaning pipeline, each step switchable (data.curation.<step>.enabled).

    1. exact_dedup      hash of normalised prompt + target; a group keeps the copy passing its checker
    2. noise            empty/truncated, garbled, extreme lengths, repetition, failed checkers
    3. near_dedup       MinHash LSH over word shingles (datasketch), same numbers in the prompt
    4. decontamination  eval prompts, or half an eval example's word 13-grams (template text left out)
    5. balance          a per-skill cap so no skill crowds out the rest

Noise goes before near-dedup: a broken copy of a good row (a wrong answer,
a garbled word) is close enough to be its near-duplicate, and if it came
first near-dedup would keep it and drop the good row (measured on the
embedded world: 4% of clean rows lost that way, none with this order).
Every removed row is kept with its step and reason (nothing disappears
silently); the report counts rows in and out of every step, with examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fine_tune.data.curation.balance import balance
from fine_tune.data.curation.decontaminate import decontaminate
from fine_tune.data.curation.dedup import exact_dedup, near_dedup
from fine_tune.data.curation.noise import filter_noise

EXAMPLES_PER_STEP = 3


@dataclass
class Curated:
    rows: list[dict]
    rejects: list[dict] = field(default_factory=list)  # {"step", "reason", "row"}
    steps: list[dict] = field(default_factory=list)  # {"step", "rows_in", "rows_out", "examples"}


def _steps(cfg, eval_rows: list[dict], show_progress: bool):
    """(name, function rows -> (kept, rejected)) for each enabled step, in order."""
    near = cfg.near_dedup
    plan = [
        # the copy kept is the one passing its checker, when checkers may be read at all
        ("exact_dedup", cfg.exact_dedup.enabled, lambda rows: exact_dedup(rows, cfg.noise.check_answers)),
        ("noise", cfg.noise.enabled, lambda rows: filter_noise(rows, cfg.noise)),
        ("near_dedup", near.enabled,
         lambda rows: near_dedup(rows, near.threshold, near.shingle_size, near.num_perm, show_progress)),
        ("decontamination", cfg.decontamination.enabled,
         lambda rows: decontaminate(rows, eval_rows, cfg.decontamination.ngram)),
        ("balance", cfg.balance.enabled, lambda rows: balance(rows, cfg.balance.max_skill_ratio)),
    ]
    return [(name, fn) for name, enabled, fn in plan if enabled]


def curate(rows: list[dict], eval_rows: list[dict], cfg, show_progress: bool = True) -> Curated:
    """Run the enabled steps of `cfg` (data.curation) over `rows`; eval rows are only read."""
    result = Curated(rows=list(rows))
    for name, step in _steps(cfg, eval_rows, show_progress):
        before = len(result.rows)
        result.rows, rejected = step(result.rows)
        result.rejects += [{"step": name, "reason": why, "row": row} for row, why in rejected]
        result.steps.append({
            "step": name,
            "rows_in": before,
            "rows_out": len(result.rows),
            "examples": [{"id": row["id"], "reason": why, "prompt": (row.get("prompt") or "")[:160]}
                         for row, why in rejected[:EXAMPLES_PER_STEP]],
        })
    return result
