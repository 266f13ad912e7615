"""The weekday skill (weekday arithmetic): up to 20 weeks and 6 days forward or back."""

from __future__ import annotations

import random

from fine_tune.data.skills.base import DAYS, EVENTS, NAMES, Problem, plural

# An offset is asked as "17 days" (offsets up to 30) or as "2 weeks and 3 days" (up to
# 20 weeks): 7 start days x 146 offsets x 2 directions = 2,044 problems, room for the
# skill's share of the rows. Either way the reasoning drops whole weeks, which never
# change the day, then counts the rest one by one.
_AFTER = ["What day is {k} after {day}?", "Today is {day}. What day will it be in {k}?",
          "{name} has a {event} on {day}. What day is {k} after the {event}?"]
_BEFORE = ["What day is {k} before {day}?", "Today is {day}. What day was it {k} ago?",
           "{name} has a {event} on {day}. What day is {k} before the {event}?"]
_MAX_WEEKS, _MAX_DAYS_SPAN = 20, 30
# How people say an offset in prose, as the prompts say it: "in 3 days", "3 days ago", "before the party".
_SAID_AFTER = ["Today is {day}, so in {k} it will be {end}.", "If the {event} is on {day}, {k} after the {event} is {end}."]
_SAID_BEFORE = ["Today is {day}, so {k} ago it was {end}.", "If the {event} is on {day}, {k} before the {event} is {end}."]


def _walk(start: int, k: int, sign: int) -> list[str]:
    return [DAYS[(start + sign * i) % 7] for i in range(1, k + 1)]


def _span(weeks: int, days: int) -> str:
    """`2 weeks and 3 days`, `1 week`, `4 days`: an offset as the prompt says it."""
    parts = [plural(weeks, "week", "weeks")] if weeks else []
    parts += [plural(days, "day", "days")] if days or not weeks else []
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
        lines.append(f"{asked} is {plural(weeks, 'week', 'weeks')} and {plural(rest, 'day', 'days')}.")
    if weeks:
        lines.append(f"{day} {'plus' if sign > 0 else 'minus'} {plural(weeks, 'week', 'weeks')} is {day}.")
    if rest:
        lines.append(f"Count {rest} {'forward' if sign > 0 else 'back'}: {', '.join(seq)}.")
    lines.append(f"{asked[0].upper()}{asked[1:]} {'after' if sign > 0 else 'before'} {day} is {end}.")
    return lines, end


def generate(rng: random.Random) -> Problem:
    start, sign = rng.randrange(7), rng.choice([1, -1])
    offset = rng.randint(1, 7 * _MAX_WEEKS + 6)
    as_days = offset <= _MAX_DAYS_SPAN and (offset < 7 or rng.random() < 0.5)
    asked = plural(offset, "day", "days") if as_days else _span(*divmod(offset, 7))
    template = rng.choice(_AFTER if sign > 0 else _BEFORE)
    prompt = template.format(k=asked, day=DAYS[start], name=rng.choice(NAMES)[0], event=rng.choice(EVENTS))
    lines, end = _weekday_cot(start, offset, sign, asked)
    return Problem(prompt, end, "\n".join(lines), {"kind": "text", "value": end, "ignore_case": True},
                   (start, offset, sign))


def facts(rng: random.Random) -> str:
    """Day order, an offset split into weeks and days, and the days counted one by one."""
    start, sign = rng.randrange(7), rng.choice([1, -1])
    weeks, rest = rng.randint(0, _MAX_WEEKS), rng.randint(1, 6)
    offset, way = 7 * weeks + rest, "after" if sign > 0 else "before"
    end = DAYS[(start + sign * offset) % 7]
    said = rng.choice(_SAID_AFTER if sign > 0 else _SAID_BEFORE)
    asked = plural(offset, "day", "days") if offset <= _MAX_DAYS_SPAN and rng.random() < 0.5 else _span(weeks, rest)
    out = []
    if rng.random() < 0.3:
        out.append(f"The days of the week in order are {', '.join(DAYS)}. After Sunday comes Monday again.")
    out.append(f"The day after {DAYS[start]} is {DAYS[(start + 1) % 7]}, and the day before it is "
               f"{DAYS[(start - 1) % 7]}.")
    if weeks:
        out.append(f"{plural(offset, 'day', 'days')} is {_span(weeks, rest)}. Whole weeks keep the day: "
                   f"{plural(weeks, 'week', 'weeks')} {way} {DAYS[start]} is {DAYS[start]} again.")
    counted = ", ".join(_walk(start, rest, sign))
    out.append(f"Counting {rest} {'forward' if sign > 0 else 'back'} from {DAYS[start]} gives {counted}, "
               f"so {plural(offset, 'day', 'days')} {way} {DAYS[start]} is {end}.")
    out.append(said.format(day=DAYS[start], k=asked, end=end, event=rng.choice(EVENTS)))
    return " ".join(out)
