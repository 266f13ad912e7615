"""Score a curation run against the embedded generator's defect labels (which curation never reads).

A duplicate group is a clean row and its exact or near copies: curation does
right by keeping exactly one member of it, whichever it is. Every other
defect (wrong or truncated answer, garbled text, eval contamination) should
be gone. A clean row counts as kept when its problem survives, itself or
through a copy.
"""

from __future__ import annotations

from collections import defaultdict

DUPLICATES = ("exact_duplicate", "near_duplicate")


def label_scores(raw: list[dict], kept_ids: set[str]) -> dict:
    """Scores of a curation that kept `kept_ids` of `raw`.

    Returns:
        {"defects_removed", "clean_kept" (shares), "clean_problems", "clean_lost" (counts of the
        generator's clean unique problems, and of those no copy of which survived),
        "per_defect": {label: share removed}}.
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    removed: dict[str, list[bool]] = defaultdict(list)
    for row in raw:
        if row["defect"] is None or row["defect"] in DUPLICATES:
            groups[row["source_id"] or row["id"]].append(row)
        else:
            removed[row["defect"]].append(row["id"] not in kept_ids)
    clean_total = clean_kept = 0
    for members in groups.values():
        survivors = sum(m["id"] in kept_ids for m in members)
        clean_total += any(m["defect"] is None for m in members)
        clean_kept += survivors > 0
        copies = [m for m in members if m["defect"] is not None]
        surplus = max(0, survivors - 1)  # copies kept beyond the one allowed
        for k, member in enumerate(copies):
            removed[member["defect"]].append(k >= surplus)
    total = sum(len(v) for v in removed.values())
    return {
        "defects_removed": sum(sum(v) for v in removed.values()) / total if total else 1.0,
        "clean_kept": clean_kept / clean_total if clean_total else 1.0,
        "clean_problems": clean_total,
        "clean_lost": clean_total - clean_kept,
        "per_defect": {label: sum(v) / len(v) for label, v in sorted(removed.items())},
    }
