"""The minmax skill: max / min / count in a short list."""

from __future__ import annotations

import random

from fine_tune.data.skills.base import Problem, digits, fmt_list, number_spec

_MAX = ["What is the largest number in {L}?", "Which is the biggest of {L}?", "Find the maximum of {L}."]
_MIN = ["What is the smallest number in {L}?", "Which is the least of {L}?", "Find the minimum of {L}."]
_COUNT = ["How many times does {t} appear in {L}?", "Count the {t}s in the list {L}.",
          "How many numbers in {L} are equal to {t}?"]


def generate(rng: random.Random) -> Problem:
    # The last line repeats the list before the result, so the reasoning's end belongs to
    # this list, not to every list with the same sorted numbers or the same count.
    op = rng.choice(["max", "min", "count"])
    if op == "count":
        # Values 0-5 in 5-7 slots so repeats (and the odd zero count) are common.
        xs, t = [rng.randint(0, 5) for _ in range(rng.randint(5, 7))], rng.randint(0, 5)
        value = xs.count(t)
        marks = ", ".join(f"{x} {'yes' if x == t else 'no'}" for x in xs)
        cot = f"Mark each {t}: {marks}.\nIn {fmt_list(xs)} the count of {t} is {value}."
        return Problem(rng.choice(_COUNT).format(t=t, L=fmt_list(xs)), str(value), cot, number_spec(value),
                       (op, t, *xs))
    xs = digits(rng, 3, 5, top=20)
    value = max(xs) if op == "max" else min(xs)
    word = "largest" if op == "max" else "smallest"
    L = fmt_list(xs)
    cot = f"The numbers are {L}.\nIn order: {fmt_list(sorted(xs))}.\nThe {word} of {L} is {value}."
    prompt = rng.choice(_MAX if op == "max" else _MIN).format(L=L)
    return Problem(prompt, str(value), cot, number_spec(value), (op, *xs))


def facts(rng: random.Random) -> str:
    """A list put in order with its largest and smallest, and a count done by marking each number."""
    xs = digits(rng, 3, 5, top=20)
    ys, t = [rng.randint(0, 5) for _ in range(rng.randint(5, 7))], rng.randint(0, 5)
    marks = ", ".join(f"{y} {'yes' if y == t else 'no'}" for y in ys)
    n = ys.count(t)
    out = [f"In order, {fmt_list(xs)} is {fmt_list(sorted(xs))}, so the largest number is {max(xs)} "
           f"and the smallest is {min(xs)}.",
           f"To count the {t}s in {fmt_list(ys)}, mark each number: {marks}. The number {t} appears "
           f"{n} {'time' if n == 1 else 'times'}."]
    rng.shuffle(out)
    return " ".join(out)
