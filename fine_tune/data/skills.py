"""The six skills of the embedded world, each with its problems and its prose.

A skill is a pair of pure functions of a `random.Random`: `generate(rng)` makes
one `Problem` (prompt, step-by-step reasoning, final answer, the `check` spec
that `check()` needs, and the `key` that says which problem it is), and
`facts(rng)` writes one short plain-text document for the pre-training corpus
that teaches the same facts in prose.

Everything is sized for a ~1.4M-parameter model trained for minutes on CPU:
numbers small wherever arithmetic is done (sums < 100), prompts under ~40 words,
every step written out. Two rows are the same problem when their `key`s match
(the inputs that decide the answer and what is asked; never names, objects or
wording), so each skill's space of keys must be larger than its share of rows.
The checker reads only the `check` spec, never the generator, so the trainer
and evaluator can check any row on their own.
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
# 150 short everyday words: the uppercase task has one problem per word.
WORDS = """apple river lamp house green music table cloud bread tiger chair water light stone happy train
plant smile bird door fish moon star tree book cake rain ship snow king queen horse mouse sheep goat duck
frog bear lion wolf fox owl hat coat shoe sock ring bell drum kite ball doll box cup milk tea egg rice soup
salt corn bean pear plum lemon grape peach melon road hill lake sea sand wind fire leaf rose seed root farm
barn gate wall roof room bed sofa desk pen ink paper card map clock phone radio car bus boat plane bike wheel
sun sky day night week year hand foot head nose ear eye hair mouth arm leg baby girl boy mother father
friend teacher doctor city town park shop bank school garden forest island bridge tower castle window
kitten puppy candle pillow blanket basket bottle button carrot orange yellow purple silver""".split()


@dataclass(frozen=True)
class Problem:
    """One generated problem; `cot` holds the reasoning lines, never the answer line.

    `key` names the problem: two prompts with the same key differ only in a name,
    an object or wording, so they are one problem asked twice.
    """

    prompt: str
    answer: str
    cot: str
    check: dict = field(default_factory=dict)
    key: tuple = ()


@dataclass(frozen=True)
class Skill:
    """A named skill: a problem generator, a corpus-document generator and its share of the rows."""

    name: str
    generate: Callable[[random.Random], Problem]
    facts: Callable[[random.Random], str]
    weight: float = 1.0


def fmt_list(xs: list[int]) -> str:
    """`[5, 2, 8]` -> `"5, 2, 8"`: the one way lists are written in prompts and prose."""
    return ", ".join(str(x) for x in xs)


def _number(value: int) -> dict:
    return {"kind": "number", "value": value}


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# --- 1. arithmetic word problems: 2-3 steps of + and - on small counts -------------------
_START = ["{name} has {a} {obj}.", "{name} starts with {a} {obj}.", "{name} keeps {a} {obj} in a box."]
_ADD = ["{P} buys {n} more.", "{P} finds {n} more.", "{P} gets {n} more."]
_SUB = ["{P} gives away {n}.", "{P} loses {n}.", "{P} sells {n}."]
# At most 8 words: with a 4-word step before it, the question's words alone stay under
# 13 words, the span a decontaminator compares, so every such span holds a number too.
_ASK = ["How many {obj} does {name} have now?", "How many {obj} does {name} end up with?"]


def _arith_steps(rng: random.Random) -> tuple[int, list[tuple[str, int, int]]]:
    """A start count and 2-3 (op, n, result) steps that never go below 0 (max 20 + 27 = 47).

    ~18 starts x ~18 steps per move: ~100k problems, far more than the rows asked for.
    """
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
    # Equations only: a "starts with" line would put a name and an object right after the
    # question, the same words in many problems; an equation is this problem's own.
    cot, prev = [], start
    for op, n, result in steps:
        text.append(rng.choice(_ADD if op == "+" else _SUB).format(P=pron.capitalize(), n=n))
        cot.append(f"{prev} {op} {n} = {result}.")
        prev = result
    text.append(rng.choice(_ASK).format(obj=obj, name=name))
    key = (start, *((op, n) for op, n, _ in steps))
    return Problem(" ".join(text), str(prev), "\n".join(cot), _number(prev), key)


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


# --- 2. unit conversion: multiply by a factor (big -> small) or divide (small -> big) ------
# (big, bigs, small, smalls or None for "the things", factor, max n, context, things).
# Powers of ten go to n = 99 (the product only appends zeros); the other factors stay in
# the times table. 7 x 99 + 5 small kinds x ~10 = ~740 amounts, x 2 directions = ~1,480 problems.
_UNITS = [
    ("meter", "meters", "centimeter", "centimeters", 100, 99, "{name} has a {thing} that is {q} long.",
     ["rope", "ribbon", "board", "string"]),
    ("meter", "meters", "millimeter", "millimeters", 1000, 99, "{name} cuts a {thing} that is {q} long.",
     ["pipe", "wire", "plank", "cable"]),
    ("centimeter", "centimeters", "millimeter", "millimeters", 10, 99, "{name} draws a {thing} {q} long.",
     ["line", "square", "stripe", "arrow"]),
    ("kilometer", "kilometers", "meter", "meters", 1000, 99, "{name} {thing} {q}.",
     ["walks", "runs", "rides", "swims"]),
    ("kilogram", "kilograms", "gram", "grams", 1000, 99, "{name}'s {thing} weighs {q}.",
     ["bag", "box", "dog", "sack"]),
    ("liter", "liters", "milliliter", "milliliters", 1000, 99, "{name}'s {thing} holds {q} of water.",
     ["tank", "bucket", "jug", "pot"]),
    ("dollar", "dollars", "cent", "cents", 100, 99, "{name} pays {q} for a {thing}.",
     ["book", "lamp", "game", "shirt"]),
    ("week", "weeks", "day", "days", 7, 12, "{name}'s {thing} lasts {q}.", ["trip", "holiday", "course", "camp"]),
    ("hour", "hours", "minute", "minutes", 60, 9, "{name} {thing} for {q}.", ["reads", "sleeps", "plays", "works"]),
    ("minute", "minutes", "second", "seconds", 60, 9, "{name} {thing} for {q}.",
     ["sings", "waits", "jumps", "claps"]),
    ("year", "years", "month", "months", 12, 9, "{name}'s {thing} is {q} old.", ["cat", "car", "bike", "tree"]),
    ("dozen", "dozen", None, None, 12, 9, "{name} buys {q}.", ["eggs", "cookies", "pens", "roses"]),
]


def _unit_pick(rng: random.Random) -> tuple[tuple, int, str, str, str]:
    """A unit, an amount n of the big unit, a thing, and the small unit's singular and plural."""
    unit = rng.choice(_UNITS)
    n, thing = rng.randint(1, unit[5]), rng.choice(unit[7])
    small, smalls = (unit[2], unit[3]) if unit[2] else (thing[:-1], thing)  # dozens count the things
    return unit, n, thing, small, smalls


def _unit_prompt(rng: random.Random, unit: tuple, thing: str, have: str, want: str) -> str:
    """The question for `have` (an amount with its unit) in the unit `want`, in one of three styles."""
    style = rng.randrange(3)
    if style == 0:
        return f"How many {want} are in {have}?"
    if style == 1:
        return f"Convert {have} to {want}."
    if unit[2] is None and want != "dozen":  # "Tom buys 3 dozen eggs.", not "Tom buys 3 dozen."
        have = f"{have} {thing}"
    context = unit[6].format(name=rng.choice(NAMES)[0], thing=thing, q=have)
    return context + " " + rng.choice(["How many {w} is that?", "How many {w} is that in total?"]).format(w=want)


def _gen_units(rng: random.Random) -> Problem:
    # The amount comes first in the reasoning: the unit fact alone ("1 liter is 1000
    # milliliters") follows the same question words in every problem of its unit.
    unit, n, thing, _, smalls = _unit_pick(rng)
    big, factor, m = unit[0], unit[4], n * unit[4]
    bigs = _plural(n, big, unit[1])
    if rng.random() < 0.5:  # big -> small: multiply
        prompt = _unit_prompt(rng, unit, thing, bigs, smalls)
        cot = [f"Convert {bigs} to {smalls}.", f"1 {big} is {factor} {smalls}.", f"{n} x {factor} = {m}."]
        value, way = m, "down"
    else:  # small -> big: divide, always a whole number of big units
        prompt = _unit_prompt(rng, unit, thing, f"{m} {smalls}", unit[1])
        cot = [f"Convert {m} {smalls} to {unit[1]}.", f"{factor} {smalls} is 1 {big}.", f"{m} / {factor} = {n}."]
        value, way = n, "up"
    return Problem(prompt, str(value), "\n".join(cot), _number(value), (big, unit[2], way, n))


def _facts_units(rng: random.Random) -> str:
    unit, n, _, _, smalls = _unit_pick(rng)
    big, factor = unit[0], unit[4]
    m = rng.randint(1, unit[5])
    return (f"1 {big} is {factor} {smalls}. {_plural(n, big, unit[1])} is {n * factor} {smalls}, "
            f"because {n} x {factor} = {n * factor}. {_plural(m, big, unit[1])} is {m * factor} {smalls}, "
            f"and {m * factor} {smalls} is {m * factor} / {factor} = {_plural(m, big, unit[1])}.")


# --- 3. list manipulation: sort ascending or reverse 3-5 digits ------------------------
_SORT = ["Sort these numbers from smallest to largest: {L}.", "Put the numbers {L} in increasing order.",
         "Arrange in ascending order: {L}."]
_REVERSE = ["Reverse the list: {L}.", "Write the numbers {L} in reverse order.", "What is the list {L} backwards?"]


def _digits(rng: random.Random, lo: int, hi: int, top: int = 9) -> list[int]:
    """lo..hi numbers 0..top, never all equal (so a wrong order is always a different list).

    More than half as many distinct values as slots: a list like 0, 0, 0, 0, 4 makes
    reasoning that is mostly one repeated number, which a noise filter calls repetition.
    """
    while True:
        xs = [rng.randint(0, top) for _ in range(rng.randint(lo, hi))]
        if len(set(xs)) > max(1, len(xs) // 2):
            return xs


def _insertion_lines(xs: list[int]) -> list[str]:
    """Sorting as insertion, one number at a time: `Start with [3].`, `Add 1: [1, 3].`, ...

    Each line takes the next number in the list's own order, so a stretch of the
    reasoning belongs to this list, not to every list with the same smallest and
    largest numbers (as "The smallest is 0 and the largest is 9." did).
    """
    done = [xs[0]]
    lines = [f"Start with [{xs[0]}]."]
    for x in xs[1:]:
        done = sorted(done + [x])
        lines.append(f"Add {x}: [{fmt_list(done)}].")
    return lines


def _gen_lists(rng: random.Random) -> Problem:
    xs = _digits(rng, 3, 5)  # 10^3 + 10^4 + 10^5 lists, x 2 tasks
    L = fmt_list(xs)
    if rng.random() < 0.5:
        out, task = sorted(xs), "sort"
        lines = [f"The numbers are {L}.", *_insertion_lines(xs)]
        prompt = rng.choice(_SORT).format(L=L)
    else:
        out, task = xs[::-1], "reverse"
        # No filler between the two copies: any stretch of the reasoning holds the whole list.
        lines = [f"The list is {L}.", f"Read from the end: [{fmt_list(out)}]."]
        prompt = rng.choice(_REVERSE).format(L=L)
    return Problem(prompt, f"[{fmt_list(out)}]", "\n".join(lines), {"kind": "list", "value": out}, (task, *xs))


def _facts_lists(rng: random.Random) -> str:
    xs = _digits(rng, 3, 5)
    return (f"The numbers {fmt_list(xs)} in order from smallest to largest are {fmt_list(sorted(xs))}. "
            f"Written backwards, the list {fmt_list(xs)} becomes {fmt_list(xs[::-1])}. "
            f"The first number is {xs[0]} and the last number is {xs[-1]}.")


# --- 4. weekday arithmetic: up to 10 weeks and 6 days forward or back -------------------
# An offset is asked as "17 days" (offsets up to 30) or as "2 weeks and 3 days" (up to
# 10 weeks): 7 start days x 76 offsets x 2 directions = 1,064 problems. Either way the
# reasoning drops whole weeks, which never change the day, then counts the rest one by one.
_AFTER = ["What day is {k} after {day}?", "Today is {day}. What day will it be in {k}?",
          "{name} has a {event} on {day}. What day is {k} after the {event}?"]
_BEFORE = ["What day is {k} before {day}?", "Today is {day}. What day was it {k} ago?",
           "{name} has a {event} on {day}. What day is {k} before the {event}?"]
_MAX_WEEKS, _MAX_DAYS_SPAN = 10, 30


def _walk(start: int, k: int, sign: int) -> list[str]:
    return [DAYS[(start + sign * i) % 7] for i in range(1, k + 1)]


def _span(weeks: int, days: int) -> str:
    """`2 weeks and 3 days`, `1 week`, `4 days`: an offset as the prompt says it."""
    parts = [_plural(weeks, "week", "weeks")] if weeks else []
    parts += [_plural(days, "day", "days")] if days or not weeks else []
    return " and ".join(parts)


def _weekday_cot(start: int, offset: int, sign: int, asked: str) -> tuple[list[str], str]:
    """Reasoning lines and the day reached `offset` days from DAYS[start], asked as `asked`.

    Whole weeks first (they keep the day), then the days left over one by one, then
    the question restated with its answer. A decontaminator compares 13-word spans,
    so no 13 words of prompt and reasoning may name only days: the lines start with
    the day or a count, and at most 12 words ever separate two mentions of the offset.
    """
    weeks, rest = divmod(offset, 7)
    day, seq = DAYS[start], _walk(start, rest, sign)
    end = seq[-1] if rest else day
    lines = []
    if weeks and asked != _span(weeks, rest):  # "17 days": split into whole weeks first
        lines.append(f"{asked} is {_plural(weeks, 'week', 'weeks')} and {_plural(rest, 'day', 'days')}.")
    if weeks:
        lines.append(f"{day} {'plus' if sign > 0 else 'minus'} {_plural(weeks, 'week', 'weeks')} is {day}.")
    if rest:
        lines.append(f"Count {rest} {'forward' if sign > 0 else 'back'}: {', '.join(seq)}.")
    lines.append(f"{asked[0].upper()}{asked[1:]} {'after' if sign > 0 else 'before'} {day} is {end}.")
    return lines, end


def _gen_weekday(rng: random.Random) -> Problem:
    start, sign = rng.randrange(7), rng.choice([1, -1])
    offset = rng.randint(1, 7 * _MAX_WEEKS + 6)
    as_days = offset <= _MAX_DAYS_SPAN and (offset < 7 or rng.random() < 0.5)
    asked = _plural(offset, "day", "days") if as_days else _span(*divmod(offset, 7))
    template = rng.choice(_AFTER if sign > 0 else _BEFORE)
    prompt = template.format(k=asked, day=DAYS[start], name=rng.choice(NAMES)[0], event=rng.choice(EVENTS))
    lines, end = _weekday_cot(start, offset, sign, asked)
    return Problem(prompt, end, "\n".join(lines), {"kind": "text", "value": end, "ignore_case": True},
                   (start, offset, sign))


def _facts_weekday(rng: random.Random) -> str:
    start, k, weeks = rng.randrange(7), rng.randint(2, 6), rng.randint(1, _MAX_WEEKS)
    order = f"The days of the week in order are {', '.join(DAYS)}. After Sunday comes Monday again. "
    return ((order if rng.random() < 0.5 else "") +
            f"The day after {DAYS[start]} is {DAYS[(start + 1) % 7]}, and the day before it is "
            f"{DAYS[(start - 1) % 7]}. {k} days after {DAYS[start]} is {DAYS[(start + k) % 7]}. "
            f"{k} days before {DAYS[start]} is {DAYS[(start - k) % 7]}. "
            f"{7 * weeks + k} days is {_plural(weeks, 'week', 'weeks')} and {k} days, and "
            f"{_plural(weeks, 'week', 'weeks')} after {DAYS[start]} is {DAYS[start]} again.")


# --- 5. max / min / count in a short list ------------------------------------------------
_MAX = ["What is the largest number in {L}?", "Which is the biggest of {L}?", "Find the maximum of {L}."]
_MIN = ["What is the smallest number in {L}?", "Which is the least of {L}?", "Find the minimum of {L}."]
_COUNT = ["How many times does {t} appear in {L}?", "Count the {t}s in the list {L}.",
          "How many numbers in {L} are equal to {t}?"]


def _gen_minmax(rng: random.Random) -> Problem:
    # The last line repeats the list before the result, so the reasoning's end belongs to
    # this list, not to every list with the same sorted numbers or the same count.
    op = rng.choice(["max", "min", "count"])
    if op == "count":
        # Values 0-5 in 5-7 slots so repeats (and the odd zero count) are common.
        xs, t = [rng.randint(0, 5) for _ in range(rng.randint(5, 7))], rng.randint(0, 5)
        value = xs.count(t)
        marks = ", ".join(f"{x} {'yes' if x == t else 'no'}" for x in xs)
        cot = f"Mark each {t}: {marks}.\nIn {fmt_list(xs)} the count of {t} is {value}."
        return Problem(rng.choice(_COUNT).format(t=t, L=fmt_list(xs)), str(value), cot, _number(value),
                       (op, t, *xs))
    xs = _digits(rng, 3, 5, top=20)
    value = max(xs) if op == "max" else min(xs)
    word = "largest" if op == "max" else "smallest"
    L = fmt_list(xs)
    cot = f"The numbers are {L}.\nIn order: {fmt_list(sorted(xs))}.\nThe {word} of {L} is {value}."
    prompt = rng.choice(_MAX if op == "max" else _MIN).format(L=L)
    return Problem(prompt, str(value), cot, _number(value), (op, *xs))


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
_OP_WORD = {"+": "Add", "-": "Subtract"}


def _sum_pair(rng: random.Random) -> tuple[int, str, int, int]:
    """a op b with a, b in 0..30: 31 x 31 sums + 465 differences (b >= 1) = 1,426 problems.

    A difference never subtracts 0: `a - 0` and `a + 0` would read the same once the
    signs are dropped, as word-level text tools drop them.
    """
    a, b, op = rng.randint(0, 30), rng.randint(0, 30), rng.choice("+-")
    if op == "-":
        a, b = max(a, b), min(a, b)  # no negative results
        b = b or 1
        a = max(a, b)
    return a, op, b, a + b if op == "+" else a - b


def _gen_format(rng: random.Random) -> Problem:
    if rng.random() < 0.1:
        w = rng.choice(WORDS)
        cot = f"The word is {w}.\nIts letters in capitals are {'-'.join(w.upper())}.\nJoined: {w.upper()}."
        return Problem(rng.choice(_UPPER).format(w=w), w.upper(), cot, {"kind": "text", "value": w.upper()},
                       ("upper", w))
    a, op, b, r = _sum_pair(rng)
    # The operands come back in the last line, so every stretch of the reasoning names this sum.
    cot = f"{_OP_WORD[op]}: {a} {op} {b} = {r}.\nThe JSON for {a} {op} {b} is {json.dumps({'answer': r})}."
    return Problem(rng.choice(_JSON).format(a=a, op=op, b=b), json.dumps({"answer": r}), cot,
                   {"kind": "json_answer", "value": r}, ("json", a, op, b))


def _facts_format(rng: random.Random) -> str:
    a, op, b, r = _sum_pair(rng)
    w = rng.choice(WORDS)
    return (f'{a} {op} {b} = {r}. As a JSON object with the key answer it is written {{"answer": {r}}}. '
            f"The word {w} in capital letters is {w.upper()}, spelled {'-'.join(w.upper())}.")


# Shares of the rows: the big spaces (arith ~100k, lists ~220k, minmax ~10^6 problems) take
# more; units (~1,480), format (~1,580) and weekday (1,064) keep >= 8% each without using
# up more than ~3/4 of their space (9,435 x 0.12 = 1,132; x 0.085 = 802).
SKILLS: list[Skill] = [
    Skill("arith", _gen_arith, _facts_arith, 0.225),
    Skill("units", _gen_units, _facts_units, 0.12),
    Skill("lists", _gen_lists, _facts_lists, 0.225),
    Skill("weekday", _gen_weekday, _facts_weekday, 0.085),
    Skill("minmax", _gen_minmax, _facts_minmax, 0.225),
    Skill("format", _gen_format, _facts_format, 0.12),
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
