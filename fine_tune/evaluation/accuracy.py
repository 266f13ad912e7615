"""Checker accuracy with its Wilson interval, beside the constant-answer floor, overall and per skill.

The floor of a skill is the accuracy of always giving one answer: the single gold answer
of that skill's eval rows that the most of them accept (the most common number, list,
weekday or JSON string). A model near its floor has learned the answer distribution, not
the skill. The overall floor gives every skill its own best constant.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from fine_tune.answers import is_correct
from fine_tune.evaluation.stats import wilson


def _block(correct: int, total: int, floor: float | None) -> dict:
    low, high = wilson(correct, total)
    return {"accuracy": correct / total if total else None, "correct": correct, "total": total,
            "ci_low": low, "ci_high": high, "floor": floor}


def constant_floor(records: list[dict]) -> tuple[int, str | None]:
    """(rows accepted, the answer) for the best single gold answer among `records` (same skill).

    Every gold answer is tried against every row's checker, so answers the checker treats
    as equal (`Monday` and `monday`, `7` and `7.0`) count together.
    """
    golds = list(dict.fromkeys(str(r["answer"]) for r in records if r.get("answer") not in (None, "")))
    best, best_answer = 0, None
    for gold in golds:
        accepted = sum(is_correct(f"Answer: {gold}", r) for r in records)
        if accepted > best:
            best, best_answer = accepted, gold
    return best, best_answer


def checker_accuracy(records: list[dict]) -> dict | None:
    """Accuracy of generation records (see generations.generations_for) that carry a checker verdict.

    Returns:
        {"accuracy", "correct", "total", "ci_low", "ci_high", "floor", "per_skill":
        {skill: the same keys plus "floor_answer"}, "cut_off", "conventions": {convention: answers
        found by it}}, or None when no record has a
        checker (free-form data is judged by WinRate and DeepEval instead). "floor" is None
        when the records carry no gold answers (generations written before floors existed).
    """
    checked = [r for r in records if "correct" in r]
    if not checked:
        return None
    by_skill: dict[str, list[dict]] = defaultdict(list)
    for record in checked:
        by_skill[record.get("skill") or "(none)"].append(record)
    has_gold = all(r.get("answer") not in (None, "") for r in checked)
    per_skill, floor_hits = {}, 0
    for skill, group in sorted(by_skill.items()):
        hits, answer = constant_floor(group) if has_gold else (0, None)
        floor_hits += hits
        correct = sum(bool(r["correct"]) for r in group)
        per_skill[skill] = {**_block(correct, len(group), hits / len(group) if has_gold else None),
                            "floor_answer": answer}
    correct = sum(bool(r["correct"]) for r in checked)
    result = _block(correct, len(checked), floor_hits / len(checked) if has_gold else None)
    cut = [r["cut_off"] for r in checked if "cut_off" in r]
    # how answers were found (fine_tune.answers): a model that never writes its final line shows here
    conventions = Counter(r.get("convention") or "none" for r in checked if "convention" in r)
    return {**result, "per_skill": per_skill, "cut_off": sum(cut) / len(cut) if cut else None,
            "conventions": dict(sorted(conventions.items()))}
