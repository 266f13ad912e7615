"""Decontamination: drop train rows that share a word n-gram with an eval example.

13-grams by default (as GPT-3's and Llama 2's reports did), over prompt and
target together: a leaked eval example is found whether its question was
reworded or not. A text shorter than n words counts as one n-gram of its own
length, so short examples are compared whole.
"""

from __future__ import annotations

from fine_tune.data.curation.text import ngrams, row_text, words


def decontaminate(rows: list[dict], eval_rows: list[dict], n: int) -> tuple[list[dict], list[tuple[dict, str]]]:
    owner: dict[tuple[str, ...], str] = {}
    for row in eval_rows:
        for gram in ngrams(words(row_text(row)), n):
            owner.setdefault(gram, row["id"])
    kept, rejected = [], []
    for row in rows:
        hit = next((owner[g] for g in ngrams(words(row_text(row)), n) if g in owner), None)
        if hit is None:
            kept.append(row)
        else:
            rejected.append((row, f"overlaps eval example {hit} (a shared {n}-gram)"))
    return kept, rejected
