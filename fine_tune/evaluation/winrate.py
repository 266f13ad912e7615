"""WinRate of the tuned model against a baseline, each prompt judged in both orders.

Per prompt: the judge sees (tuned, baseline) and then (baseline, tuned). Both orders
for the tuned answer: a win (1); both for the baseline: a loss (0); anything else,
a tie or two verdicts that contradict each other (the judge followed the position,
not the answers): a tie (0.5), as in MT-Bench. A prompt with an `invalid` verdict in
either order is reported and left out of the rate. The win rate is the mean score
(ties count half); its interval is a percentile bootstrap over the prompts.

Beside the rate, never folded into it: the share of each side's answers that state a
final answer line (`answer_line`, a format criterion) and each side's mean length in
characters (judges that see length tend to prefer the longer answer).
"""

from __future__ import annotations

import numpy as np

from fine_tune.answers import extract_answer
from fine_tune.evaluation.judges import INVALID, TIE, A, B

_TUNED_FIRST = {A: "win", B: "loss", TIE: "tie"}
_TUNED_SECOND = {B: "win", A: "loss", TIE: "tie"}


def judge_pairs(judge, pairs: list[tuple[dict, str, str]]) -> list[dict]:
    """Both-order judgments of (row, tuned response, baseline response) triples, in order."""
    outcomes = []
    for row, tuned, baseline in pairs:
        first = judge.judge(row, tuned, baseline)
        second = judge.judge(row, baseline, tuned)
        outcomes.append(_outcome(row, first, second, tuned, baseline))
    return outcomes


def _outcome(row: dict, first, second, tuned: str, baseline: str) -> dict:
    base = {"id": row["id"], "tuned_first": first.verdict, "tuned_second": second.verdict,
            "detail": f"{first.detail} | {second.detail}",
            "answer_line": [extract_answer(tuned) is not None, extract_answer(baseline) is not None],
            "length": [len(tuned), len(baseline)]}
    if INVALID in (first.verdict, second.verdict):
        return {**base, "result": INVALID, "score": None, "consistent": None}
    a, b = _TUNED_FIRST[first.verdict], _TUNED_SECOND[second.verdict]
    result = a if a == b else "tie"
    return {**base, "result": result, "score": {"win": 1.0, "tie": 0.5, "loss": 0.0}[result], "consistent": a == b}


def confidence_interval(scores: list[float], samples: int, level: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `scores` (resampling prompts)."""
    from scipy.stats import bootstrap  # here: scipy.stats costs ~0.4 s at every start, and only WinRate uses it

    values = np.asarray(scores, dtype=float)
    if len(values) < 2 or np.all(values == values[0]):
        return float(values.mean()), float(values.mean())  # no spread to resample
    result = bootstrap((values,), np.mean, n_resamples=samples, confidence_level=level, method="percentile",
                       random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize(outcomes: list[dict], samples: int, level: float, seed: int) -> dict:
    """Wins, losses, ties, invalid, the win rate with its interval, and the position-consistency rate."""
    valid = [o for o in outcomes if o["result"] != INVALID]
    counts = {k: sum(o["result"] == k for o in valid) for k in ("win", "loss", "tie")}
    summary = {"wins": counts["win"], "losses": counts["loss"], "ties": counts["tie"],
               "invalid": len(outcomes) - len(valid), "judged": len(valid), "prompts": len(outcomes),
               "win_rate": None, "ci_low": None, "ci_high": None, "position_consistency": None,
               "all_tied": bool(valid) and counts["tie"] == len(valid), "confidence_level": level,
               **_sides(outcomes)}
    if not valid:
        return summary
    scores = [o["score"] for o in valid]
    low, high = confidence_interval(scores, samples, level, seed)
    summary.update(win_rate=float(np.mean(scores)), ci_low=low, ci_high=high,
                   position_consistency=sum(o["consistent"] for o in valid) / len(valid))
    return summary


def _sides(outcomes: list[dict]) -> dict:
    """The format criterion and the lengths, tuned side first: reported beside the rate, not in it."""
    both = [o for o in outcomes if "answer_line" in o]
    if not both:
        return {}
    share = lambda side: sum(o["answer_line"][side] for o in both) / len(both)  # noqa: E731
    mean_len = lambda side: sum(o["length"][side] for o in both) / len(both)  # noqa: E731
    return {"answer_line": {"tuned": share(0), "baseline": share(1)},
            "mean_length": {"tuned": mean_len(0), "baseline": mean_len(1)}}
