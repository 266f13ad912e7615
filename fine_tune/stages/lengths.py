"""Rows whose prompt alone fills a stage's max_length: counted, left out with one warning, never a traceback.

A trainer truncates prompt + response to `method.<stage>.max_length` tokens from the right, so a row
whose prompt (as the chat template renders it) already takes max_length tokens keeps no response
token: it trains nothing, and when every row is like that the data loader ends the run with
"num_samples=0" deep inside TRL. Real data meets this at once (GSM8K prompts under a short
max_length), so each SFT and DPO stage measures its prompts first.
"""

from __future__ import annotations

import logging

from fine_tune.chat import prompt_text
from fine_tune.errors import UserError

log = logging.getLogger(__name__)


def prompt_tokens(tokenizer, rows: list[dict], instruction: str | None) -> list[int]:
    """Each row's prompt length in tokens, as the stage's chat template renders it."""
    texts = [prompt_text(tokenizer, row, instruction) for row in rows]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []


def rows_that_fit(rows: list[dict], lengths: list[int], max_length: int, where: str, split: str) -> list[dict]:
    """The rows whose prompt leaves room for at least one response token within max_length.

    Args:
        lengths: prompt_tokens(...) of `rows`, in order.
        where: the stage's config key, e.g. "method.sft_cot", for the messages.
        split: "train" or "eval", for the messages.

    Raises:
        UserError: no train row fits (an eval split may end empty: the stage then has no eval loss).
    """
    kept = [row for row, n in zip(rows, lengths) if n < max_length]
    cut = len(rows) - len(kept)
    if cut and kept:
        log.warning("%s: %d of %d %s rows have prompts of %d tokens or more (%s.max_length), so no response token "
                    "would be trained: left out; %s.max_length=%d keeps a response token in every row", where, cut,
                    len(rows), split, max_length, where, where, max(lengths) + 1)
    if split == "train" and rows and not kept:
        raise UserError(f"{where}.max_length={max_length}: every train row's prompt takes {min(lengths)} tokens or "
                        f"more, so no response token would be trained; raise it to at least {max(lengths) + 64} "
                        f"(the longest prompt, {max(lengths)} tokens, plus room for the answer)")
    return kept
