"""Checker accuracy: the share of eval prompts whose generated answer the data's checker accepts."""

from __future__ import annotations

from collections import defaultdict


def checker_accuracy(records: list[dict]) -> dict | None:
    """Accuracy of generation records (see generations.generations_for) that carry a checker verdict.

    Returns:
        {"accuracy", "correct", "total", "per_skill": {skill: accuracy}}, or None when no
        record has a checker (free-form data is judged by WinRate and DeepEval instead).
    """
    checked = [r for r in records if "correct" in r]
    if not checked:
        return None
    by_skill: dict[str, list[bool]] = defaultdict(list)
    for record in checked:
        by_skill[record.get("skill") or "(none)"].append(bool(record["correct"]))
    correct = sum(bool(r["correct"]) for r in checked)
    return {
        "accuracy": correct / len(checked),
        "correct": correct,
        "total": len(checked),
        "per_skill": {skill: sum(v) / len(v) for skill, v in sorted(by_skill.items())},
    }
