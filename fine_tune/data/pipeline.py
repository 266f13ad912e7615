"""From `cfg.data` to the rows the stages train and evaluate on.

The embedded world (fine_tune.data.embedded) gives a raw train set and a fixed
eval set; `data=raw` trains on raw as it is, `data=curated` cleans it first.
The eval set is the same for both, so runs on either compare on equal terms.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import cached_property

from fine_tune.data.embedded import build_world, cot_response, normalize_prompt
from fine_tune.outputs import fingerprint

log = logging.getLogger(__name__)


@dataclass
class Splits:
    train: list[dict]
    eval: list[dict]
    # rows in and out of every curation step, for metrics.json
    report: dict = field(default_factory=dict)

    @cached_property
    def fingerprints(self) -> dict[str, str]:
        """Content hashes of the rows: the manifest records them, caches key on them."""
        return {"train": fingerprint(self.train), "eval": fingerprint(self.eval)}


def exact_dedup(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Keep the first row of each (normalised prompt, response); return (kept, removed)."""
    seen: set[str] = set()
    kept, removed = [], []
    for row in rows:
        key = hashlib.sha256(f"{normalize_prompt(row['prompt'])}\x00{cot_response(row)}".encode()).hexdigest()
        (removed if key in seen else kept).append(row)
        seen.add(key)
    return kept, removed


def load_splits(data_cfg, show_progress: bool = True) -> Splits:
    """The train and eval rows `cfg.data` describes, with a report of what curation removed."""
    emb = data_cfg.embedded
    world = build_world(
        seed=emb.seed,
        clean_size=emb.clean_size,
        eval_fraction=emb.eval_fraction,
        defect_rate=emb.defect_rate,
        show_progress=show_progress,
    )
    train = list(world.raw)
    report = {"source": "embedded", "raw_rows": len(train), "steps": []}
    if data_cfg.curation.enabled and data_cfg.curation.exact_dedup:
        train, removed = exact_dedup(train)
        report["steps"].append({"step": "exact_dedup", "rows_in": len(train) + len(removed), "rows_out": len(train)})
    if data_cfg.max_samples is not None:
        train = train[: data_cfg.max_samples]
    report.update(train_rows=len(train), eval_rows=len(world.eval))
    log.info("data=%s: %d train rows, %d eval rows", data_cfg.name, len(train), len(world.eval))
    return Splits(train=train, eval=world.eval, report=report)
