"""One chat builder: the conversation a row is trained on is the one it is generated from and scored on.

A row's conversation is its earlier turns (`context`, a JSON list of {role, content}) and
then its prompt as the user's last turn. With `data.answer_instruction` set, a sentence
asking for the final-answer line is appended to that last turn: for sources whose
prompts never ask for a format (GSM8K), so that what the model learns to write is what
the answer reader looks for. Training (SFT, DPO, GRPO), generation and the held-out loss
all build their chats here, so a multi-turn row is scored as it was trained.
"""

from __future__ import annotations

import json

from fine_tune.answers import ASKS_FOR_ANSWER_FORM, answer_line

BUILTIN_INSTRUCTION = f'Reason step by step, then give the final answer on a last line as "{answer_line("<answer>")}".'
OFF = (None, "", "off", "none", "null")


def answer_instruction(setting: str | None) -> str | None:
    """data.answer_instruction as text: None when off, the built-in sentence for `default`, else the text itself."""
    if setting in OFF:
        return None
    return BUILTIN_INSTRUCTION if setting == "default" else str(setting)


def prompts_that_ask_already(rows: list[dict], instruction: str | None) -> list[dict]:
    """The rows whose prompt already asks for a final-answer form, when an instruction would be appended."""
    if not instruction:
        return []
    return [r for r in rows if instruction in r["prompt"] or ASKS_FOR_ANSWER_FORM.search(r["prompt"])]


def conversation(row: dict, instruction: str | None = None) -> list[dict]:
    """The turns up to the user's last one (earlier turns of a dialogue included)."""
    prompt = row["prompt"] if not instruction else f"{row['prompt']}\n\n{instruction}"
    return [*json.loads(row.get("context") or "[]"), {"role": "user", "content": prompt}]


def prompt_text(tokenizer, row: dict, instruction: str | None = None) -> str:
    """The templated conversation, ending where the assistant's answer begins."""
    return tokenizer.apply_chat_template(conversation(row, instruction), tokenize=False, add_generation_prompt=True)


def full_text(tokenizer, row: dict, response: str, instruction: str | None = None) -> str:
    """The templated conversation with `response` as the assistant's turn."""
    turns = [*conversation(row, instruction), {"role": "assistant", "content": response}]
    return tokenizer.apply_chat_template(turns, tokenize=False)
