"""The six skills of the embedded world, each with its problems and its prose.

A skill is a pair of pure functions of a `random.Random`: `generate(rng)` makes
one `Problem` (prompt, step-by-step reasoning, final answer, and the `check`
spec that `check()` needs), and `facts(rng)` writes one short plain-text document
for the pre-training corpus that teaches the same facts in prose.

Everything is sized for a ~3M-parameter model trained for minutes on CPU:
numbers mostly 0-20 (sums < 100), prompts under ~40 words, 2-3 reasoning lines,
three templates per skill. The checker reads only the `check` spec, never the
generator, so the trainer and evaluator can check any row on their own.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Callable

NAMES = [("Tom", "he"), ("Ana", "she"), ("Ben", "he"), ("Mia", "she"), ("Sam", "he"), ("Lily", "she"),
         ("Max", "he"), ("Zoe", "she"), ("Leo", "he"), ("Emma", "she"), ("Jack", "he"), ("Nora", "she")]
OBJECTS = ["apples", "pens", "books", "coins", "cards", "eggs", "stickers", "marbles", "shells", "cookies"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
EVENTS = ["party", "game", "test", "trip", "lesson"]
WORDS = ["apple", "river", "lamp", "house", "green", "music", "table", "cloud", "bread", "tiger", "chair",
         "water", "light", "stone", "happy", "train", "plant", "smile", "bird", "door", "fish", "moon",
         "star", "tree", "book", "cake", "rain", "ship", "snow", "king"]


@dataclass(frozen=True)
class Problem:
    """One generated problem; `cot` holds the reasoning lines, never the answer line."""

    prompt: str
    answer: str
    cot: str
    check: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Skill:
    """A named skill: a problem generator and a corpus-document generator."""

    name: str
    generate: Callable[[random.Random], Problem]
    facts: Callable[[random.Random], str]


def fmt_list(xs: list[int]) -> str:
    """`[5, 2, 8]` -> `"5, 2, 8"`: the one way lists are written in prompts and prose."""
    return ", ".join(str(x) for x in xs)


def _number(value: int) -> dict:
    return {"kind": "number", "value": value}


# --- 1. arithmetic word problems: 2-3 steps of + and - on small counts -------------------
_START = ["{name} has {a} {obj}.", "{name} starts with {a} {obj}.", "{name} keeps {a} {obj} in a box."]
_ADD = ["{P} buys {n} more.", "{P} finds {n} more.", "{P} gets {n} more."]
_SUB = ["{P} gives away {n}.", "{P} loses {n}.", "{P} sells {n}."]
_ASK = ["How many {obj} does {name} have now?", "How many {obj} does {name} have at the end?"]


def _arith_steps(rng: random.Random) -> tuple[int, list[tuple[str, int, int]]]:
    """A start count and 2-3 (op, n, result) steps that never go below 0 (max 20 + 27 = 47)."""
    total = start = rng.randint(3, 20)
    steps = []
    for _ in range(rng.choice([2, 3])):
        if total >= 2 and rng.random() < 0.45:
            n = rng.randint(1, min(9, total))
            steps.append(("-", n, total - n))
        else:
            n = rng.randint(1, 9)
            steps.append(("+", n, total + n))
        total = steps[-1][2]
    return start, steps


def _gen_arith(rng: random.Random) -> Problem:
    (name, pron), obj = rng.choice(NAMES), rng.choice(OBJECTS)
    start, steps = _arith_steps(rng)
    text = [rng.choice(_START).format(name=name, a=start, obj=obj)]
    cot = [f"{name} starts with {start} {obj}."]
    prev = start
    for op, n, result in steps:
        text.append(rng.choice(_ADD if op == "+" else _SUB).format(P=pron.capitalize(), n=n))
        cot.append(f"{prev} {op} {n} = {result}.")
        prev = result
    text.append(rng.choice(_ASK).format(obj=obj, name=name))
    return Problem(" ".join(text), str(prev), "\n".join(cot), _number(prev))


def _facts_arith(rng: random.Random) -> str:
    (name, pron), obj = rng.choice(NAMES), rng.choice(OBJECTS)
    start, steps = _arith_steps(rng)
    out = [f"{name} has {start} {obj}."]
    for op, n, result in steps:
        verb = "gets" if op == "+" else "gives away"
        things = obj if result != 1 else obj[:-1]  # every object's plural is singular + "s"
        out.append(f"{pron.capitalize()} {verb} {n}, so now {pron} has {result} {things}.")
    a, b = rng.randint(0, 20), rng.randint(0, 20)
    hi, lo = max(a, b), min(a, b)
    out.append(f"{a} plus {b} is {a + b}, and {a} + {b} = {a + b}. {hi} minus {lo} is {hi - lo}.")
    return " ".join(out)


# --- 2. unit conversion: one multiplication by a fixed factor --------------------------
# (big singular, big plural, small unit or None for "the things", factor, max n, context, things)
_UNITS = [
    ("meter", "meters", "centimeters", 100, 9, "{name} has a {thing} that is {n} {big} long.",
     ["rope", "ribbon", "board", "string"]),
    ("kilometer", "kilometers", "meters", 1000, 9, "{name} {thing} {n} {big}.", ["walks", "runs", "rides", "swims"]),
    ("kilogram", "kilograms", "grams", 1000, 9, "{name}'s {thing} weighs {n} {big}.", ["bag", "box", "dog", "cat"]),
    ("week", "weeks", "days", 7, 9, "{name}'s {thing} lasts {n} {big}.", ["trip", "holiday", "course", "camp"]),
    ("hour", "hours", "minutes", 60, 5, "{name} {thing} for {n} {big}.", ["reads", "sleeps", "plays", "works"]),
    ("dozen", "dozen", None, 12, 5, "{name} buys {n} {big} {thing}.", ["eggs", "cookies", "pens", "roses"]),
]


def _unit_pick(rng: random.Random) -> tuple[tuple, int, str, str, str]:
    unit = rng.choice(_UNITS)
    n, thing = rng.randint(1, unit[4]), rng.choice(unit[6])
    big = unit[0] if n == 1 else unit[1]
    small = unit[2] or thing  # dozens convert into the things themselves
    return unit, n, thing, big, small


def _gen_units(rng: random.Random) -> Problem:
    unit, n, thing, big, small = _unit_pick(rng)
    style = rng.randrange(3)
    if style == 0:
        prompt = f"How many {small} are in {n} {big}?"
    elif style == 1:
        prompt = f"Convert {n} {big} to {small}."
    else:
        context = unit[5].format(name=rng.choice(NAMES)[0], thing=thing, n=n, big=big)
        prompt = context + " " + rng.choice(["How many {s} is that?", "How many {s} is that in total?"]).format(s=small)
    value = n * unit[3]
    cot = f"1 {unit[0]} is {unit[3]} {small}.\n{n} x {unit[3]} = {value}."
    return Problem(prompt, str(value), cot, _number(value))


def _facts_units(rng: random.Random) -> str:
    unit, n, _, big, small = _unit_pick(rng)
    m = rng.randint(1, unit[4])
    big_m = unit[0] if m == 1 else unit[1]
    return (f"1 {unit[0]} is {unit[3]} {small}. {n} {big} is {n * unit[3]} {small}, "
            f"because {n} x {unit[3]} = {n * unit[3]}. {m} {big_m} is {m * unit[3]} {small}.")


# --- 3. list manipulation: sort ascending or reverse 3-5 digits ------------------------
_SORT = ["Sort these numbers from smallest to largest: {L}.", "Put the numbers {L} in increasing order.",
         "Arrange in ascending order: {L}."]
_REVERSE = ["Reverse the list: {L}.", "Write the numbers {L} in reverse order.", "What is the list {L} backwards?"]


def _digits(rng: random.Random, lo: int, hi: int, top: int = 9) -> list[int]:
    """3-5 numbers 0..top, never all equal (so a wrong order is always a different list)."""
    while True:
        xs = [rng.randint(0, top) for _ in range(rng.randint(lo, hi))]
        if len(set(xs)) > 1:
            return xs


def _gen_lists(rng: random.Random) -> Problem:
    xs = _digits(rng, 3, 5)
    L = fmt_list(xs)
    if rng.random() < 0.5:
        out = sorted(xs)
        lines = [f"The numbers are {L}.", f"The smallest is {out[0]} and the largest is {out[-1]}.",
                 f"From smallest to largest: [{fmt_list(out)}]."]
        prompt = rng.choice(_SORT).format(L=L)
    else:
        out = xs[::-1]
        lines = [f"The list is {L}.", f"The last number is {xs[-1]} and the first is {xs[0]}.",
                 f"From last to first: [{fmt_list(out)}]."]
        prompt = rng.choice(_REVERSE).format(L=L)
    return Problem(prompt, f"[{fmt_list(out)}]", "\n".join(lines), {"kind": "list", "value": out})


def _facts_lists(rng: random.Random) -> str:
    xs = _digits(rng, 3, 5)
    return (f"The numbers {fmt_list(xs)} in order from smallest to largest are {fmt_list(sorted(xs))}. "
            f"Written backwards, the list {fmt_list(xs)} becomes {fmt_list(xs[::-1])}. "
            f"The first number is {xs[0]} and the last number is {xs[-1]}.")


# --- 4. weekday arithmetic: 1-6 days forward or back ------------------------------------
_AFTER = ["What day is {k} {d} after {day}?", "Today is {day}. What day will it be in {k} {d}?",
          "{name} has a {event} on {day}. What day is {k} {d} after the {event}?"]
_BEFORE = ["What day is {k} {d} before {day}?", "Today is {day}. What day was it {k} {d} ago?",
           "{name} has a {event} on {day}. What day is {k} {d} before the {event}?"]


def _walk(start: int, k: int, sign: int) -> list[str]:
    return [DAYS[(start + sign * i) % 7] for i in range(1, k + 1)]


def _gen_weekday(rng: random.Random) -> Problem:
    start, k, sign = rng.randrange(7), rng.randint(1, 6), rng.choice([1, -1])
    template = rng.choice(_AFTER if sign > 0 else _BEFORE)
    prompt = template.format(k=k, d="day" if k == 1 else "days", day=DAYS[start],
                             name=rng.choice(NAMES)[0], event=rng.choice(EVENTS))
    seq = _walk(start, k, sign)
    direction = "forward" if sign > 0 else "back"
    cot = f"Start at {DAYS[start]}.\nCount {k} {direction}: {', '.join(seq)}.\nThe day is {seq[-1]}."
    return Problem(prompt, seq[-1], cot, {"kind": "text", "value": seq[-1], "ignore_case": True})


def _facts_weekday(rng: random.Random) -> str:
    start, k = rng.randrange(7), rng.randint(2, 6)
    order = f"The days of the week in order are {', '.join(DAYS)}. After Sunday comes Monday again. "
    return ((order if rng.random() < 0.5 else "") +
            f"The day after {DAYS[start]} is {DAYS[(start + 1) % 7]}, and the day before it is "
            f"{DAYS[(start - 1) % 7]}. {k} days after {DAYS[start]} is {DAYS[(start + k) % 7]}. "
            f"{k} days before {DAYS[start]} is {DAYS[(start - k) % 7]}.")


# --- 5. max / min / count in a short list ------------------------------------------------
_MAX = ["What is the largest number in {L}?", "Which is the biggest of {L}?", "Find the maximum of {L}."]
_MIN = ["What is the smallest number in {L}?", "Which is the least of {L}?", "Find the minimum of {L}."]
_COUNT = ["How many times does {t} appear in {L}?", "Count the {t}s in the list {L}.",
          "In the list {L}, how many numbers are equal to {t}?"]


def _gen_minmax(rng: random.Random) -> Problem:
    op = rng.choice(["max", "min", "count"])
    if op == "count":
        # Values 0-5 in 5-7 slots so repeats (and the odd zero count) are common.
        xs, t = [rng.randint(0, 5) for _ in range(rng.randint(5, 7))], rng.randint(0, 5)
        value = xs.count(t)
        marks = ", ".join("yes" if x == t else "no" for x in xs)
        cot = f"The list is {fmt_list(xs)}.\nMark each {t}: {marks}.\nCount of {t}: {value}."
        return Problem(rng.choice(_COUNT).format(t=t, L=fmt_list(xs)), str(value), cot, _number(value))
    xs = _digits(rng, 3, 5, top=20)
    value = max(xs) if op == "max" else min(xs)
    word = "largest" if op == "max" else "smallest"
    cot = f"The numbers are {fmt_list(xs)}.\nIn order: {fmt_list(sorted(xs))}.\nThe {word} is {value}."
    prompt = rng.choice(_MAX if op == "max" else _MIN).format(L=fmt_list(xs))
    return Problem(prompt, str(value), cot, _number(value))


def _facts_minmax(rng: random.Random) -> str:
    xs = _digits(rng, 3, 5, top=20)
    ys, t = [rng.randint(0, 5) for _ in range(rng.randint(5, 7))], rng.randint(0, 5)
    return (f"Among {fmt_list(xs)}, the largest number is {max(xs)} and the smallest is {min(xs)}. "
            f"In the list {fmt_list(ys)}, the number {t} appears {ys.count(t)} times.")


# --- 6. answers under a format constraint: JSON or uppercase ------------------------------
_JSON = ["What is {a} {op} {b}? Reply as JSON with key answer.",
         "Compute {a} {op} {b}. Give the result as JSON with the key answer.",
         "Respond in JSON with the key answer: what is {a} {op} {b}?"]
_UPPER = ["Write the word {w} in uppercase.", "Spell {w} in capital letters.", "Reply with the word {w} in all caps."]


def _sum_pair(rng: random.Random) -> tuple[int, str, int, int]:
    a, b, op = rng.randint(0, 20), rng.randint(0, 20), rng.choice("+-")
    if op == "-" and b > a:
        a, b = b, a  # no negative results
    return a, op, b, a + b if op == "+" else a - b


def _gen_format(rng: random.Random) -> Problem:
    if rng.random() < 0.25:
        w = rng.choice(WORDS)
        cot = f"The word is {w}.\nIts letters in capitals are {'-'.join(w.upper())}.\nJoined: {w.upper()}."
        return Problem(rng.choice(_UPPER).format(w=w), w.upper(), cot, {"kind": "text", "value": w.upper()})
    a, op, b, r = _sum_pair(rng)
    cot = f"{a} {op} {b} = {r}.\nThe JSON object has the key answer with value {r}."
    return Problem(rng.choice(_JSON).format(a=a, op=op, b=b), json.dumps({"answer": r}), cot,
                   {"kind": "json_answer", "value": r})


def _facts_format(rng: random.Random) -> str:
    a, op, b, r = _sum_pair(rng)
    w = rng.choice(WORDS)
    return (f'{a} {op} {b} = {r}. As a JSON object with the key answer it is written {{"answer": {r}}}. '
            f"The word {w} in capital letters is {w.upper()}, spelled {'-'.join(w.upper())}.")


SKILLS: list[Skill] = [
    Skill("arith", _gen_arith, _facts_arith),
    Skill("units", _gen_units, _facts_units),
    Skill("lists", _gen_lists, _facts_lists),
    Skill("weekday", _gen_weekday, _facts_weekday),
    Skill("minmax", _gen_minmax, _facts_minmax),
    Skill("format", _gen_format, _facts_format),
]


# --- checking and plausible wrong answers (generic: they read only the check spec) -------
_NUM = re.compile(r"-?\d+(?:\.\d+)?")


def _num_eq(got: object, want: object) -> bool:
    # bool is an int in Python; JSON `true` must not pass for 1.
    ok = isinstance(got, (int, float)) and not isinstance(got, bool)
    return ok and abs(float(got) - float(want)) < 1e-9


def check(spec: dict, answer: str) -> bool:
    """True if the extracted `answer` text satisfies the `check` spec; raises on nothing."""
    try:
        kind, want, text = spec["kind"], spec["value"], answer.strip()
        if kind == "json_answer":
            obj = json.loads(text)
            return isinstance(obj, dict) and list(obj) == ["answer"] and _num_eq(obj["answer"], want)
        text = text.rstrip(".").strip()  # a closing full stop is not part of the answer
        if kind == "number":
            return bool(_NUM.fullmatch(text)) and _num_eq(float(text), want)
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
