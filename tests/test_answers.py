"""The one answer reader on a table of real phrasings, including ones that must stay wrong."""

from __future__ import annotations

import json

import pytest

from fine_tune.answers import extract_answer, is_correct, read_answer

N18 = {"kind": "number", "value": 18}
MONDAY = {"kind": "text", "value": "Monday", "ignore_case": True}
LIST = {"kind": "list", "value": [1, 2, 3]}
JSON20 = {"kind": "json_answer", "value": 20}
UPPER = {"kind": "text", "value": "WATER"}

# (response, check spec, correct?, the convention that found the answer)
PHRASINGS = [
    ("Answer: 18", N18, True, "answer_line"),
    ("answer: 18", N18, True, "answer_line"),
    ("**Answer:** 18", N18, True, "answer_line"),
    ("Final Answer: 18", N18, True, "answer_line"),
    ("Answer: $18", N18, True, "answer_line"),
    ("Answer: 18 dollars", N18, True, "answer_line"),
    ("She pays 6 x 3 = 18 dollars.\n#### 18", N18, True, "hashes"),
    ("The total is \\boxed{18}", N18, True, "boxed"),
    ("So the answer is 18.", N18, True, "the_answer_is"),
    ("The final answer is $\\boxed{18}$.", N18, True, "boxed"),
    ("Tom had 12 and got 6, so he has 18 now.", N18, True, "last_number"),
    ("Answer: 12 + 6 = 18", N18, True, "answer_line"),
    ("Answer: 1,080", {"kind": "number", "value": 1080}, True, "answer_line"),
    ("#### 1080.0", {"kind": "number", "value": 1080}, True, "hashes"),
    ("Answer: -5", {"kind": "number", "value": -5}, True, "answer_line"),
    ("Answer: **monday**.", MONDAY, True, "answer_line"),
    ("Answer: [1, 2, 3]", LIST, True, "answer_line"),
    ("Answer: 1, 2, 3.", LIST, True, "answer_line"),
    ('Answer: {"answer": 20}', JSON20, True, "answer_line"),
    ("Answer: WATER", UPPER, True, "answer_line"),
    ("<think>\n6 x 3 = 18\n</think>\nAnswer: 18", N18, True, "answer_line"),
    # must stay wrong
    ("Answer: 19", N18, False, "answer_line"),
    ("Answer: 18 or 20", N18, False, "answer_line"),
    ("#### 18\nAnswer: 20", N18, False, "conflict"),
    ("The answer is 18.\n\\boxed{20}", N18, False, "conflict"),
    ("Answer: 20", JSON20, False, "answer_line"),  # the format was the task: no JSON, no credit
    ("Answer: water", UPPER, False, "answer_line"),
    ("The list is 1, 2, 3", LIST, False, "last_number"),  # a stray number is no list
    ("<think>\nso it is 18", N18, False, None),  # the thinking never ended
    ("I do not know.", N18, False, None),
    ("Answer:", N18, False, "answer_line"),
]


@pytest.mark.parametrize("text, spec, correct, convention", PHRASINGS)
def test_phrasings(text, spec, correct, convention):
    assert is_correct(text, spec) is correct
    assert is_correct(text, json.dumps(spec)) is correct  # a row's check is stored as JSON
    assert is_correct(text, {"check": json.dumps(spec)}) is correct
    assert read_answer(text).convention == convention


def test_gold_as_plain_text():
    assert is_correct("#### 1,080", "1080") and is_correct("Answer: monday", "Monday")
    assert not is_correct("#### 1081", "1080")


def test_garbage_is_never_correct():
    for text in (None, 7, "", "Answer: [1, x]"):
        assert is_correct(text, LIST) is False
    for spec in (None, "", "{not json", {"kind": "unknown", "value": 1}, {"check": "{"}):
        assert is_correct("Answer: 7", spec) is False
    assert extract_answer("x\nAnswer: 3\nmore\nAnswer:  9 \n") == "9"  # the last answer line
    assert extract_answer("Answer: 5\nUser: next question") == "5"  # up to the end of its line
