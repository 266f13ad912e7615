"""The units skill (unit conversion): multiply by a factor (big -> small) or divide (small -> big)."""

from __future__ import annotations

import random

from fine_tune.data.skills.base import NAMES, Problem, number_spec, plural

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


def generate(rng: random.Random) -> Problem:
    # The amount comes first in the reasoning: the unit fact alone ("1 liter is 1000
    # milliliters") follows the same question words in every problem of its unit.
    unit, n, thing, _, smalls = _unit_pick(rng)
    big, factor, m = unit[0], unit[4], n * unit[4]
    bigs = plural(n, big, unit[1])
    if rng.random() < 0.5:  # big -> small: multiply
        prompt = _unit_prompt(rng, unit, thing, bigs, smalls)
        cot = [f"Convert {bigs} to {smalls}.", f"1 {big} is {factor} {smalls}.", f"{n} x {factor} = {m}."]
        value, way = m, "down"
    else:  # small -> big: divide, always a whole number of big units
        prompt = _unit_prompt(rng, unit, thing, f"{m} {smalls}", unit[1])
        cot = [f"Convert {m} {smalls} to {unit[1]}.", f"{factor} {smalls} is 1 {big}.", f"{m} / {factor} = {n}."]
        value, way = n, "up"
    return Problem(prompt, str(value), "\n".join(cot), number_spec(value), (big, unit[2], way, n))


def facts(rng: random.Random) -> str:
    """A unit's factor, then 2-3 amounts converted both ways with the product or quotient written out."""
    unit, _, _, _, smalls = _unit_pick(rng)
    big, bigs, factor = unit[0], unit[1], unit[4]
    out = [rng.choice([f"1 {big} is {factor} {smalls}.", f"There are {factor} {smalls} in 1 {big}.",
                       f"{factor} {smalls} make 1 {big}."])]
    for _ in range(rng.randint(2, 3)):
        n = rng.randint(1, unit[5])
        m, amount = n * factor, plural(n, big, bigs)
        if rng.random() < 0.5:
            out.append(rng.choice([f"So {amount} is {n} x {factor} = {m} {smalls}.",
                                   f"To turn {amount} into {smalls}, multiply: {n} x {factor} = {m}."]))
        else:
            out.append(rng.choice([f"And {m} {smalls} is {m} / {factor} = {amount}.",
                                   f"To turn {m} {smalls} into {bigs}, divide: {m} / {factor} = {n}."]))
    return " ".join(out)
