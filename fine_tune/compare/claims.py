"""Claims tested on a sweep: confirmed, refuted, or not resolved, with training seeds as the unit.

Each claim (fine_tune.claim_spec: a file, the study's or a user's) compares two cells of
the sweep, (stages, data, budget), on the same eval prompts (../shared/docs/EVALUATION.md):

- pairs: A and B trained with the same seed; eval prompts found in either run's train rows
  (`contaminated_eval` of its data report) are left out of that claim;
- per seed, the paired difference A - B on the shared prompts;
- with two or more seeds the seed is the unit: a paired t over the seeds' differences
  (df = seeds - 1), the smallest difference that t could detect from the seed-to-seed spread,
  the spread of each cell, and a two-level bootstrap interval (seeds, then prompts);
- with one seed the prompts are the unit (exact McNemar on correctness, Wilcoxon on losses, a
  sign test on head-to-head wins) and the verdict says "one run": it is about that run;
- "equivalent" claims: two one-sided tests (TOST) against the claim's margin, on the same unit;
- Holm's correction over every claim tested.

A directional claim is confirmed when its Holm-adjusted p is below alpha and the bootstrap
interval lies on the claimed side, refuted when both point the other way. An equivalence is
confirmed when TOST's adjusted p is below alpha (its 90% interval inside the margin), refuted
when that interval lies wholly outside the margin. Anything else is not resolved, beside the
smallest difference the sweep could have detected. Nothing here knows the study's answers.
"""

from __future__ import annotations

import numpy as np

from fine_tune.claim_spec import DEFAULT_BUDGET, CellSpec, ClaimSpec, Expect, Measure
from fine_tune.compare.paired import PromptResults, is_reference, reference_for
from fine_tune.evaluation.judges import VerifiableJudge
from fine_tune.evaluation.reasoning import MULTI_STEP
from fine_tune.evaluation.stats import (
    Z_POWER,
    detectable_difference,
    holm,
    mcnemar,
    paired_bootstrap,
    paired_t,
    t_detectable_difference,
    tost,
)
from fine_tune.evaluation.winrate import judge_pairs

ALPHA = 0.05


def _matches(row: dict, cell: CellSpec) -> bool:
    return (row["method"] == " → ".join(cell.method) and row["data"] == cell.data
            and (row.get("budget") or DEFAULT_BUDGET) == cell.budget and row.get("ablate") in (None, "none"))


def _pairs(a_jobs: list[dict], b_jobs: list[dict], results) -> tuple[list[tuple[PromptResults, PromptResults]], list]:
    """(seed-paired results, their seeds); without a common seed, the first finished job of each."""
    usable = lambda jobs: {str(j["seed"]): results[j["folder"]] for j in jobs if results.get(j["folder"])}  # noqa: E731
    a, b = usable(a_jobs), usable(b_jobs)
    common = [s for s in a if s in b]
    if common:
        return [(a[s], b[s]) for s in common], common
    if a and b:
        return [(next(iter(a.values())), next(iter(b.values())))], [f"{next(iter(a))}/{next(iter(b))}"]
    return [], []


def _shared_ids(pairs, measure: Measure) -> tuple[list[str], int]:
    """(prompt ids every run scored, minus contaminated ones; how many contaminated were left out)."""
    ids = set.intersection(*(set(x.records) & set(y.records) for x, y in pairs))
    leaked = ids & set().union(*(x.contaminated | y.contaminated for x, y in pairs))
    ids -= leaked
    if measure is Measure.multi_step_accuracy:
        ids = {i for i in ids if pairs[0][0].records[i].get("skill") in MULTI_STEP}
    return sorted(ids), len(leaked)


def _scores(pairs, ids: list[str], measure: Measure) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(A, B) per-prompt scores, shape (seed pairs, prompts); lower is better for answer_loss."""
    if measure is Measure.winrate:  # A's head-to-head score against B (win 1, tie 0.5, loss 0), against 0.5
        judge, rows = VerifiableJudge(), []
        for x, y in pairs:
            outcomes = judge_pairs(judge, [(x.records[i], x.records[i]["response"], y.records[i]["response"])
                                           for i in ids if x.records[i].get("check")])
            rows.append([o["score"] for o in outcomes if o["score"] is not None])
        width = min(map(len, rows), default=0)
        a = np.array([r[:width] for r in rows], dtype=float)
        return a, np.full_like(a, 0.5), ids[:width]
    if measure is Measure.answer_loss:
        losses = [(x.answer_loss(ids), y.answer_loss(ids)) for x, y in pairs]
        keep = [k for k in range(len(ids)) if all(la[k] is not None and lb[k] is not None for la, lb in losses)]
        a = np.array([[la[k] for k in keep] for la, _ in losses], dtype=float)
        b = np.array([[lb[k] for k in keep] for _, lb in losses], dtype=float)
        return a, b, [ids[k] for k in keep]
    a = np.array([x.correct(ids) for x, _ in pairs], dtype=float)
    b = np.array([y.correct(ids) for _, y in pairs], dtype=float)
    return a, b, ids


def _prompt_test(a: np.ndarray, b: np.ndarray, measure: Measure) -> tuple[float, float | None, str]:
    """One run pair, prompts as the unit: (p, smallest detectable |effect|, the test's name)."""
    n = a.size
    if measure in (Measure.accuracy, Measure.multi_step_accuracy):
        only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
        return mcnemar(only_a, only_b), detectable_difference(only_a, only_b, n), "exact McNemar"
    diff = (a - b).ravel()
    detectable = Z_POWER * (float(diff.std(ddof=1)) if n > 1 else 0.0) / np.sqrt(n)
    if measure is Measure.winrate:  # a sign test on the prompts one side won
        from scipy.stats import binomtest

        detectable = max(detectable, Z_POWER * 0.5 / n)  # every prompt tied: what one prompt would have shown
        wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
        return (float(binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0), detectable, "sign test"
    from scipy.stats import wilcoxon

    return (float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0), detectable, "Wilcoxon"


def _test(claim: ClaimSpec, a: np.ndarray, b: np.ndarray) -> dict:
    """The claim's test on its unit: seeds when there are two or more, else one run's prompts."""
    per_seed = (a - b).mean(axis=1)
    seeds = len(per_seed)
    out: dict = {"seed_differences": [float(d) for d in per_seed]}
    if seeds > 1:
        means_a, means_b = a.mean(axis=1), b.mean(axis=1)
        # each seed's difference carries its prompts' sampling noise too, so the seed-level bar is never
        # below one run pair's; that floor matters when the seeds happen to agree exactly (sd 0)
        floor = _prompt_test(a[:1], b[:1], claim.measure)[1] or 0.0
        # a head-to-head has one score per seed (A's against B): B's side is the constant 50%, no spread of its own
        sd_b = None if claim.measure is Measure.winrate else float(means_b.std(ddof=1))
        out.update(unit="seeds", sd_a=float(means_a.std(ddof=1)), sd_b=sd_b,
                   detectable=max(t_detectable_difference(per_seed, ALPHA), floor), test="paired t over seeds")
        values = per_seed
    else:
        p, detectable, name = _prompt_test(a, b, claim.measure)
        out.update(unit="prompts", sd_a=None, sd_b=None, detectable=detectable, test=name, p=p)
        values = (a - b).ravel()
    if claim.expect is Expect.equivalent:
        p, low, high = tost(values, claim.margin, 1 - 2 * ALPHA)
        out.update(p=p, tost_low=low, tost_high=high, test=f"TOST ±{claim.margin:g}, {out['unit']} the unit")
    elif seeds > 1:
        out["p"] = paired_t(per_seed)
    return out


def _verdict(claim: ClaimSpec, entry: dict) -> str:
    if claim.expect is Expect.equivalent:
        m, low, high = claim.margin, entry["tost_low"], entry["tost_high"]
        if entry["p_holm"] < ALPHA and -m < low and high < m:
            verdict = "confirmed"
        elif low > m or high < -m:  # the 90% interval wholly outside the margin: a real difference
            verdict = "refuted"
        else:
            verdict = "not resolved"
    else:
        low, high = entry["ci_low"], entry["ci_high"]
        # orient so that positive means "as claimed": a lower loss is better, and "A worse" claims the negative
        if (claim.measure is Measure.answer_loss) != (claim.expect is Expect.a_worse):
            low, high = -high, -low
        significant = entry["p_holm"] < ALPHA
        verdict = "confirmed" if significant and low > 0 else "refuted" if significant and high < 0 else "not resolved"
    return verdict + (" (one run)" if entry["unit"] == "prompts" else "")


def _entry(claim: ClaimSpec) -> dict:
    return {"key": claim.key, "claim": claim.text, "factor": claim.factor, "a": claim.a.label, "b": claim.b.label,
            "measure": claim.measure.value, "expect": claim.expect.value, "margin": claim.margin,
            "verdict": "not tested", "note": None}


def evaluate_claims(rows: list[dict], results: dict[str, PromptResults | None], claims: list[ClaimSpec],
                    seed: int = 0, samples: int = 2000) -> list[dict]:
    """Every claim tested on the sweep's raw rows; `results` holds each job's, by folder name.

    Returns:
        One dict per claim: key, claim, factor, a, b, measure, expect, margin, verdict, note, and
        when tested: seeds, prompts, contaminated (prompts left out), effect, ci_low, ci_high,
        seed_differences, unit, test, p, p_holm, detectable, sd_a, sd_b (tost_low/high for TOST).
    """
    out = []
    for claim in claims:
        entry = _entry(claim)
        out.append(entry)
        a_jobs = [r for r in rows if _matches(r, claim.a)]
        b_jobs = [r for r in rows if _matches(r, claim.b)]
        if claim.unstable_confirms and a_jobs and all(j["status"] == "unstable" for j in a_jobs):
            entry.update(verdict="confirmed", note=f"{claim.a.label} was unstable: {a_jobs[0]['reason']}")
            continue
        pairs, seeds = _pairs(a_jobs, b_jobs, results)
        if not pairs:
            missing = [cell.label for cell, jobs in ((claim.a, a_jobs), (claim.b, b_jobs))
                       if not any(results.get(j["folder"]) for j in jobs)]
            entry["note"] = f"the sweep has no finished job with per-prompt results for {' and '.join(missing)}"
            continue
        ids, leaked = _shared_ids(pairs, claim.measure)
        a, b, ids = _scores(pairs, ids, claim.measure)
        if not ids:
            entry["note"] = "the two cells share no uncontaminated eval prompt this measure applies to"
            continue
        effect, low, high = paired_bootstrap(a, b, samples, 0.95, seed)
        entry.update(seeds=len(pairs), seed_labels=seeds, prompts=len(ids), contaminated=leaked, effect=effect,
                     ci_low=low, ci_high=high, **_test(claim, a, b))
    tested = [e for e in out if "p" in e]
    for entry, adjusted in zip(tested, holm([e["p"] for e in tested])):
        entry["p_holm"] = adjusted
        entry["verdict"] = _verdict(next(c for c in claims if c.key == entry["key"]), entry)
    return out


def versus_reference(rows: list[dict], results: dict[str, PromptResults | None], seed: int = 0,
                     samples: int = 2000) -> list[dict]:
    """Every other finished job's accuracy against the reference pipeline's (same seed), paired by prompt.

    What each curation step is worth in experiment=cleaning, what each method gains or loses
    in experiment=method_comparison: the difference, its interval, McNemar's p (uncorrected:
    exploratory, unlike the claims; one run pair each) and the smallest difference the pair
    could have shown. Contaminated prompts of either run are left out.
    """
    out = []
    for row in rows:
        reference = reference_for(row, rows)
        if is_reference(row) or reference is None or not results.get(row["folder"]) \
                or not results.get(reference["folder"]):
            continue
        pairs = [(results[row["folder"]], results[reference["folder"]])]
        ids, _ = _shared_ids(pairs, Measure.accuracy)
        a, b, ids = _scores(pairs, ids, Measure.accuracy)
        if not ids:
            continue
        effect, low, high = paired_bootstrap(a, b, samples, 0.95, seed)
        p, detectable, _ = _prompt_test(a, b, Measure.accuracy)
        resolved = "yes" if p < ALPHA and (low > 0 or high < 0) else "no"
        out.append({"job": row["job"], "method": row["method"], "data": row["data"], "ablate": row.get("ablate"),
                    "budget": row.get("budget"), "prompts": len(ids), "effect": effect, "ci_low": low,
                    "ci_high": high, "p": p, "detectable": detectable, "resolved": resolved})
    return out
