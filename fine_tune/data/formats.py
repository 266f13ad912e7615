"""The row formats of public fine-tuning data, and how each becomes one canonical row.

A canonical row is a plain dict of str/None with the keys in `ROW_KEYS`; the
trainers read only these. Each format is a parser from one raw record (a dict
read from a file or the Hub) to a list of canonical rows (self_instruct tasks may
hold several instances; every other format gives one row):

    from fine_tune.data.formats import detect, parse
    raw = {"instruction": "Add 2 and 3.", "output": "5"}
    parse(detect(raw), raw)   # [{"id": None, "prompt": "Add 2 and 3.", "response": "5", ...}]

`FORMATS` is in detection order, most specific first: an HH dialogue also has
`chosen` and `rejected`, so `hh` must be tried before `preference`. A record that
does not fit its format raises `RowError`; the loader (`sources.py`) adds the file
and line and then raises a `UserError` or keeps the record as a reject.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Callable

from fine_tune.answers import NUMBER
from fine_tune.data.embedded import cot_response

# prompt: the (last) user turn; context: earlier turns as JSON [{"role","content"}], None if none;
# response: the SFT target; chosen/rejected: a preference pair; answer/cot/check: a short final
# answer, the reasoning before it, a JSON checker spec for `answers.is_correct`; skill: a category.
ROW_KEYS = ("id", "prompt", "context", "response", "chosen", "rejected", "answer", "cot", "check", "skill", "source")
# ShareGPT speakers; OpenAI-style `role` values pass through unchanged.
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
_CALC = re.compile(r"<<[^<>]*>>")  # GSM8K calculator annotations: <<48/2=24>>
_HH_TURN = re.compile(r"\n\n(Human|Assistant):")


class RowError(ValueError):
    """One record does not fit its format; the message says what is wrong with it."""


@dataclass(frozen=True)
class Format:
    """A row format: the fields every record needs, and its parser."""

    name: str
    needs: tuple[str, ...]
    hint: str  # what `needs` means, for error messages
    parse: Callable[..., list[dict]]
    fits: Callable[[dict], bool] | None = None  # a test beyond `needs`, for detection


# --- field helpers ----------------------------------------------------------------------
def present(raw: dict) -> list[str]:
    """The fields of a record that hold a value: Parquet and the Hub fill absent columns with null."""
    return [k for k, v in raw.items() if v is not None]


def _text(raw: dict, key: str) -> str | None:
    """raw[key] as text; None when absent or null; numbers become text; anything else is a RowError."""
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):  # JSON's NaN/Infinity literals: no answer to learn from or check against
            raise RowError(f"field '{key}' is {value}, not a finite number or text")
        return str(value)
    raise RowError(f"field '{key}' is a {type(value).__name__}, expected text")


def _decoded(value: object) -> object:
    """A text holding a JSON list (a CSV cell), decoded; any other value, '[INST] hi' included, unchanged."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value
        return decoded if isinstance(decoded, list) else value
    return value


def _list(raw: dict, key: str) -> list:
    """raw[key] as a list; [] when absent."""
    value = _decoded(raw.get(key))
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise RowError(f"field '{key}' is a {type(value).__name__}, expected a list")
    return list(value)


def _row(raw: dict, **fields) -> dict:
    """A canonical row: the record's own id and category when it has them, then `fields`."""
    row = dict.fromkeys(ROW_KEYS)
    own_id = raw.get("id")
    row["id"] = None if own_id is None else str(own_id)
    category = raw.get("skill", raw.get("category"))
    row["skill"] = category if isinstance(category, str) else None
    row.update(fields)
    return row


def _number(text: str | None) -> tuple[str, str] | None:
    """('1080', '{"kind": "number", "value": 1080}') for '1,080': the plain answer the checker reads
    back from `Answer: ...`, and the check spec `answers.is_correct` takes; None if not a number."""
    plain = (text or "").strip()
    if not NUMBER.fullmatch(plain):  # the answer reader's own number: 1,080 is one, the decimal comma of 1,5 not
        return None
    plain = plain.replace(",", "")
    return plain, json.dumps({"kind": "number", "value": float(plain) if "." in plain else int(plain)}, sort_keys=True)


# --- conversations ----------------------------------------------------------------------
def _message(item: object, where: str) -> dict:
    """One turn as {"role", "content"}, from OpenAI {role, content} or ShareGPT {from, value}."""
    if isinstance(item, dict) and "role" in item:
        role, content = str(item["role"]), item.get("content")
    elif isinstance(item, dict) and "from" in item:
        role = SHAREGPT_ROLES.get(str(item["from"]).lower())
        if role is None:
            raise RowError(f"{where} has unknown speaker '{item['from']}'; known: {', '.join(SHAREGPT_ROLES)}")
        content = item.get("value")
    else:
        raise RowError(f"{where} is not a turn: expected {{role, content}} or {{from, value}}, got {str(item)[:60]}")
    if not isinstance(content, str):
        raise RowError(f"{where} has {type(content).__name__} content, expected text")
    return {"role": role, "content": content}


def _system(raw: dict) -> list[dict]:
    """The record's separate `system` field (LLaMA-Factory) as a first turn, if it has one."""
    system = raw.get("system")
    return [{"role": "system", "content": system}] if isinstance(system, str) and system else []


def _turns(raw: dict, key: str) -> list[dict]:
    """raw[key] as a list of turns, after the record's system turn; a text becomes one user turn."""
    value = _decoded(raw.get(key))
    if isinstance(value, str):
        return _system(raw) + [{"role": "user", "content": value}]
    return _system(raw) + [_message(item, f"{key}[{i}]") for i, item in enumerate(_list(raw, key))]


def _context(turns: list[dict]) -> str | None:
    return json.dumps(turns, ensure_ascii=False) if turns else None


def _dialogue(turns: list[dict]) -> tuple[str, str | None, str | None]:
    """(prompt, context, response): the last user turn, the turns before it, the last assistant turn after it."""
    users = [i for i, turn in enumerate(turns) if turn["role"] == "user"]
    if not users:
        raise RowError("the conversation has no user turn")
    last = users[-1]
    replies = [turn["content"] for turn in turns[last + 1 :] if turn["role"] == "assistant"]
    return turns[last]["content"], _context(turns[:last]), replies[-1] if replies else None


# --- parsers, one per format -------------------------------------------------------------
def _alpaca(raw: dict) -> list[dict]:
    prompt, extra = _text(raw, "instruction"), _text(raw, "input")
    if extra and extra.strip():
        prompt = f"{prompt}\n\n{extra}"
    turns = _system(raw)
    for i, pair in enumerate(_list(raw, "history")):  # LLaMA-Factory: [[instruction, response], ...]
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise RowError(f"history[{i}] is not an [instruction, response] pair of texts")
        turns += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    return [_row(raw, prompt=prompt, context=_context(turns), response=_text(raw, "output"))]


def _self_instruct(raw: dict) -> list[dict]:
    rows = []
    for k, instance in enumerate(_list(raw, "instances")):
        if not isinstance(instance, dict) or instance.get("output") is None:
            raise RowError(f"instances[{k}] has no 'output'")
        task = {"id": raw.get("id"), "instruction": raw["instruction"], **instance}
        rows.append({**_alpaca(task)[0], "skill": _text(raw, "motivation_app")})
    if not rows:
        raise RowError("field 'instances' is empty")
    return rows


def _chat(key: str) -> Callable[[dict], list[dict]]:
    def parse(raw: dict) -> list[dict]:
        prompt, context, response = _dialogue(_turns(raw, key))
        return [_row(raw, prompt=prompt, context=context, response=response)]

    return parse


def _answer(raw: dict, key: str) -> tuple[str, list[dict]]:
    """A preference answer: (its text, the turns before it when it is a message list)."""
    value = _decoded(raw[key])
    if isinstance(value, dict):  # ShareGPT preference: {"from": "gpt", "value": ...}
        return _message(value, key)["content"], []
    if isinstance(value, str):
        return value, []
    turns = [_message(item, f"{key}[{i}]") for i, item in enumerate(_list(raw, key))]
    last = max((i for i, turn in enumerate(turns) if turn["role"] == "assistant"), default=None)
    if last is None:
        raise RowError(f"field '{key}' has no assistant message")
    return turns[last]["content"], turns[:last]


def _preference(raw: dict) -> list[dict]:
    chosen, chosen_before = _answer(raw, "chosen")
    rejected, _ = _answer(raw, "rejected")
    key = "conversations" if raw.get("conversations") is not None else "prompt"
    # No prompt field: TRL's implicit prompt, the turns before the chosen answer.
    turns = _turns(raw, key) if raw.get(key) is not None else chosen_before
    if not turns:
        raise RowError("no prompt: give a 'prompt' or 'conversations' field, or chosen/rejected as message lists")
    prompt, context, _ = _dialogue(turns)
    return [_row(raw, prompt=prompt, context=context, chosen=chosen, rejected=rejected)]


def _hh_turns(raw: dict, key: str) -> list[tuple[str, str]]:
    parts = _HH_TURN.split(_text(raw, key))
    if parts[0].strip():
        raise RowError(f"field '{key}' has text before its first 'Human:' turn")
    return [(role, body.strip()) for role, body in zip(parts[1::2], parts[2::2])]


def _hh(raw: dict) -> list[dict]:
    chosen, rejected = _hh_turns(raw, "chosen"), _hh_turns(raw, "rejected")
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    # The shared dialogue ends at its last Human turn (the prompt); everything after is an answer.
    # A few HH answers run over several Assistant turns: they are joined, not cut.
    while shared and chosen[shared - 1][0] != "Human":
        shared -= 1
    if not shared:
        raise RowError("chosen and rejected share no Human turn")
    tails = chosen[shared:], rejected[shared:]
    if any(role == "Human" for tail in tails for role, _ in tail):
        raise RowError("chosen and rejected differ before their final Assistant turns")
    context = [{"role": SHAREGPT_ROLES[role.lower()], "content": body} for role, body in chosen[: shared - 1]]
    answers = ["\n\n".join(body for _, body in tail) for tail in tails]
    prompt = chosen[shared - 1][1]
    return [_row(raw, prompt=prompt, context=_context(context), chosen=answers[0], rejected=answers[1])]


def _prompt_only(raw: dict) -> list[dict]:
    prompt, context, _ = _dialogue(_turns(raw, "prompt"))
    answer = _text(raw, "answer") if raw.get("answer") is not None else _text(raw, "solution")
    number = _number(answer)
    if number:
        answer = number[0]
    return [_row(raw, prompt=prompt, context=context, answer=answer, check=number[1] if number else None)]


def _gsm8k(raw: dict) -> list[dict]:
    reasoning, sep, final = _text(raw, "answer").rpartition("####")
    if not sep:
        raise RowError("field 'answer' has no '#### <final answer>' line")
    number = _number(final)  # 93 of GSM8K's 8792 finals write thousands as '1,080'
    if number is None:
        raise RowError(f"the final answer '{final.strip()}' is not a number")
    row = _row(raw, prompt=_text(raw, "question"), cot=_CALC.sub("", reasoning).strip(), answer=number[0])
    row.update(response=cot_response(row), check=number[1])
    return [row]


def _mt_bench(raw: dict) -> list[dict]:
    turns, reference = _list(raw, "turns"), _list(raw, "reference")
    if not turns or not isinstance(turns[0], str):
        raise RowError("field 'turns' has no first turn text")
    response = reference[0] if reference and isinstance(reference[0], str) else None
    return [_row(raw, id=str(raw["question_id"]), prompt=turns[0], response=response)]


def _mt_bench_reference(raw: dict, questions: dict | None = None) -> list[dict]:
    question = (questions or {}).get(raw["question_id"])
    if question is None:
        raise RowError(f"question_id {raw['question_id']} is not in MT-Bench's question.jsonl beside this file")
    choices = _list(raw, "choices")
    turns = choices[0].get("turns") if choices and isinstance(choices[0], dict) else None
    if not turns or not isinstance(turns[0], str):
        raise RowError("field 'choices' has no choices[0].turns[0] text")
    return [{**_mt_bench(question)[0], "response": turns[0]}]


def _is_hh(raw: dict) -> bool:
    return isinstance(raw.get("chosen"), str) and "\n\nHuman:" in raw["chosen"]


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("hh", ("chosen", "rejected"), "chosen+rejected dialogues of '\\n\\nHuman:'/'\\n\\nAssistant:' turns",
           _hh, fits=_is_hh),
    Format("preference", ("chosen", "rejected"), "chosen+rejected, with prompt or conversations", _preference),
    Format("gsm8k", ("question", "answer"), "question+answer ending in '#### <number>'", _gsm8k),
    Format("mt_bench_reference", ("question_id", "choices"), "question_id+choices, question.jsonl beside it",
           _mt_bench_reference),
    Format("mt_bench", ("question_id", "turns"), "question_id+turns", _mt_bench),
    Format("self_instruct", ("instruction", "instances"), "instruction+instances", _self_instruct),
    Format("alpaca", ("instruction", "output"), "instruction+output", _alpaca),
    Format("sharegpt", ("conversations",), "conversations", _chat("conversations")),
    Format("messages", ("messages",), "messages", _chat("messages")),
    Format("prompt_only", ("prompt",), "prompt", _prompt_only),
)}


# --- the public interface ----------------------------------------------------------------
def fitting(raw: dict) -> list[str]:
    """The formats whose needed fields a record has, most specific first."""
    found = set(present(raw))
    return [f.name for f in FORMATS.values() if set(f.needs) <= found and (f.fits is None or f.fits(raw))]


def detect(raw: dict) -> str | None:
    """The most specific format a record fits, or None."""
    names = fitting(raw)
    return names[0] if names else None


def needs_listing() -> str:
    """'hh needs chosen+rejected dialogues ..., preference needs ...': for error messages."""
    return ", ".join(f"{f.name} needs {f.hint}" for f in FORMATS.values())


def parse(name: str, raw: dict, **extra) -> list[dict]:
    """The canonical rows of one record read as format `name`.

    Args:
        name: a key of `FORMATS`.
        raw: the record.
        extra: passed to the parser (`questions`, for mt_bench_reference).

    Returns:
        Canonical rows; `id` is the record's own id or None (the loader fills it), `source` is None.

    Raises:
        RowError: a needed field is absent or malformed, or the prompt is empty.
    """
    fmt = FORMATS[name]
    found = present(raw)
    missing = [field for field in fmt.needs if field not in found]
    if missing:
        fits = ", ".join(fitting(raw))
        hint = f"they fit {fits}: declare one with data.source.format=<name>" if fits else "they fit no format"
        raise RowError(f"misses field '{missing[0]}' for format {name} (found fields [{', '.join(found)}]; {hint})")
    rows = fmt.parse(raw, **extra)
    if any(not (row["prompt"] or "").strip() for row in rows):
        raise RowError("the prompt is empty")
    return rows
