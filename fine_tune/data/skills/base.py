"""What every skill shares: the Problem and Skill records, the word lists, number helpers."""

from __future__ import annotations

import random
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
    """A named skill: a problem generator, a corpus-document generator and its share of the rows.

    `multi_step`: the answer needs a chain of intermediate results, each computed from the
    one before (the reasoning measure of fine_tune.evaluation.reasoning reads it).
    """

    name: str
    generate: Callable[[random.Random], Problem]
    facts: Callable[[random.Random], str]
    weight: float = 1.0
    multi_step: bool = False


def fmt_list(xs: list[int]) -> str:
    """`[5, 2, 8]` -> `"5, 2, 8"`: the one way lists are written in prompts and prose."""
    return ", ".join(str(x) for x in xs)


def number_spec(value: int) -> dict:
    """The check spec of a numeric answer."""
    return {"kind": "number", "value": value}


def plural(n: int, one: str, many: str) -> str:
    """`1 day`, `3 days`."""
    return f"{n} {one if n == 1 else many}"


def digits(rng: random.Random, lo: int, hi: int, top: int = 9) -> list[int]:
    """lo..hi numbers 0..top, never all equal (so a wrong order is always a different list).

    More than half as many distinct values as slots: a list like 0, 0, 0, 0, 4 makes
    reasoning that is mostly one repeated number, which a noise filter calls repetition.
    """
    while True:
        xs = [rng.randint(0, top) for _ in range(rng.randint(lo, hi))]
        if len(set(xs)) > max(1, len(xs) // 2):
            return xs

