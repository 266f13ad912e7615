"""Duplicate removal: exact (hash of normalised prompt and target), then near (MinHash LSH).

Both keep the first row of each group, so which copy survives depends only on
the order of the data, never on labels the curation cannot see.
"""

from __future__ import annotations

import hashlib

from tqdm.auto import tqdm

from fine_tune.data.curation.text import normalise, row_text, shingles
from fine_tune.errors import UserError

Rejected = list[tuple[dict, str]]


def exact_dedup(rows: list[dict]) -> tuple[list[dict], Rejected]:
    """Drop rows whose normalised prompt + target was seen before."""
    first: dict[str, str] = {}
    kept, rejected = [], []
    for row in rows:
        key = hashlib.sha256(normalise(row_text(row)).encode()).hexdigest()
        if key in first:
            rejected.append((row, f"exact duplicate of {first[key]}"))
        else:
            first[key] = row["id"]
            kept.append(row)
    return kept, rejected


def near_dedup(rows: list[dict], threshold: float, shingle_size: int, num_perm: int,
               show_progress: bool = True) -> tuple[list[dict], Rejected]:
    """Drop rows whose estimated Jaccard similarity to an earlier kept row is >= threshold.

    Shingles are word n-grams of prompt + target; MinHash signatures are built
    in bulk (datasketch's vectorised path) and LSH proposes candidates, each
    confirmed against the signature's Jaccard estimate before a row is dropped.
    """
    # imported here: datasketch loads scipy.integrate (~0.7 s), which a run on cached curated data never needs
    from datasketch import MinHash, MinHashLSH

    signatures = MinHash.bulk((shingles(row_text(r), shingle_size) for r in rows), num_perm=num_perm)
    try:
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    except ValueError as err:  # datasketch cannot band extreme thresholds
        raise UserError(f"data.curation.near_dedup: {err} for threshold={threshold}, num_perm={num_perm}; "
                        "lower the threshold or raise num_perm") from err
    kept, rejected = [], []
    for index, (row, sig) in enumerate(
        tqdm(zip(rows, signatures), total=len(rows), desc="near-dedup", disable=not show_progress)
    ):
        # LSH candidates are probable matches; the signature estimate confirms them.
        twin = next((i for i in lsh.query(sig) if signatures[i].jaccard(sig) >= threshold), None)
        if twin is not None:
            rejected.append((row, f"near duplicate of {rows[twin]['id']}"))
            continue
        lsh.insert(index, sig, check_duplication=False)
        kept.append(row)
    return kept, rejected
