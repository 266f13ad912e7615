"""Text helpers the curation steps share: normalisation, word shingles and n-grams."""

from __future__ import annotations

import re

from fine_tune.data.embedded import normalize_prompt as normalise  # one normalisation for split and dedup
from fine_tune.data.schema import response_text

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


def row_text(row: dict) -> str:
    """Prompt and target of a row, as one string: what two duplicates share."""
    return f"{row.get('prompt') or ''}\n{response_text(row, 'cot')}"


def shingles(text: str, size: int) -> set[bytes]:
    """Word `size`-grams of `text` (the whole text when it is shorter), UTF-8 encoded for MinHash."""
    tokens = words(text)
    if len(tokens) <= size:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    """Word n-grams; a text shorter than n counts as one n-gram of its own length."""
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}
