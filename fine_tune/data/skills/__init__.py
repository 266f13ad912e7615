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

from fine_tune.answers import check
from fine_tune.data.skills import answer_format, arith, lists, minmax, units, weekday
from fine_tune.data.skills.base import DAYS, Skill
from fine_tune.data.skills.checking import plausible_wrong

# Shares of the rows: the big spaces (arith ~100k, lists ~220k, minmax ~10^6 problems) take
# more; units (~1,480), format (~1,580) and weekday (2,044) keep ~11.6% each (1,094 rows)
# without using up more than ~3/4 of their space.
SKILLS: list[Skill] = [
    Skill("arith", arith.generate, arith.facts, 0.225, multi_step=True),  # 2-3 chained operations
    Skill("units", units.generate, units.facts, 0.12),
    Skill("lists", lists.generate, lists.facts, 0.225),
    Skill("weekday", weekday.generate, weekday.facts, 0.12, multi_step=True),  # whole weeks, then day by day
    Skill("minmax", minmax.generate, minmax.facts, 0.225),
    Skill("format", answer_format.generate, answer_format.facts, 0.12),
]

__all__ = ["SKILLS", "DAYS", "Skill", "check", "plausible_wrong"]
