"""The arith skill (arithmetic word problems): 2-3 steps of + and - on small counts."""

from __future__ import annotations

import random

from fine_tune.data.skills.base import NAMES, OBJECTS, Problem, number_spec, plural

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


def facts(rng: random.Random) -> str:
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
