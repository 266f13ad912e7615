"""The statistics a method comparison needs (../shared/docs/EVALUATION.md), on scipy and numpy.

- `wilson`: a 95% interval for one accuracy k/n that stays inside [0, 1] at 0/n and n/n.
- `mcnemar`: the exact McNemar test on paired correctness (prompts one method got right
  and the other wrong; prompts both got right or both wrong carry no information).
- `paired_bootstrap`: the accuracy difference of two methods on the same prompts with a
  percentile interval, resampling prompt indices (the same ones for both); with several
  training seeds a two-level bootstrap resamples the seeds as well.
- `detectable_difference`: the smallest difference McNemar at alpha 0.05 and 80% power
  could have seen, roughly 2.8 * sqrt(d / n) for a discordant share d over n prompts.
- `holm`: Holm's step-down correction of several p-values (family-wise error at alpha).

Everything is seeded: the same inputs and seed give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z_POWER = 2.8  # z(1 - 0.05/2) + z(0.80) = 1.96 + 0.84: alpha 0.05, two-sided, 80% power


def wilson(correct: int, total: int, level: float = 0.95) -> tuple[float, float] | tuple[None, None]:
    """Wilson score interval of correct/total; (None, None) with no trials."""
    if total <= 0:
        return None, None
    from scipy.stats import binomtest  # scipy.stats costs ~0.4 s to import: only where used

    ci = binomtest(int(correct), int(total)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def discordant(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int]:
    """(b, c): prompts A got right and B wrong, and the reverse."""
    if len(a) != len(b):
        raise ValueError(f"paired results differ in length: {len(a)} and {len(b)}")
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    return only_a, only_b


def mcnemar(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value: under no difference, only_a ~ Binomial(only_a + only_b, 1/2).

    No discordant prompt at all is no evidence either way: p = 1.
    """
    n = only_a + only_b
    if n == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_a, n, 0.5).pvalue)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, samples: int = 2000, level: float = 0.95,
                     seed: int = 0) -> tuple[float, float, float]:
    """(mean(a - b), low, high): the paired difference with a percentile bootstrap interval.

    Args:
        a, b: per-prompt scores of the two methods, shape (prompts,) for one seed each or
            (seeds, prompts) for several seeds on the same prompts. With seeds, every resample
            draws seeds with replacement and then prompts with replacement (a two-level
            bootstrap), since seed-to-seed variance of fine-tuning is often larger than
            prompt sampling noise.
        samples: bootstrap resamples.
        level: the interval's coverage.
        seed: the resampling seed.
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    if a.shape != b.shape:
        raise ValueError(f"paired scores differ in shape: {a.shape} and {b.shape}")
    diff = a - b  # (seeds, prompts); the seeds of A and B are paired by position
    point = float(diff.mean())
    seeds, prompts = diff.shape
    if prompts == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    seed_idx = rng.integers(0, seeds, size=(samples, seeds)) if seeds > 1 else np.zeros((samples, 1), dtype=int)
    prompt_idx = rng.integers(0, prompts, size=(samples, prompts))
    # resample r: rows seed_idx[r], and within them the columns prompt_idx[r]
    means = diff[seed_idx[:, :, None], prompt_idx[:, None, :]].mean(axis=(1, 2))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return point, float(low), float(high)


def detectable_difference(only_a: int, only_b: int, prompts: int) -> float | None:
    """The smallest |accuracy difference| McNemar could detect here: 2.8 * sqrt(d / n).

    d is the observed discordant share; with no discordant prompt, one discordant prompt
    is assumed (the least the data could have shown). None without prompts.
    """
    if prompts <= 0:
        return None
    share = max(only_a + only_b, 1) / prompts
    return Z_POWER * math.sqrt(share / prompts)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order: reject claim i when adjusted[i] <= alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted



# Seeds as the unit (EVALUATION.md, "Training seeds are the unit"): one number per training seed,
# the paired difference of that seed's two runs on the same prompts, so the tests below have
# s - 1 degrees of freedom however many prompts each run was scored on. The same functions serve
# a single run pair with its prompts as the unit (one value per prompt), where a claim has one seed.


def paired_t(differences: Sequence[float]) -> float:
    """Two-sided one-sample t test of mean(differences) = 0 (df = len - 1); p = 1 below two values.

    Every difference equal (no spread: two seeds that happen to differ by the same prompts' worth) leaves
    the t statistic undefined, not infinite: p = 1, nothing shown. Each seed's difference carries its
    prompts' sampling noise, so equal values are a coincidence, not certainty.
    """
    d = np.asarray(differences, dtype=float)
    if d.size < 2 or np.allclose(d, d[0]):
        return 1.0
    from scipy.stats import ttest_1samp

    return float(ttest_1samp(d, 0.0).pvalue)


def tost(differences: Sequence[float], margin: float, level: float = 0.90) -> tuple[float, float, float]:
    """Equivalence within +-margin by two one-sided t tests (TOST) on the mean difference.

    Returns:
        (p, low, high): p, the larger of the two one-sided p-values, is below alpha when both
        "mean <= -margin" and "mean >= +margin" are rejected; [low, high] is the `level` t interval
        of the mean (90% for alpha 0.05), which then lies inside [-margin, margin].
        (1, nan, nan) below two values.
    """
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return 1.0, float("nan"), float("nan")
    if np.allclose(d, d[0]):  # no spread (every prompt tied): the difference is that value, inside or not
        return (0.0 if -margin < d[0] < margin else 1.0), float(d[0]), float(d[0])
    from scipy.stats import ttest_1samp

    above = ttest_1samp(d, -margin, alternative="greater").pvalue  # rejects mean <= -margin
    below = ttest_1samp(d, margin, alternative="less").pvalue  # rejects mean >= +margin
    ci = ttest_1samp(d, 0.0).confidence_interval(level)
    return float(max(above, below)), float(ci.low), float(ci.high)


def t_detectable_difference(differences: Sequence[float], alpha: float = 0.05, power: float = 0.80) -> float | None:
    """The smallest |mean difference| a paired t on these values detects at alpha and power.

    (t(1 - alpha/2, s - 1) + t(power, s - 1)) * sd / sqrt(s), sd the spread of the differences
    (seed to seed): with 3 seeds the quantiles are 4.30 + 1.06, so the bar is ~3.1 sd; with 5,
    2.78 + 0.94, ~1.7 sd. None below two values.
    """
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return None
    from scipy.stats import t

    df = d.size - 1
    return float((t.ppf(1 - alpha / 2, df) + t.ppf(power, df)) * d.std(ddof=1) / math.sqrt(d.size))
