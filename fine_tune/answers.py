"""One answer reader: the final answer in a model's text, how it was found, and whether it is right.

Every consumer reads answers here: the data's checkers (and the curation that runs them),
the verifiable judge, GRPO's correctness reward and DeepEval's checker metric. Real models
do not all write the embedded world's `Answer: 7`; the reader understands the common
conventions, in this order of precedence, reading after the last `</think>` if any:

    answer_line     an `Answer:` line in any case or markup: `answer: 18`, `**Answer:** 18`,
                    `Final answer: 18` (the last one in the text)
    hashes          `#### 18` (GSM8K's references)
    boxed           `\\boxed{18}` (math models)
    the_answer_is   "... the answer is 18." / "The final answer is $18."
    last_number     the last number in the text, when no convention above is present and
                    the gold answer is a number: a fallback, reported as such

When several explicit conventions are present and disagree (`#### 18` then `Answer: 20`),
the answer is a conflict and never correct. Numbers compare by value: `1,080`, `1080` and
`1080.0` are equal, and currency signs or unit words around one number (`$18`,
`18 dollars`, `480 minutes`) are allowed; two different numbers (`18 or 20`) are not one
answer. Lists, weekdays, JSON objects and upper-case words are read in the embedded
skills' own forms (see fine_tune.data.skills.checking).

    >>> read_answer("So she has 1,080 dollars.\\n#### 1080")
    Answer(text='1080', convention='hashes', conflict=False)
    >>> is_correct("The answer is $18.", {"kind": "number", "value": 18})
    True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

CONVENTIONS = ("answer_line", "hashes", "boxed", "the_answer_is", "last_number")

_MARKUP = "*_`"
_ANSWER_LINE = re.compile(r"(?i)(?:\*\*|__)?\b(?:final\s+)?answer\b\s*(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?[ \t]*([^\n]*)")
_HASHES = re.compile(r"(?m)####[ \t]*([^\n]*)")
_THE_ANSWER_IS = re.compile(r"(?i)\bthe\s+(?:final\s+)?answer\s+is\b[:\s]*([^\n]*)")
# what every response format this project trains ends with: the writer (answer_line) and its readers
# (read_answer) live here together, with what a prompt says when it already asks for a form
ANSWER_PREFIX = "Answer: "
ASKS_FOR_ANSWER_FORM = re.compile(r"(?i)\banswer\s*:|####|\\boxed|final answer")
# a number as people write it: thousands separators, a decimal part, a sign
NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])")


def answer_line(answer: object) -> str:
    """The final-answer line every response format ends with: `Answer: 7`."""
    return f"{ANSWER_PREFIX}{answer}"


@dataclass(frozen=True)
class Answer:
    text: str | None  # the answer as written (markup, a closing full stop and `$` removed); None: no answer
    convention: str | None  # which of CONVENTIONS found it; "conflict" when explicit answers disagree
    conflict: bool = False


def _clean(value: str) -> str:
    """The answer without markup: `**`, backticks, `$` and LaTeX's `$\\boxed{...}$`, a closing full stop."""
    value = value.strip().strip(_MARKUP).strip()
    value = _boxed(value) or value if "\\boxed{" in value else value
    if value.endswith(".") and not value.endswith(".."):
        value = value[:-1].rstrip()
    value = value.strip("$ ") if value.count("$") == 2 and value.startswith("$") else value
    return value[1:] if value.startswith("$") and not value.startswith("${") else value


def _boxed(text: str) -> str | None:
    """The content of the last \\boxed{...}, braces balanced."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    return None


def _last(pattern: re.Pattern, text: str) -> str | None:
    found = pattern.findall(text)
    return found[-1] if found else None


def _the_answer_is(text: str) -> str | None:
    value = _last(_THE_ANSWER_IS, text)
    if value is None:
        return None
    return re.split(r"(?<=[^\d])\.(?:\s|$)|\.\s", value + " ", maxsplit=1)[0]  # up to the sentence's end


def numbers(text: str) -> list[float]:
    """Every number in `text`, by value (`1,080` -> 1080.0); after the last `=` when there is one."""
    text = text.rsplit("=", 1)[-1]
    return [float(n.replace(",", "")) for n in NUMBER.findall(text)]


def _same(a: str, b: str) -> bool:
    """Whether two explicit answers say the same thing: equal numbers, or equal text once normalised."""
    na, nb = set(numbers(a)), set(numbers(b))
    if len(na) == 1 and len(nb) == 1 and not re.search(r"[\[{]", a + b):
        return na == nb
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def read_answer(text: object) -> Answer:
    """The final answer in `text` and the convention that found it (see the module docstring)."""
    if not isinstance(text, str):
        return Answer(None, None)
    if "<think>" in text and "</think>" not in text:
        return Answer(None, None)  # the thinking never ended: no answer was given
    text = text.rpartition("</think>")[2]
    explicit = {"answer_line": _last(_ANSWER_LINE, text), "hashes": _last(_HASHES, text),
                "boxed": _boxed(text), "the_answer_is": _the_answer_is(text)}
    found = [(name, _clean(value)) for name, value in explicit.items() if value is not None]
    if not found:
        last = NUMBER.findall(text)
        return Answer(last[-1].replace(",", ""), "last_number") if last else Answer(None, None)
    name, value = found[0]
    if any(not _same(value, other) for _, other in found[1:] if other):
        return Answer(None, "conflict", conflict=True)
    return Answer(value, name)


def extract_answer(text: object) -> str | None:
    """The final answer's text, or None (read_answer without the convention)."""
    return read_answer(text).text


def _spec(gold) -> dict | None:
    """A check spec from a row (its `check`), a spec dict, its JSON, or a plain gold answer string."""
    if isinstance(gold, dict):
        gold = gold.get("check", gold) if "kind" not in gold else gold
    if isinstance(gold, str):
        try:
            parsed = json.loads(gold)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
        values = numbers(gold)
        if len(values) == 1 and NUMBER.fullmatch(_clean(gold).replace("$", "")):
            return {"kind": "number", "value": values[0]}
        return {"kind": "text", "value": _clean(gold), "ignore_case": True}
    return gold if isinstance(gold, dict) else None


def _num_eq(got: object, want: object) -> bool:
    # bool is an int in Python; JSON `true` must not pass for 1.
    ok = isinstance(got, (int, float)) and not isinstance(got, bool)
    return ok and abs(float(got) - float(want)) < 1e-9


def check(spec: dict, answer: str) -> bool:
    """True if the extracted `answer` text satisfies the `check` spec; raises on nothing.

    number: exactly one number by value (`1,080`, `$18`, `18 dollars`; not `18 or 20`);
    list: the numbers in order, bracketed or not; json_answer: a JSON object whose only key
    is `answer`; text: the word, once markup and a closing mark are stripped.
    """
    try:
        kind, want, text = spec["kind"], spec["value"], answer.strip()
        if kind == "json_answer":
            found = re.search(r"\{.*\}", text, re.DOTALL)
            obj = json.loads(found.group(0)) if found else None
            return isinstance(obj, dict) and list(obj) == ["answer"] and _num_eq(obj["answer"], want)
        text = text.strip("*_` ").rstrip(".!").strip()  # markup and a closing mark are not part of the answer
        if kind == "number":
            values = set(numbers(text))
            return len(values) == 1 and _num_eq(values.pop(), want)
        if kind == "list":
            return [int(x) for x in text.strip("[]").split(",")] == list(want)
        if kind == "text":
            return text.lower() == want.lower() if spec.get("ignore_case") else text == want
    except Exception:  # garbage in (non-str, bad JSON, bad int): not a correct answer
        return False
    return False


def is_correct(text: object, gold) -> bool:
    """Whether the final answer in `text` satisfies `gold`; False (never raises) on garbage.

    Args:
        text: the model's response.
        gold: a row with a `check`, a check spec (dict or JSON), or the gold answer as text.
    """
    try:
        spec = _spec(gold)
        answer = read_answer(text)
        if spec is None or answer.text is None:
            return False
        if answer.convention == "last_number" and spec.get("kind") != "number":
            return False  # a stray number is no list, weekday or JSON object
        return check(spec, answer.text)
    except Exception:  # a malformed row or check spec is a failed check, not a crash
        return False
