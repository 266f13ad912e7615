"""A reasoning measure: multi-step skills apart from single-step ones, and chains whose steps check out.

The study's claim for "thinking" data is that it improves reasoning; one accuracy over all
skills cannot show that. Two views can:

- accuracy on the **multi-step** skills (`Skill.multi_step`: the answer needs a chain of
  intermediate results, each from the one before: arithmetic stories, weekday offsets)
  apart from the **single-step** ones (one conversion, sort, max or sum);
- the share of **chains whose intermediate steps check out**, where a step can be checked
  without the problem: an equation `a op b = c` (+, -, x, /), a day count (`Count 3
  forward: Tuesday, Wednesday, Thursday` names consecutive days, as many as it says) and
  a list said to be in order (`In order: ...`, `Add 4: [...]`) that is sorted. A chain is
  valid when it has at least one such step and every one of them holds, right answer or not.
"""

from __future__ import annotations

import re
from collections import defaultdict

from fine_tune.data.skills import DAYS, SKILLS

MULTI_STEP = {skill.name for skill in SKILLS if skill.multi_step}

_EQUATION = re.compile(r"(-?\d+(?:\.\d+)?) ([+\-x*/]) (-?\d+(?:\.\d+)?) = (-?\d+(?:\.\d+)?)")
_COUNT = re.compile(r"Count (\d+) (forward|back): ([A-Za-z, ]+)")
_ORDERED = re.compile(r"(?:In order: |Add -?\d+: \[)(-?\d+(?:, -?\d+)*)")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "x": lambda a, b: a * b, "*": lambda a, b: a * b,
        "/": lambda a, b: a / b if b else None}


def _equations(text: str) -> list[bool]:
    return [_OPS[op](float(a), float(b)) == float(c) for a, op, b, c in _EQUATION.findall(text)]


def _day_counts(text: str) -> list[bool]:
    results = []
    for k, way, names in _COUNT.findall(text):
        days = [d.strip() for d in names.split(",") if d.strip()]
        step = 1 if way == "forward" else -1
        known = all(d in DAYS for d in days)
        consecutive = known and all(DAYS.index(b) == (DAYS.index(a) + step) % 7 for a, b in zip(days, days[1:]))
        results.append(consecutive and len(days) == int(k))
    return results


def _orderings(text: str) -> list[bool]:
    results = []
    for listed in _ORDERED.findall(text):
        values = [int(x) for x in listed.split(", ")]
        results.append(values == sorted(values))
    return results


def step_checks(text: str) -> list[bool]:
    """One verdict per checkable intermediate step of a response, in the order of the kinds above."""
    if not isinstance(text, str):
        return []
    text = text.replace("<think>", "").replace("</think>", "")
    return _equations(text) + _day_counts(text) + _orderings(text)


def _share(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def reasoning_measures(records: list[dict]) -> dict | None:
    """Multi-step vs single-step accuracy and the valid-chain share, overall and per skill.

    Returns:
        {"multi_step": {"accuracy", "total"}, "single_step": {...}, "chains_checked",
        "valid_chains", "per_skill": {skill: {"chains_checked", "valid_chains"}}}, or None
        when no record has a checker verdict.
    """
    checked = [r for r in records if "correct" in r]
    if not checked:
        return None
    groups: dict[str, list[bool]] = {"multi_step": [], "single_step": []}
    chains: dict[str, list[bool]] = defaultdict(list)
    for record in checked:
        skill = record.get("skill") or "(none)"
        if record.get("skill"):
            groups["multi_step" if skill in MULTI_STEP else "single_step"].append(bool(record["correct"]))
        steps = step_checks(record.get("response"))
        if steps:
            chains[skill].append(all(steps))
    every_chain = [v for values in chains.values() for v in values]
    return {
        **{name: {"accuracy": _share(values), "total": len(values)} for name, values in groups.items()},
        "multi_step_skills": sorted(MULTI_STEP),
        "chains_checked": len(every_chain) / len(checked),
        "valid_chains": _share(every_chain),
        "per_skill": {skill: {"chains_checked": len(values), "valid_chains": _share(values)}
                      for skill, values in sorted(chains.items())},
    }
