"""Noise filters: empty or truncated targets, garbled text, extreme lengths, repetition, failed checks.

Each filter returns a reason for a bad row or None; the first reason wins and
goes with the row to the rejects file.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from ftfy.badness import is_bad

from fine_tune.answers import is_correct
from fine_tune.data.curation.text import row_text, words
from fine_tune.data.schema import is_structured, response_text

ALLOWED_CONTROL = {"\n", "\t", "\r"}


def _nonprintable(text: str) -> str | None:
    for ch in text:
        if ch in ALLOWED_CONTROL:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") or ch == "\ufffd":
            return f"garbled: non-printable character U+{ord(ch):04X}"
    return None


def _repetition(text: str, max_share: float) -> str | None:
    """Share of word 3-grams that repeat an earlier one ("spelled spelled spelled ...").

    Numbers count as words: step-by-step arithmetic repeats its phrasing
    ("In year 2 he pays ... In year 3 he pays ...") but not its numbers.
    """
    tokens = words(text)
    if len(tokens) < 12:
        return None
    grams = list(zip(tokens, tokens[1:], tokens[2:]))
    repeated = 1 - len(set(grams)) / len(grams)
    return f"heavy repetition: {repeated:.0%} of word 3-grams repeat" if repeated > max_share else None


class Vocabulary:
    """Words of 4+ letters and how many rows use them, to spot scrambled words.

    A scrambled word ("stcikers") is used by one row only and is an anagram of
    a word many rows use ("stickers"); a rare name ("Weng") is not.
    """

    def __init__(self, rows: list[dict]):
        self.rows_using: Counter = Counter()
        for row in rows:
            self.rows_using.update(w for w in set(words(row_text(row))) if w.isalpha() and len(w) >= 4)
        self.common_by_letters: dict[str, str] = {}
        for word, n in self.rows_using.most_common():
            if n > 1:
                self.common_by_letters.setdefault("".join(sorted(word)), word)

    def scrambled(self, text: str) -> list[tuple[str, str]]:
        """(scrambled word, the common word it is an anagram of) for each in `text`."""
        found = []
        for word in {w for w in words(text) if w.isalpha() and len(w) >= 4}:
            twin = self.common_by_letters.get("".join(sorted(word)))
            if self.rows_using[word] <= 1 and twin and twin != word:
                found.append((word, twin))
        return found


def _unknown_words(text: str, vocabulary: Vocabulary, cfg) -> str | None:
    scrambled = vocabulary.scrambled(text)
    if len(scrambled) >= cfg.min_unknown_words:
        shown = ", ".join(f"{w!r} ({t!r} scrambled)" for w, t in sorted(scrambled)[:3])
        return f"garbled: scrambled words {shown}"
    return None


def passes_checker(row: dict) -> bool | None:
    """Whether the row's own target passes its checker spec; None when the row has no checker."""
    if not row.get("check"):
        return None
    return is_correct(response_text(row, "cot"), row)


def reason(row: dict, vocabulary: Vocabulary | None, cfg) -> str | None:
    """Why `row` is noise, or None when it passes every enabled filter."""
    target = response_text(row, "cot")
    text = row_text(row)
    if not (row.get("prompt") or "").strip():
        return "empty prompt"
    if not target.strip() or (is_structured(row) and not str(row["answer"]).strip()):
        return "empty or truncated response: no final answer"
    if len(text) > cfg.max_chars:
        return f"too long: {len(text)} characters > {cfg.max_chars}"
    if len(words(row["prompt"])) < cfg.min_prompt_words:
        return f"too short: prompt under {cfg.min_prompt_words} words"
    for check in (_nonprintable(text), "garbled: mojibake" if is_bad(text) else None,
                  _repetition(target, cfg.max_repetition),
                  _unknown_words(text, vocabulary, cfg) if vocabulary else None):
        if check:
            return check
    if cfg.check_answers and passes_checker(row) is False:
        return f"answer fails its checker (answer {row.get('answer')!r})"
    return None


def filter_noise(rows: list[dict], cfg) -> tuple[list[dict], list[tuple[dict, str]]]:
    vocabulary = Vocabulary(rows) if cfg.unknown_words else None
    kept, rejected = [], []
    for row in rows:
        why = reason(row, vocabulary, cfg)
        (rejected.append((row, why)) if why else kept.append(row))
    return kept, rejected
