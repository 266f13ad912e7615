"""The lists skill (list manipulation): sort ascending or reverse 3-5 digits."""

from __future__ import annotations

import random

from fine_tune.data.skills.base import Problem, digits, fmt_list

_SORT = ["Sort these numbers from smallest to largest: {L}.", "Put the numbers {L} in increasing order.",
         "Arrange in ascending order: {L}."]
_REVERSE = ["Reverse the list: {L}.", "Write the numbers {L} in reverse order.", "What is the list {L} backwards?"]


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


def generate(rng: random.Random) -> Problem:
    xs = digits(rng, 3, 5)  # 10^3 + 10^4 + 10^5 lists, x 2 tasks
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


def facts(rng: random.Random) -> str:
    """How a list is sorted by insertion and read backwards, in prose."""
    xs = digits(rng, 3, 5)
    done, steps = [xs[0]], []
    for x in xs[1:]:
        done = sorted(done + [x])
        steps.append(f"add {x} to get {fmt_list(done)}")
    out = [f"To sort {fmt_list(xs)} from smallest to largest, start with {xs[0]}, then {', then '.join(steps)}.",
           f"So {fmt_list(xs)} in increasing order is {fmt_list(sorted(xs))}."]
    ys = digits(rng, 3, 5)
    out.append(rng.choice([f"Read from the end, the list {fmt_list(ys)} becomes {fmt_list(ys[::-1])}.",
                           f"Written backwards, {fmt_list(ys)} is {fmt_list(ys[::-1])}."]))
    rng.shuffle(out)
    return " ".join(out)
