"""Checking an answer against a check spec, and plausible wrong answers: generic, they read only the spec."""

from __future__ import annotations

import json
import random
import re

from fine_tune.data.skills.base import DAYS, fmt_list


def _num_eq(got: object, want: object) -> bool:
    # bool is an int in Python; JSON `true` must not pass for 1.
    ok = isinstance(got, (int, float)) and not isinstance(got, bool)
    return ok and abs(float(got) - float(want)) < 1e-9


def check(spec: dict, answer: str) -> bool:
    """True if the extracted `answer` text satisfies the `check` spec; raises on nothing.

    number: exactly one number by value (`1,080`, `$18`, `18 dollars`; not `18 or 20`);
    list: the numbers in order, bracketed or not; json_answer: a JSON object whose only key
    is `answer`; text: the word, once markup and a closing mark are stripped.
    """
    from fine_tune.answers import numbers

    try:
        kind, want, text = spec["kind"], spec["value"], answer.strip()
        if kind == "json_answer":
            found = re.search(r"\{.*\}", text, re.DOTALL)
            obj = json.loads(found.group(0)) if found else None
            return isinstance(obj, dict) and list(obj) == ["answer"] and _num_eq(obj["answer"], want)
        text = text.strip("*_` ").rstrip(".!").strip()  # markup and a closing mark are not part of the answer
        if kind == "number":
            values = set(numbers(text))
            return len(values) == 1 and _num_eq(values.pop(), want)
        if kind == "list":
            return [int(x) for x in text.strip("[]").split(",")] == list(want)
        if kind == "text":
            return text.lower() == want.lower() if spec.get("ignore_case") else text == want
    except Exception:  # garbage in (non-str, bad JSON, bad int): not a correct answer
        return False
    return False


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
