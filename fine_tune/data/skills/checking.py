"""Plausible wrong answers for a check spec (generic: they read only the spec).

Checking an answer against a spec lives beside the answer reader (fine_tune.answers.check), so the
reader and the checker are one module that the data and the evaluation both import.
"""

from __future__ import annotations

import json
import random

from fine_tune.data.skills.base import DAYS, fmt_list


def plausible_wrong(spec: dict, rng: random.Random) -> tuple[str, str, str]:
    """A near-miss for a check spec: (wrong answer text, true value as in cot, wrong value as in cot)."""
    kind, want = spec["kind"], spec["value"]
    if kind in ("number", "json_answer"):
        wrong = want + rng.choice([-2, -1, 1, 2])
        wrong = wrong if wrong >= 0 else want + 1
        text = json.dumps({"answer": wrong}) if kind == "json_answer" else str(wrong)
        return text, str(want), str(wrong)
    if kind == "list":
        xs = list(want)
        i, j = rng.sample([(i, j) for i in range(len(xs)) for j in range(i) if xs[i] != xs[j]], 1)[0]
        xs[i], xs[j] = xs[j], xs[i]
        true, bad = f"[{fmt_list(want)}]", f"[{fmt_list(xs)}]"
        return bad, true, bad
    if want in DAYS:
        wrong = DAYS[(DAYS.index(want) + rng.choice([-1, 1])) % 7]
    else:  # an uppercase word: the classic miss is the wrong case
        wrong = rng.choice([want.lower(), want.capitalize()])
    return wrong, want, wrong
