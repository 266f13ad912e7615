"""The comparison's statistics against known small cases, and the evaluation's sampling and judging rules."""

from __future__ import annotations

import json
import math
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import binomtest

from fine_tune.data.embedded import build_world, cot_response
from fine_tune.evaluation.accuracy import checker_accuracy, constant_floor
from fine_tune.evaluation.judges import TIE, VerifiableJudge
from fine_tune.evaluation.reasoning import reasoning_measures, step_checks
from fine_tune.evaluation.sampling import eval_rows
from fine_tune.evaluation.stats import detectable_difference, discordant, holm, mcnemar, paired_bootstrap, wilson
from fine_tune.evaluation.winrate import judge_pairs, summarize


def test_wilson_matches_the_closed_form_and_stays_inside_0_1():
    low, high = wilson(7, 20)
    p, n, z = 7 / 20, 20, 1.959963984540054
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert wilson(0, 10)[0] == 0.0 and 0 < wilson(0, 10)[1] < 0.35
    assert wilson(10, 10)[1] == pytest.approx(1.0) and wilson(10, 10)[0] > 0.65
    assert wilson(0, 0) == (None, None)


def test_exact_mcnemar_is_the_binomial_test_on_the_discordant_prompts():
    a = [True] * 10 + [False] * 2 + [True] * 30 + [False] * 8  # 10 only-A, 2 only-B, 30 both, 8 neither
    b = [False] * 10 + [True] * 2 + [True] * 30 + [False] * 8
    assert discordant(a, b) == (10, 2)
    assert mcnemar(10, 2) == pytest.approx(binomtest(10, 12, 0.5).pvalue) == pytest.approx(0.0385742, abs=1e-6)
    assert mcnemar(0, 0) == 1.0 and mcnemar(3, 3) == 1.0
    with pytest.raises(ValueError):
        discordant([True], [True, False])


def test_paired_bootstrap_is_seeded_and_covers_the_difference():
    rng = np.random.default_rng(1)
    a = rng.random(300) < 0.6
    b = np.where(rng.random(300) < 0.8, a, ~a)  # correlated with a, as two methods on the same prompts are
    first = paired_bootstrap(a, b, samples=1000, seed=7)
    assert first == paired_bootstrap(a, b, samples=1000, seed=7)
    effect, low, high = first
    assert effect == pytest.approx(a.mean() - b.mean()) and low < effect < high
    # identical methods: the difference is exactly zero in every resample
    assert paired_bootstrap(a, a, samples=200) == (0.0, 0.0, 0.0)


def test_two_level_bootstrap_widens_with_seed_to_seed_spread():
    rng = np.random.default_rng(3)
    base = rng.random((3, 200)) < 0.5
    steady = paired_bootstrap(base.astype(float) + 0.1, base, samples=1000, seed=0)
    shifted = base.astype(float) + np.array([[0.0], [0.1], [0.2]])  # each seed moves by a different amount
    unsteady = paired_bootstrap(shifted, base, samples=1000, seed=0)
    assert steady[2] - steady[1] == pytest.approx(0.0, abs=1e-12)
    assert unsteady[0] == pytest.approx(0.1) and unsteady[2] - unsteady[1] > 0.05


def test_detectable_difference_and_holm():
    assert detectable_difference(10, 10, 400) == pytest.approx(2.8 * math.sqrt(20 / 400 / 400))
    assert detectable_difference(0, 0, 100) == pytest.approx(2.8 * math.sqrt(1 / 100 / 100))
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_a_capped_eval_set_is_stratified_by_skill_and_deterministic():
    world = build_world(0, show_progress=False)
    counts = Counter(r["skill"] for r in world.eval)
    cut = eval_rows(world.eval, SimpleNamespace(max_prompts=100))
    got = Counter(r["skill"] for r in cut)
    assert len(cut) == 100 and set(got) == set(counts)  # every skill, not the first one in order
    for skill, n in counts.items():
        assert abs(got[skill] - 100 * n / len(world.eval)) < 1.01
    assert cut == eval_rows(list(reversed(world.eval)), SimpleNamespace(max_prompts=100))[::-1]
    assert len(eval_rows(world.eval, SimpleNamespace(max_prompts=6))) == 6
    assert len({r["skill"] for r in eval_rows(world.eval, SimpleNamespace(max_prompts=6))}) == 6
    assert eval_rows(world.eval, SimpleNamespace(max_prompts=None)) == world.eval


def _row(answer: str = "12", skill: str = "arith") -> dict:
    check = {"kind": "number", "value": int(answer)} if answer.isdigit() else \
        {"kind": "text", "value": answer, "ignore_case": True}
    return {"id": f"{skill}-{answer}", "prompt": "q", "skill": skill, "answer": answer, "check": json.dumps(check)}


def test_the_verifiable_judge_decides_by_correctness_alone():
    judge, row = VerifiableJudge(), _row("12")
    assert judge.judge(row, "Answer: 12", "Answer: 13").verdict == "A"
    # equally wrong, one with an answer line and one without: a tie, not a win for the format
    assert judge.judge(row, "Answer: 13", "thirteen, I think").verdict == TIE
    assert judge.judge(row, "step\nAnswer: 12", "Answer: 12").verdict == TIE
    outcomes = judge_pairs(judge, [(row, "Answer: 13", "no idea")] * 4)
    summary = summarize(outcomes, 100, 0.95, 0)
    assert summary["win_rate"] == 0.5 and summary["all_tied"] and summary["ties"] == 4
    assert summary["answer_line"] == {"tuned": 1.0, "baseline": 0.0}  # reported beside the rate, not in it


def test_floor_is_the_best_constant_answer_per_skill():
    rows = [_row(a) for a in ["10", "10", "10", "7", "3"]] + [_row(d, "weekday") for d in ["Monday", "friday"]]
    assert constant_floor(rows[:5]) == (3, "10")
    records = [{**r, "correct": i % 2 == 0, "response": "Answer: 10"} for i, r in enumerate(rows)]
    result = checker_accuracy(records)
    assert result["per_skill"]["arith"]["floor"] == pytest.approx(3 / 5)
    assert result["per_skill"]["weekday"]["floor"] == pytest.approx(1 / 2)
    assert result["floor"] == pytest.approx(4 / 7)
    assert result["ci_low"] < result["accuracy"] < result["ci_high"]


def test_reasoning_checks_intermediate_steps():
    world = build_world(0, show_progress=False)
    for row in world.eval:  # every reference chain that has checkable steps checks out
        assert all(step_checks(cot_response(row))), cot_response(row)
    assert step_checks("8 + 4 = 12.\n12 + 9 = 22.") == [True, False]
    assert step_checks("Count 2 forward: Tuesday, Wednesday.") == [True]
    assert step_checks("Count 3 back: Tuesday, Monday.") == [False]  # one day short
    assert step_checks("In order: 2, 7, 8, 19.") == [True] and step_checks("Add 4: [5, 4].") == [False]
    records = [{"skill": "arith", "correct": True, "response": "8 + 4 = 12.\nAnswer: 12"},
               {"skill": "arith", "correct": False, "response": "8 + 4 = 13.\nAnswer: 13"},
               {"skill": "lists", "correct": True, "response": "Answer: [1, 2]"}]
    result = reasoning_measures(records)
    assert result["multi_step"] == {"accuracy": 0.5, "total": 2}
    assert result["single_step"] == {"accuracy": 1.0, "total": 1}
    assert result["valid_chains"] == 0.5 and result["chains_checked"] == pytest.approx(2 / 3)


def test_seed_level_tests_match_scipy_on_synthetic_differences():
    from scipy.stats import t as student_t
    from scipy.stats import ttest_1samp

    from fine_tune.evaluation.stats import paired_t, t_detectable_difference, tost

    d = [0.04, 0.01, 0.06, 0.02, 0.03]
    assert paired_t(d) == pytest.approx(ttest_1samp(d, 0).pvalue)
    p, low, high = tost(d, 0.06)
    assert p == pytest.approx(max(ttest_1samp(d, -0.06, alternative="greater").pvalue,
                                  ttest_1samp(d, 0.06, alternative="less").pvalue))
    ci = ttest_1samp(d, 0).confidence_interval(0.90)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert p < 0.05 and -0.06 < low < high < 0.06  # equivalent within 6 points
    assert tost(d, 0.05)[0] > 0.05  # not within 5: the interval reaches past it
    # a large loss is not "flat": TOST cannot reject, and its interval lies outside the margin
    p_far, low_far, high_far = tost([-0.20, -0.25, -0.22], 0.05)
    assert p_far > 0.5 and high_far < -0.05
    s, sd = len(d), float(np.std(d, ddof=1))
    assert t_detectable_difference(d) == pytest.approx((student_t.ppf(0.975, s - 1) + student_t.ppf(0.8, s - 1)) * sd / s ** 0.5)
    assert paired_t([0.1]) == 1.0 and t_detectable_difference([0.1]) is None  # one seed: no seed-level test
    # equal differences (no spread) leave t undefined: nothing shown, not certainty
    assert paired_t([0.02, 0.02, 0.02]) == 1.0 and paired_t([0.0, 0.0]) == 1.0


def test_an_exact_sign_flip_test_can_never_confirm_at_three_or_five_seeds():
    """Why the seed-level test is a t test: the smallest two-sided sign-flip p over s seeds is 2 / 2**s."""
    assert 2 / 2 ** 3 == 0.25 and 2 / 2 ** 5 == 0.0625  # both above alpha 0.05, whatever the data
    from fine_tune.evaluation.stats import paired_t

    assert paired_t([0.10, 0.11, 0.12]) < 0.05  # a steady effect over three seeds is within the t test's reach
