"""The format skill (answers under a format constraint): JSON or uppercase."""

from __future__ import annotations

import json
import random

from fine_tune.data.skills.arith import drill
from fine_tune.data.skills.base import WORDS, Problem

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


def generate(rng: random.Random) -> Problem:
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


def facts(rng: random.Random) -> str:
    """A sum or difference written as JSON, and a word in capitals spelled letter by letter; or a worksheet of sums."""
    if rng.random() < 0.5:
        return drill(rng, top=30, step_top=30)  # the JSON questions' operands: 0-30
    out = []
    for _ in range(rng.randint(1, 2)):
        a, op, b, r = _sum_pair(rng)
        out.append(rng.choice([f'{a} {op} {b} = {r}. As a JSON object with the key answer it is {{"answer": {r}}}.',
                               f'The result of {a} {op} {b} is {r}, which JSON writes as {{"answer": {r}}}.']))
    w = rng.choice(WORDS)
    out.append(f"The word {w} in capital letters is {w.upper()}, spelled {'-'.join(w.upper())}.")
    rng.shuffle(out)
    return " ".join(out)
