"""The canonical row every stage reads, whatever the source (see formats.ROW_KEYS).

Embedded rows carry `answer` and `cot` and build their targets from them;
loaded rows with a reasoning trace and final answer (GSM8K) do the same;
any other row trains on its `response` (or, for preference data, `chosen`).
"""

from __future__ import annotations

from fine_tune.data.embedded import cot_response, direct_response, thinking_response
from fine_tune.data.formats import ROW_KEYS

TARGETS = {"direct": direct_response, "cot": cot_response, "thinking": thinking_response}


def canonical(row: dict, source: str) -> dict:
    """`row` with every canonical key present (None where it has none); extra keys are kept."""
    filled = {key: row.get(key) for key in ROW_KEYS}
    filled["source"] = filled["source"] or source
    return {**row, **filled}


def is_structured(row: dict) -> bool:
    """True when the row has a final answer and a reasoning trace to build targets from."""
    return row.get("answer") is not None and row.get("cot") is not None


def response_text(row: dict, kind: str = "cot") -> str:
    """What the model should write for `row`: a direct answer, reasoning + answer, or a think block.

    Rows without a structured answer train on their own response whatever `kind` is.
    """
    if is_structured(row):
        return TARGETS[kind](row)
    return row.get("response") or row.get("chosen") or ""
