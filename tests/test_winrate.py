"""WinRate's arithmetic: both orders, ties, garbage verdicts, the bootstrap interval, determinism."""

from __future__ import annotations

import random

import pytest

from fine_tune.evaluation.judges import INVALID, TIE, A, B, Judgment, LLMJudge, VerifiableJudge
from fine_tune.evaluation.winrate import judge_pairs, summarize

ROW = {"id": "r1", "prompt": "What is 2 + 3?", "check": {"kind": "number", "value": "5"}}


class ScriptedJudge:
    """Says which response is better from a table of truths: position-independent."""

    name = "scripted"

    def __init__(self, truth: dict[str, str]):
        self.truth = truth  # id -> "tuned" | "baseline" | "tie"

    def judge(self, row, first, second):
        better = self.truth[row["id"]]
        if better == "tie":
            return Judgment(TIE, "")
        tuned_is_first = first.startswith("tuned")
        return Judgment(A if (better == "tuned") == tuned_is_first else B, "")


class PositionBiasedJudge:
    name = "first-wins"

    def judge(self, row, first, second):
        return Judgment(A, "always the first")


def _pairs(n: int):
    return [({"id": f"p{i}", "prompt": f"q{i}"}, f"tuned {i}", f"baseline {i}") for i in range(n)]


def test_both_orders_count_once_and_ties_count_half():
    truth = {"p0": "tuned", "p1": "tuned", "p2": "baseline", "p3": "tie"}
    summary = summarize(judge_pairs(ScriptedJudge(truth), _pairs(4)), 1000, 0.95, seed=0)
    assert (summary["wins"], summary["losses"], summary["ties"], summary["invalid"]) == (2, 1, 1, 0)
    assert summary["win_rate"] == pytest.approx((2 + 0.5) / 4)
    assert summary["position_consistency"] == 1.0


def test_a_judge_that_follows_the_position_gets_ties_not_wins():
    summary = summarize(judge_pairs(PositionBiasedJudge(), _pairs(10)), 1000, 0.95, seed=0)
    assert summary["wins"] == summary["losses"] == 0 and summary["ties"] == 10
    assert summary["win_rate"] == 0.5 and summary["position_consistency"] == 0.0


def test_garbage_from_a_judge_is_reported_not_counted():
    class Client:
        name = "fake"
        answers = iter(["I like both. [[A]]", "no idea", "[[A]]", "[[B]]", "blah", "blah"])

        def complete(self, prompt):
            return next(self.answers)

    outcomes = judge_pairs(LLMJudge(Client()), _pairs(3))
    # p0: garbage in the swapped order -> invalid; p1: tuned won both orders; p2: garbage twice
    assert [o["result"] for o in outcomes] == [INVALID, "win", INVALID]
    summary = summarize(outcomes, 1000, 0.95, seed=0)
    assert summary["invalid"] == 2 and summary["judged"] == 1 and summary["win_rate"] == 1.0
    assert "no [[A]]/[[B]]/[[C]] verdict" in outcomes[0]["detail"]


def test_the_same_seed_gives_the_same_interval():
    rng = random.Random(1)
    truth = {f"p{i}": rng.choice(["tuned", "baseline", "tie"]) for i in range(60)}
    outcomes = judge_pairs(ScriptedJudge(truth), _pairs(60))
    first, again = summarize(outcomes, 2000, 0.95, seed=7), summarize(outcomes, 2000, 0.95, seed=7)
    assert first == again
    assert first["ci_low"] < first["win_rate"] < first["ci_high"]


def test_the_bootstrap_interval_covers_the_true_rate():
    """Synthetic judgments with a known win probability: the 95% interval covers it ~95% of the time."""
    true_rate, trials, covered = 0.7, 60, 0
    for trial in range(trials):
        rng = random.Random(trial)
        truth = {f"p{i}": "tuned" if rng.random() < true_rate else "baseline" for i in range(150)}
        summary = summarize(judge_pairs(ScriptedJudge(truth), _pairs(150)), 1000, 0.95, seed=trial)
        covered += summary["ci_low"] <= true_rate <= summary["ci_high"]
    assert covered / trials >= 0.85, covered  # 95% nominal; percentile intervals run a little narrow


def test_the_verifiable_judge_decides_by_correctness_only():
    judge = VerifiableJudge()
    right, wrong, no_line = "3 + 2 = 5.\nAnswer: 5", "Answer: 6", "it is five"
    assert judge.judge(ROW, right, wrong).verdict == A
    assert judge.judge(ROW, wrong, right).verdict == B
    assert judge.judge(ROW, wrong, no_line).verdict == TIE  # both wrong: an Answer: line wins nothing
    assert judge.judge(ROW, right, "Answer: 5").verdict == TIE
    assert judge.judge({"id": "x", "prompt": "Write a poem"}, "a", "b").verdict == INVALID
