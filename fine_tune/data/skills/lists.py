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
    xs = digits(rng, 3, 5)
    return (f"The numbers {fmt_list(xs)} in order from smallest to largest are {fmt_list(sorted(xs))}. "
            f"Written backwards, the list {fmt_list(xs)} becomes {fmt_list(xs[::-1])}. "
            f"The first number is {xs[0]} and the last number is {xs[-1]}.")
