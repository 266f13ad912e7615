"""The arith skill (arithmetic word problems): 2-3 steps of + and - on small counts."""

from __future__ import annotations

import random

from fine_tune.data.skills.base import NAMES, OBJECTS, Problem, number_spec

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


def generate(rng: random.Random) -> Problem:
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
    return Problem(" ".join(text), str(prev), "\n".join(cot), number_spec(prev), key)


_GOT = {"+": ["buys {n} more", "finds {n} more", "gets {n} more", "is given {n} more"],
        "-": ["gives away {n}", "loses {n}", "sells {n}", "eats {n}"]}
_SO = ["so now {p} has {eq} {obj}", "which makes {eq} {obj}", "and {eq}, so {p} has {r} {obj}", "so {p} has {eq} {obj}"]


def drill(rng: random.Random, top: int, step_top: int) -> str:
    """A worksheet: 6-12 lines `a + b = c.` / `a - b = c.` with a up to `top`, b up to `step_top`, never below 0.

    Sums are facts to learn by heart at this size: ~1,000 of them in the stories' range,
    each seen many times over a corpus that drills them as a school worksheet does.
    """
    lines = []
    for _ in range(rng.randint(6, 12)):
        a, b = rng.randint(0, top), rng.randint(1, step_top)
        if rng.random() < 0.5:
            lines.append(f"{a} + {b} = {a + b}.")
        else:
            a = max(a, b)
            lines.append(f"{a} - {b} = {a - b}.")
    return "\n".join(lines)


def facts(rng: random.Random) -> str:
    """A worked story in prose (every step an equation inside a sentence), or a worksheet of sums.

    The story's verbs are the prompts' verbs, so a model that read the corpus knows
    that "buys 4 more" adds and "loses 4" subtracts before any instruction tuning.
    """
    if rng.random() < 0.5:
        return drill(rng, top=50, step_top=9)  # totals stay under 47 + 9
    (name, pron), obj = rng.choice(NAMES), rng.choice(OBJECTS)
    start, steps = _arith_steps(rng)
    out, prev = [f"{name} has {start} {obj}."], start
    for op, n, result in steps:
        eq = f"{prev} {op} {n} = {result}"
        so = rng.choice(_SO).format(p=pron, eq=eq, r=result, obj=obj)
        out.append(f"{pron.capitalize()} {rng.choice(_GOT[op]).format(n=n)}, {so}.")
        prev = result
    out.append(f"In the end {name} has {prev} {obj}.")
    for _ in range(rng.randint(1, 3)):
        a, b = rng.randint(0, 50), rng.randint(1, 9)
        if rng.random() < 0.5:
            out.append(rng.choice([f"{a} plus {b} is {a + b}.", f"{a} + {b} = {a + b}."]))
        else:
            a = max(a, b)
            out.append(rng.choice([f"{a} minus {b} is {a - b}.", f"{a} - {b} = {a - b}."]))
    return " ".join(out)
