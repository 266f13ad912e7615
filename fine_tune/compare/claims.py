"""The reference study's claims, each tested on the sweep: confirmed, refuted, or not resolved.

Every claim compares two (method, data) cells of the sweep on the same eval prompts, prompt
by prompt (../shared/docs/EVALUATION.md):

- the effect (A - B) with a paired-bootstrap 95% interval, resampling prompts, and seeds too
  when the sweep has several (experiment=seeds): a two-level bootstrap;
- a p-value: exact McNemar on correctness (discordant prompts pooled over seed pairs), a
  Wilcoxon signed-rank test on per-prompt losses, a sign test on head-to-head wins and losses;
- Holm's correction over the claims tested (the family-wise error stays at 5%);
- the smallest difference the sweep could have detected (McNemar, alpha 0.05, 80% power),
  so "not resolved" says whether the effect was within reach at all.

A claim is confirmed when its Holm-adjusted p is below 0.05 and the interval lies on its
side; refuted when both point the other way; otherwise not resolved. Nothing here knows
which answer the study found: the verdict is whatever the prompts say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fine_tune.compare.paired import REFERENCE_DATA, REFERENCE_METHOD, PromptResults, is_reference, reference_for
from fine_tune.evaluation.judges import VerifiableJudge
from fine_tune.evaluation.reasoning import MULTI_STEP
from fine_tune.evaluation.stats import Z_POWER, detectable_difference, holm, mcnemar, paired_bootstrap
from fine_tune.evaluation.winrate import judge_pairs

ALPHA = 0.05
FLAT_MARGIN = 0.05  # "flat": a WinRate gain above 5 points is ruled out


@dataclass(frozen=True)
class Claim:
    """`a` beats `b` on `measure` (with `a_worse`: `a` is beaten by `b`); each side is a list of
    (method, data) cells, the first present is used."""

    key: str
    text: str
    a: tuple[tuple[str, str], ...]
    b: tuple[tuple[str, str], ...]
    measure: str  # accuracy | multi_step_accuracy | answer_loss | winrate
    unstable_confirms: bool = False  # "worse, or unstable": an unstable A confirms the claim
    a_worse: bool = False  # the claim is that A is the worse one: a negative effect confirms it


REFERENCE = ((REFERENCE_METHOD, REFERENCE_DATA),)
CLAIMS = (
    Claim("curated_beats_raw", "Curated data beats raw data", REFERENCE, ((REFERENCE_METHOD, "raw"),), "accuracy"),
    Claim("pipeline_beats_large_sft", "SFT-CoT + DPO beats Large SFT (raw data) on quality", REFERENCE,
          (("sft", "raw"),), "accuracy"),
    Claim("large_sft_lower_loss", "Large SFT has the lower loss", (("sft", "raw"),), REFERENCE, "answer_loss"),
    Claim("grpo_worse_or_unstable", "DPO + GRPO is worse than SFT-CoT + DPO, or unstable",
          (("sft_cot → dpo → grpo", "curated"), ("dpo → grpo", "curated")), REFERENCE, "accuracy",
          unstable_confirms=True, a_worse=True),
    Claim("thinking_improves_reasoning", "Thinking improves reasoning (multi-step skills, against direct-answer SFT)",
          (("thinking", "curated"),), (("sft", "curated"),), "multi_step_accuracy"),
    Claim("thinking_winrate_flat", "Thinking's preference WinRate stays flat: no gain over SFT-CoT + DPO",
          (("thinking", "curated"),), REFERENCE, "winrate"),
)
MEASURES = {"accuracy": "checker accuracy", "multi_step_accuracy": "accuracy on multi-step skills",
            "answer_loss": "held-out answer-only loss (lower is better)", "winrate": "head-to-head WinRate"}


def _cell(rows: list[dict], options) -> tuple[str, list[dict]]:
    """The first (method, data) option the sweep has: its label and its jobs (any status)."""
    for method, data in options:
        jobs = [r for r in rows if r["method"] == method and r["data"] == data and r.get("ablate") in (None, "none")]
        if jobs:
            return f"{method} on {data}", jobs
    return " or ".join(f"{m} on {d}" for m, d in options), []


def _pairs(a_jobs: list[dict], b_jobs: list[dict], results) -> list[tuple[PromptResults, PromptResults]]:
    """Seed-paired results: the same seed on both sides, else the first finished job of each."""
    usable = lambda jobs: {str(j["seed"]): results[j["folder"]] for j in jobs if results.get(j["folder"])}  # noqa: E731
    a, b = usable(a_jobs), usable(b_jobs)
    common = [s for s in a if s in b]
    if common:
        return [(a[s], b[s]) for s in common]
    return [(next(iter(a.values())), next(iter(b.values())))] if a and b else []


def _shared_ids(pairs, measure: str) -> list[str]:
    ids = set.intersection(*(set(x.records) & set(y.records) for x, y in pairs))
    if measure == "multi_step_accuracy":
        ids = {i for i in ids if pairs[0][0].records[i].get("skill") in MULTI_STEP}
    return sorted(ids)


def _scores(pairs, ids: list[str], measure: str, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(A, B) per-prompt scores, shape (seed pairs, prompts); lower is better for answer_loss."""
    if measure == "winrate":  # A's head-to-head score against B (win 1, tie 0.5, loss 0), against a flat 0.5
        judge = VerifiableJudge()
        rows = []
        for x, y in pairs:
            outcomes = judge_pairs(judge, [(x.records[i], x.records[i]["response"], y.records[i]["response"])
                                           for i in ids if x.records[i].get("check")])
            rows.append([o["score"] for o in outcomes if o["score"] is not None])
        width = min(map(len, rows), default=0)
        a = np.array([r[:width] for r in rows], dtype=float)
        return a, np.full_like(a, 0.5), ids[:width]
    if measure == "answer_loss":
        losses = [(x.answer_loss(ids), y.answer_loss(ids)) for x, y in pairs]
        keep = [k for k in range(len(ids)) if all(la[k] is not None and lb[k] is not None for la, lb in losses)]
        a = np.array([[la[k] for k in keep] for la, _ in losses], dtype=float)
        b = np.array([[lb[k] for k in keep] for _, lb in losses], dtype=float)
        return a, b, [ids[k] for k in keep]
    a = np.array([x.correct(ids) for x, _ in pairs], dtype=float)
    b = np.array([y.correct(ids) for _, y in pairs], dtype=float)
    return a, b, ids


def _p_value(a: np.ndarray, b: np.ndarray, measure: str) -> tuple[float, float | None]:
    """(p, smallest detectable |effect|) for the measure's paired test."""
    n = a.size
    if measure in ("accuracy", "multi_step_accuracy"):
        only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
        return mcnemar(only_a, only_b), detectable_difference(only_a, only_b, n)
    diff = (a - b).ravel()
    spread = float(diff.std(ddof=1)) if n > 1 else 0.0
    detectable = Z_POWER * spread / np.sqrt(n) if n else None
    if measure == "winrate":  # a sign test on the prompts one side won
        from scipy.stats import binomtest

        if n:  # every prompt tied: what one prompt won or lost either way would have shown
            detectable = max(detectable, Z_POWER * 0.5 / np.sqrt(n) / np.sqrt(n))
        wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
        return (float(binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0), detectable
    from scipy.stats import wilcoxon

    return (float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0), detectable


def _verdict(claim: Claim, low: float, high: float, p_holm: float) -> str:
    if claim.measure == "winrate":  # flat: a gain above the margin is ruled out; a real gain refutes it
        if p_holm < ALPHA and low > 0:
            return "refuted"
        return "confirmed" if high <= FLAT_MARGIN else "not resolved"
    # orient so that positive means "as claimed": a lower loss is better, and "A is worse" claims the negative
    if (claim.measure == "answer_loss") != claim.a_worse:
        low, high = -high, -low
    if p_holm < ALPHA and low > 0:
        return "confirmed"
    if p_holm < ALPHA and high < 0:
        return "refuted"
    return "not resolved"


def evaluate_claims(rows: list[dict], results: dict[str, PromptResults | None], seed: int = 0,
                    samples: int = 2000) -> list[dict]:
    """Every claim of CLAIMS tested on the sweep's raw rows; `results` holds each job's, by folder name.

    Returns:
        One dict per claim: claim, a, b, measure, verdict, and (when tested) seeds, prompts,
        effect, ci_low, ci_high, p, p_holm, detectable, note.
    """
    out = []
    for claim in CLAIMS:
        a_label, a_jobs = _cell(rows, claim.a)
        b_label, b_jobs = _cell(rows, claim.b)
        entry = {"key": claim.key, "claim": claim.text, "a": a_label, "b": b_label,
                 "measure": MEASURES[claim.measure], "verdict": "not tested", "note": None}
        out.append(entry)
        if claim.unstable_confirms and a_jobs and all(j["status"] == "unstable" for j in a_jobs):
            entry.update(verdict="confirmed", note=f"{a_label} was unstable: {a_jobs[0]['reason']}")
            continue
        pairs = _pairs(a_jobs, b_jobs, results)
        if not pairs:
            missing = [label for label, jobs in ((a_label, a_jobs), (b_label, b_jobs))
                       if not any(results.get(j["folder"]) for j in jobs)]
            entry["note"] = f"no finished job with per-prompt results for {' and '.join(missing)}"
            continue
        a, b, ids = _scores(pairs, _shared_ids(pairs, claim.measure), claim.measure, seed)
        if not ids:
            entry["note"] = "the two jobs share no eval prompt this measure applies to"
            continue
        effect, low, high = paired_bootstrap(a, b, samples, 0.95, seed)
        p, detectable = _p_value(a, b, claim.measure)
        entry.update(seeds=len(pairs), prompts=len(ids), effect=effect, ci_low=low, ci_high=high, p=p,
                     detectable=detectable)
    tested = [e for e in out if "p" in e]
    for entry, adjusted in zip(tested, holm([e["p"] for e in tested])):
        entry["p_holm"] = adjusted
        claim = next(c for c in CLAIMS if c.key == entry["key"])
        entry["verdict"] = _verdict(claim, entry["ci_low"], entry["ci_high"], adjusted)
    return out


def versus_reference(rows: list[dict], results: dict[str, PromptResults | None], seed: int = 0,
                     samples: int = 2000) -> list[dict]:
    """Every other finished job's accuracy against the reference pipeline's (same seed), paired by prompt.

    What each curation step is worth in experiment=cleaning, what each method gains or loses
    in experiment=method_comparison: the difference, its interval, McNemar's p (uncorrected:
    exploratory, unlike the claims) and the smallest difference the pair could have shown.
    """
    out = []
    for row in rows:
        reference = reference_for(row, rows)
        if is_reference(row) or reference is None or not results.get(row["folder"]) \
                or not results.get(reference["folder"]):
            continue
        pairs = [(results[row["folder"]], results[reference["folder"]])]
        a, b, ids = _scores(pairs, _shared_ids(pairs, "accuracy"), "accuracy", seed)
        if not ids:
            continue
        effect, low, high = paired_bootstrap(a, b, samples, 0.95, seed)
        p, detectable = _p_value(a, b, "accuracy")
        resolved = "yes" if p < ALPHA and (low > 0 or high < 0) else "no"
        out.append({"job": row["job"], "method": row["method"], "data": row["data"], "ablate": row.get("ablate"),
                    "prompts": len(ids), "effect": effect, "ci_low": low, "ci_high": high, "p": p,
                    "detectable": detectable, "resolved": resolved})
    return out


VERSUS_HEADERS = ["job", "method", "data", "accuracy − reference [95% CI]", "McNemar p", "smallest detectable",
                  "resolved"]


def versus_cells(entry: dict) -> list[str]:
    data = entry["data"] + (f" ({entry['ablate']})" if entry["ablate"] not in (None, "none") else "")
    return [str(entry["job"]), entry["method"], data,
            f"{entry['effect'] * 100:+.1f} pts [{entry['ci_low'] * 100:+.1f}, {entry['ci_high'] * 100:+.1f}]",
            f"{entry['p']:.3g}", f"{entry['detectable'] * 100:.1f} pts", entry["resolved"]]


CLAIM_HEADERS = ["claim", "A vs B", "measure", "effect A − B [95% CI]", "p (Holm)", "smallest detectable",
                 "prompts × seeds", "verdict"]


def _effect(entry: dict) -> str:
    key = next(c.measure for c in CLAIMS if c.key == entry["key"])
    if key == "answer_loss":
        return f"{entry['effect']:+.3f} [{entry['ci_low']:+.3f}, {entry['ci_high']:+.3f}] nats/token"
    if key == "winrate":  # shown as the WinRate itself, 50% = flat
        if entry["ci_low"] == entry["ci_high"] == entry["effect"]:
            return f"WinRate {50 + entry['effect'] * 100:.1f}% (all tied)"
        return (f"WinRate {50 + entry['effect'] * 100:.1f}% [{50 + entry['ci_low'] * 100:.1f}, "
                f"{50 + entry['ci_high'] * 100:.1f}]")
    return f"{entry['effect'] * 100:+.1f} pts [{entry['ci_low'] * 100:+.1f}, {entry['ci_high'] * 100:+.1f}]"


def _detectable(entry: dict) -> str:
    if entry.get("detectable") is None:
        return "—"
    key = next(c.measure for c in CLAIMS if c.key == entry["key"])
    return f"{entry['detectable']:.3f} nats/token" if key == "answer_loss" else f"{entry['detectable'] * 100:.1f} pts"


def claim_cells(entry: dict) -> list[str]:
    """One claim as the text of CLAIM_HEADERS' cells."""
    tested = "p" in entry
    verdict = entry["verdict"] + (f": {entry['note']}" if entry.get("note") else "")
    return [
        entry["claim"], f"{entry['a']} vs {entry['b']}", entry["measure"],
        _effect(entry) if tested else "—",
        f"{entry['p']:.3g} ({entry['p_holm']:.3g})" if tested else "—",
        _detectable(entry) if tested else "—",
        f"{entry['prompts']} × {entry['seeds']}" if tested else "—",
        verdict,
    ]


def claims_preamble(claims: list[dict]) -> str:
    tested = sum("p" in c for c in claims)
    return (f"{tested} of {len(claims)} claims tested on paired prompts; p-values exact McNemar (accuracy), "
            "Wilcoxon signed-rank (loss) or a sign test (WinRate), Holm-corrected over the claims tested; "
            f"alpha {ALPHA}. Confirmed or refuted only when the corrected p and the paired-bootstrap interval agree; "
            "otherwise not resolved, beside the smallest difference this sweep could have detected (McNemar, "
            f"80% power). \"Flat\" WinRate: a gain above {FLAT_MARGIN * 100:.0f} points is ruled out.")
