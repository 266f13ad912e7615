"""Preference pairs for DPO: from the data's own chosen/rejected, or built from checkable rows.

A checkable row (embedded, GSM8K) gives a pair of its correct step-by-step
answer (chosen) and a near miss (rejected): half the time the same reasoning
ending at a plausible wrong value, half the time the right reasoning with no
final answer line, the two failures the checkers punish.
"""

from __future__ import annotations

import logging
import random

from fine_tune.data.embedded import cot_response, damage
from fine_tune.data.schema import is_structured
from fine_tune.errors import UserError

log = logging.getLogger(__name__)


def _pair(row: dict, rng: random.Random) -> tuple[str, str] | None:
    if row.get("chosen") and row.get("rejected") is not None:
        return row["chosen"], row["rejected"]
    if not (is_structured(row) and row.get("check") and str(row["answer"]).strip()):
        return None
    if rng.random() < 0.5:
        return cot_response(row), cot_response({**row, **damage("wrong_answer", row, rng)})
    return cot_response(row), row["cot"]  # no "Answer:" line: a format failure


def preference_rows(rows: list[dict], seed: int, what: str) -> list[dict]:
    """Rows with `chosen` and `rejected` filled in; rows that cannot make a pair are left out.

    Raises:
        UserError: when no row has (or can make) a rejected answer.
    """
    rng = random.Random(f"{seed}:preferences")
    pairs = []
    for row in rows:
        pair = _pair(row, rng)
        if pair is not None:
            pairs.append({**row, "chosen": pair[0], "rejected": pair[1]})
    if rows and not pairs:
        fields = sorted(k for k, v in rows[0].items() if v is not None)
        raise UserError(
            f"method dpo needs preference pairs, but no {what} row has a rejected answer or a checker to build one "
            f"(fields found: {', '.join(fields)}): use preference data (prompt/chosen/rejected, HH, ShareGPT "
            "chosen/rejected) or data with final answers and checkers"
        )
    same = [p for p in pairs if str(p["chosen"]).strip() == str(p["rejected"]).strip()]
    if pairs and len(same) == len(pairs):  # DPO's loss is flat: it would train nothing and say nothing
        raise UserError(f"method dpo: every one of the {len(pairs)} {what} preference pairs has chosen equal to "
                        f"rejected (first: {same[0].get('id')}): the data holds no preference; check the "
                        "source's rejected column")
    if same:
        log.warning("%d of %d %s preference pairs have chosen equal to rejected: they teach DPO nothing",
                    len(same), len(pairs), what)
    return pairs
