"""Duplicate removal: exact (hash of normalised prompt and target), then near (MinHash LSH).

Which copy of a group survives depends only on the order of the data and, for
exact copies, on the rows' own checkers (the oracle the noise step reads too),
never on labels the curation cannot see.
"""

from __future__ import annotations

import hashlib
import re

from tqdm.auto import tqdm

from fine_tune.data.curation.noise import passes_checker
from fine_tune.data.curation.text import normalise, row_text, shingles
from fine_tune.errors import UserError

Rejected = list[tuple[dict, str]]
_NUMBER = re.compile(r"\d+")  # digit runs: "1,3,2" and "1, 3, 2" are the same numbers


def _survivor(rows: list[dict], group: list[int], use_checkers: bool) -> int:
    """The index a group of exact copies keeps: the first that passes its checker, else the first.

    Normalising folds case, so "Spell bed in capital letters." answered "BED" and a
    wrong copy answering "bed" are one group; keeping whichever came first lost 13
    format problems of the embedded world, as the noise step then dropped the wrong copy.
    """
    if not use_checkers or len(group) == 1:
        return group[0]
    return next((i for i in group if passes_checker(rows[i])), group[0])


def exact_dedup(rows: list[dict], use_checkers: bool = True) -> tuple[list[dict], Rejected]:
    """Keep one row of each group whose normalised prompt + target is the same; kept rows keep their order.

    Args:
        rows: the rows to deduplicate.
        use_checkers: prefer the copy whose answer passes its own checker (data.curation.noise.check_answers).

    Returns:
        (kept rows, [(rejected row, reason naming the copy kept)]).
    """
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        key = hashlib.sha256(normalise(row_text(row)).encode()).hexdigest()
        groups.setdefault(key, []).append(index)
    why: dict[int, str] = {}
    for group in groups.values():
        keep = _survivor(rows, group, use_checkers)
        note = " (the copy that passes its checker)" if keep != group[0] else ""
        why.update({i: f"exact duplicate of {rows[keep]['id']}{note}" for i in group if i != keep})
    kept = [row for index, row in enumerate(rows) if index not in why]
    return kept, [(rows[index], reason) for index, reason in sorted(why.items())]


def _numbers(row: dict) -> list[str]:
    """The numbers of a row's prompt, in order: a retyped question keeps them, another problem does not."""
    return _NUMBER.findall(row.get("prompt") or "")


def near_dedup(rows: list[dict], threshold: float, shingle_size: int, num_perm: int,
               show_progress: bool = True) -> tuple[list[dict], Rejected]:
    """Drop rows whose estimated Jaccard similarity to an earlier kept row is >= threshold.

    Shingles are word n-grams of prompt + target; MinHash signatures are built
    in bulk (datasketch's vectorised path) and LSH proposes candidates, each
    confirmed against the signature's Jaccard estimate before a row is dropped.
    A candidate whose prompt has other numbers is another problem, however alike
    the words ("sort 1, 3, 2" and "sort 1, 3, 2, 2" share 0.7 of their shingles):
    on the embedded world that rule alone kept 20 clean problems near-dedup took.
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
        twin = next((i for i in lsh.query(sig)
                     if signatures[i].jaccard(sig) >= threshold and _numbers(rows[i]) == _numbers(row)), None)
        if twin is not None:
            rejected.append((row, f"near duplicate of {rows[twin]['id']}"))
            continue
        lsh.insert(index, sig, check_duplication=False)
        kept.append(row)
    return kept, rejected
