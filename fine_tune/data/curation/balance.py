"""Quality retention: cap each skill so no skill crowds the others out (and none is starved).

The cap is `max_skill_ratio` times the median skill's row count; rows over it
are dropped from the end, so earlier rows are kept.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter


def balance(rows: list[dict], max_skill_ratio: float) -> tuple[list[dict], list[tuple[dict, str]]]:
    counts = Counter(row.get("skill") or "(none)" for row in rows)
    if len(counts) < 2:
        return rows, []
    cap = math.ceil(max_skill_ratio * statistics.median(counts.values()))
    seen: Counter = Counter()
    kept, rejected = [], []
    for row in rows:
        skill = row.get("skill") or "(none)"
        seen[skill] += 1
        if seen[skill] > cap:
            rejected.append((row, f"skill cap: more than {cap} rows of '{skill}'"))
        else:
            kept.append(row)
    return kept, rejected
