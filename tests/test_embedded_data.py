"""Tests for the embedded world: determinism, sizes, defects, the checker, the corpus.

Fast (the whole world builds in well under a second): run with
`python -m pytest -q tests/test_embedded_data.py`.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import unicodedata
from collections import Counter

import pytest
from datasketch import MinHash

from fine_tune.answers import extract_answer, is_correct
from fine_tune.data.curation.decontaminate import decontaminate
from fine_tune.data.curation.dedup import near_dedup
from fine_tune.data.curation.text import normalise, row_text, shingles
from fine_tune.data.embedded import (
    DEFECT_RATES,
    DEFECTS,
    WORLD_KEYS,
    build_corpus,
    build_world,
    cot_response,
    direct_response,
    normalize_prompt,
    stratified_split,
    thinking_response,
)
from fine_tune.data.schema import canonical
from fine_tune.data.skills import DAYS, SKILLS

SKILL_NAMES = [s.name for s in SKILLS]
RESPONSES = [direct_response, cot_response, thinking_response]


def _digest(world) -> str:
    blob = json.dumps([world.train_clean, world.eval, world.raw], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@pytest.fixture(scope="module")
def world():
    return build_world(seed=0, show_progress=False)


@pytest.fixture(scope="module")
def by_id(world):
    return {r["id"]: r for r in world.train_clean + world.eval}


def _defects(world, label):
    return [r for r in world.raw if r["defect"] == label]


def test_same_seed_same_bytes_other_seed_differs(world):
    start = time.perf_counter()
    again = build_world(seed=0, show_progress=False)
    assert time.perf_counter() - start < 3.0  # the trainer builds it on every run
    assert _digest(again) == _digest(world)
    assert _digest(build_world(seed=1, show_progress=False)) != _digest(world)


def test_sizes_match_the_reference_study(world):
    assert abs(len(world.train_clean) - 8963) <= 3
    assert abs(len(world.eval) - 472) <= 3
    counts = Counter(r["defect"] for r in world.raw)
    assert counts[None] == len(world.train_clean)
    assert all(counts[label] > 0 for label in DEFECTS), counts
    # raw is the larger set ("Large SFT"), each defect at its documented share of it
    assert len(world.raw) > 1.7 * len(world.train_clean)
    for label, rate in DEFECT_RATES.items():
        assert counts[label] / len(world.raw) == pytest.approx(rate, abs=0.002), label
    # contamination stays a small leak: about 5% of the eval rows' count
    assert counts["contamination"] <= 0.06 * len(world.eval) + 1
    # Shares follow the skills' weights: big problem spaces get more rows, none under 8%.
    per_skill = Counter(r["skill"] for r in world.train_clean + world.eval)
    assert per_skill == {"arith": 2051, "units": 1094, "lists": 2051, "weekday": 1094, "minmax": 2051, "format": 1094}
    assert min(per_skill.values()) >= 0.08 * sum(per_skill.values())


def test_row_schema(world):
    for row in world.train_clean + world.eval + world.raw:
        assert tuple(row) == WORLD_KEYS
        assert all(v is None or isinstance(v, str) for v in row.values())
    assert all(r["defect"] is None and r["source_id"] is None for r in world.train_clean + world.eval)
    assert {r["split"] for r in world.train_clean} == {"train"}
    assert {r["split"] for r in world.eval} == {"eval"}
    assert {r["split"] for r in world.raw} == {"train"}
    assert len({r["id"] for r in world.raw}) == len(world.raw)


def test_clean_prompts_unique_and_eval_not_in_raw(world):
    clean = [normalize_prompt(r["prompt"]) for r in world.train_clean + world.eval]
    assert len(clean) == len(set(clean))
    raw_prompts = {r["prompt"] for r in world.raw}
    assert not any(r["prompt"] in raw_prompts for r in world.eval)
    eval_ids = {r["id"] for r in world.eval}
    assert not any(r["id"] in eval_ids for r in world.raw)


def _minhash(row) -> MinHash:
    sig = MinHash(num_perm=128)
    for shingle in shingles(row_text(canonical(row, "embedded")), 3):
        sig.update(shingle)
    return sig


def test_clean_rows_are_distinct_problems(world):
    """Neither near-dedup nor decontamination may take clean rows for copies of each other.

    Rows unique by prompt alone were not enough: a name swapped in the same weekday
    problem made ~2,300 clean rows near-duplicates, and shared reasoning lines made
    ~40% of them share a 13-gram with some eval row.
    """
    train = [canonical(r, "embedded") for r in world.train_clean]
    _, dropped = near_dedup(train, threshold=0.7, shingle_size=3, num_perm=128, show_progress=False)
    assert len(dropped) <= 0.01 * len(train), Counter(r["skill"] for r, _ in dropped)
    _, leaked = decontaminate(train, [canonical(r, "embedded") for r in world.eval], 13)
    assert len(leaked) <= 0.01 * len(train), Counter(r["skill"] for r, _ in leaked)


def test_near_duplicates_are_light_copies_that_exact_dedup_misses(world, by_id):
    rows = _defects(world, "near_duplicate")
    similar = 0
    for row in rows:
        src = by_id[row["source_id"]]
        assert (row["cot"], row["answer"]) == (src["cot"], src["answer"])  # the response never changes
        assert normalise(row["prompt"]) != normalise(src["prompt"]), row["prompt"]
        similar += _minhash(row).jaccard(_minhash(src)) >= 0.8
    assert similar >= 0.97 * len(rows)  # so near-dedup at 0.7 catches them


def test_contamination_shares_a_13_gram_with_its_eval_row(world):
    rows = [canonical(r, "embedded") for r in _defects(world, "contamination")]
    _, caught = decontaminate(rows, [canonical(r, "embedded") for r in world.eval], 13)
    assert len(caught) >= 0.95 * len(rows)


def _bad_characters(text: str) -> bool:
    """Control or format characters, U+FFFD, or the lead bytes of UTF-8 read as Latin-1."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch != "\n" or ch in "\ufffdÃâï" for ch in text)


def test_garbled_rows_always_carry_a_bad_character(world, by_id):
    """Scrambled letters alone could pass for rare words, so every garbled row has a stray character too."""
    assert not any(_bad_characters(r["prompt"] + r["cot"]) for r in world.train_clean + world.eval)
    for row in _defects(world, "garbled"):
        assert _bad_characters(row["prompt"] + row["cot"]), row


def test_split_is_stratified_and_order_free(world):
    rows = world.train_clean + world.eval
    train, held = stratified_split(rows, 0.05, seed=0)
    assert {r["id"] for r in held} == {r["id"] for r in world.eval}
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    assert {r["id"] for r in stratified_split(shuffled, 0.05, seed=0)[1]} == {r["id"] for r in held}
    assert {r["id"] for r in stratified_split(rows, 0.05, seed=1)[1]} != {r["id"] for r in held}
    n = Counter(r["skill"] for r in rows)
    assert Counter(r["skill"] for r in held) == {s: round(c * 0.05) for s, c in n.items()}


def _wrong(row) -> list[str]:
    """Near misses written independently of the generator's own `plausible_wrong`."""
    spec = json.loads(row["check"])
    v = spec["value"]
    if spec["kind"] == "number":
        # a unit word around the right number is still the answer (fine_tune.answers); two numbers are not
        return [str(v + 1), str(v - 1), f"{v} or {v + 1}"]
    if spec["kind"] == "list":
        rotated = v[1:] + v[:1]  # never all-equal lists, so a rotation is another list
        return ["[" + ", ".join(map(str, rotated)) + "]", "[" + ", ".join(map(str, v[:-1])) + "]"]
    if spec["kind"] == "json_answer":
        return [json.dumps({"answer": v + 1}), json.dumps({"result": v}), str(v), json.dumps({"answer": str(v)})]
    if v in DAYS:
        return [DAYS[(DAYS.index(v) + 1) % 7], "Someday"]
    return [v.lower(), v.capitalize()]


@pytest.mark.parametrize("skill", SKILL_NAMES)
def test_checker_per_skill(world, skill):
    rows = [r for r in world.train_clean + world.eval if r["skill"] == skill]
    for row in rows:
        assert all(is_correct(make(row), row) for make in RESPONSES), row
        for wrong in _wrong(row):
            assert not is_correct(f"Answer: {wrong}", row), (row, wrong)
            assert not is_correct(f"<think>\n{row['cot']}\n</think>\nAnswer: {wrong}", row), (row, wrong)
    # the check spec alone (dict or JSON string) is enough
    assert is_correct(direct_response(rows[0]), rows[0]["check"])
    assert is_correct(direct_response(rows[0]), json.loads(rows[0]["check"]))


GARBAGE = ["", "Answer:", "asdf", "Answer: asdf", None, 123, b"Answer: 7", "Answer: [1, 2", "Answer: {",
           "Answer: true", "Answer: nan", "<think>Answer: 7</think>", "\x00\x07", "Answer: " + "9" * 400]


@pytest.mark.parametrize("skill", SKILL_NAMES)
def test_garbage_is_false_never_raises(world, skill):
    row = next(r for r in world.eval if r["skill"] == skill)
    for junk in GARBAGE:
        assert is_correct(junk, row) is False, junk
    for bad_spec in [None, "not json", {}, {"kind": "number"}, {"kind": "nope", "value": 1}, 7, []]:
        assert is_correct("Answer: 7", bad_spec) is False, bad_spec


def test_wrong_answer_rows_fail_their_own_check(world, by_id):
    rows = _defects(world, "wrong_answer")
    for row in rows:
        src = by_id[row["source_id"]]
        assert row["check"] == src["check"] and row["answer"] != src["answer"]
        assert row["cot"].split("\n")[-1] != src["cot"].split("\n")[-1]  # the last step agrees with the lie
        assert not any(is_correct(make(row), row) for make in RESPONSES), row


def test_truncated_rows_have_no_answer(world, by_id):
    for row in _defects(world, "truncated"):
        src = by_id[row["source_id"]]
        assert row["answer"] == "" and extract_answer(cot_response(row)) == ""
        assert src["cot"].startswith(row["cot"]) and len(row["cot"]) < len(src["cot"])
        assert not is_correct(cot_response(row), row)


def test_duplicates_garbled_and_contamination_keep_their_source(world, by_id):
    eval_ids = {r["id"] for r in world.eval}
    ignore = ("id", "defect", "source_id")
    for row in _defects(world, "exact_duplicate"):
        src = by_id[row["source_id"]]
        assert {k: v for k, v in row.items() if k not in ignore} == {k: v for k, v in src.items() if k not in ignore}
    for label in ("near_duplicate", "contamination"):
        for row in _defects(world, label):
            src = by_id[row["source_id"]]
            assert (src["split"] == "eval") == (label == "contamination")
            assert row["prompt"] != src["prompt"] and (row["answer"], row["cot"]) == (src["answer"], src["cot"])
            assert is_correct(direct_response(row), row)
    assert all(r["source_id"] in eval_ids for r in _defects(world, "contamination"))
    for row in _defects(world, "garbled"):
        src = by_id[row["source_id"]]
        assert (row["prompt"], row["cot"]) != (src["prompt"], src["cot"]) and row["answer"] == src["answer"]


def test_extract_answer():
    assert extract_answer("Answer: 7") == "7"
    assert extract_answer("x\nAnswer: 3\nmore\nAnswer:  9 \n") == "9"
    assert extract_answer("<think>\nAnswer: 1\n</think>\nAnswer: 2") == "2"
    assert extract_answer("<think>\nAnswer: 1\n</think>\nno answer here") is None
    assert extract_answer("Answer: 5\nUser: next question") == "5"  # stops at the end of the line
    assert extract_answer("nothing") is None and extract_answer(None) is None
    assert extract_answer("Answer:") == ""


def test_corpus_is_deterministic_plain_text():
    corpus = build_corpus(seed=1, size=3000)
    assert corpus == build_corpus(seed=1, size=3000) and corpus != build_corpus(seed=2, size=3000)
    assert len(corpus) == 3000 and len(build_corpus(size=100)) == 100
    text = "\n".join(corpus)
    assert "Answer:" not in text and "<think>" not in text
    for fact in ["plus", "centimeters", "smallest to largest", "Wednesday", "largest number", '{"answer":']:
        assert fact in text, fact
    assert any(w.isupper() and len(w) >= 3 for w in text.split())
