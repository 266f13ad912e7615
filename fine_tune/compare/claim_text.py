"""The tested claims and the job-versus-reference pairs as table cells, and the words above them.

One place turns fine_tune.compare.claims' dicts into text, so comparison.md and index.html
cannot disagree.
"""

from __future__ import annotations

from fine_tune.compare.claims import ALPHA

CLAIM_HEADERS = ["claim", "factor", "A vs B", "measure", "effect A − B [95% CI]", "per seed", "test: p (Holm)",
                 "smallest detectable", "seed SD A / B", "prompts × seeds (contaminated left out)", "verdict"]
VERSUS_HEADERS = ["job", "method", "data", "accuracy − reference [95% CI]", "McNemar p", "smallest detectable",
                  "resolved"]


def _value(entry: dict, value: float, signed: bool = True) -> str:
    """A value in the measure's units: nats/token for loss, WinRate points, else accuracy points."""
    sign = "+" if signed else ""
    if entry["measure"] == "answer_loss":
        return f"{value:{sign}.3f}"
    return f"{value * 100:{sign}.1f}"


def _unit(entry: dict) -> str:
    return {"answer_loss": " nats/token", "winrate": " WinRate pts"}.get(entry["measure"], " pts")


def _effect(entry: dict) -> str:
    if entry["measure"] == "winrate" and entry["ci_low"] == entry["ci_high"] == entry["effect"]:
        return f"WinRate {50 + entry['effect'] * 100:.1f}% (all tied)"
    text = (f"{_value(entry, entry['effect'])}{_unit(entry)} [{_value(entry, entry['ci_low'])}, "
            f"{_value(entry, entry['ci_high'])}]")
    if entry["measure"] == "winrate":
        text = f"WinRate {50 + entry['effect'] * 100:.1f}%: " + text
    if entry.get("tost_low") is not None:
        text += (f"; 90% interval [{_value(entry, entry['tost_low'])}, {_value(entry, entry['tost_high'])}] "
                 f"vs margin ±{_value(entry, entry['margin'], signed=False)}")
    return text


def _spread(entry: dict) -> str:
    if entry.get("sd_a") is None:
        return "— (one run)"
    b = "—" if entry.get("sd_b") is None else _value(entry, entry["sd_b"], False)  # a head-to-head: A's only
    return f"{_value(entry, entry['sd_a'], False)} / {b}{_unit(entry)}"


def claim_cells(entry: dict) -> list[str]:
    """One claim as the text of CLAIM_HEADERS' cells."""
    verdict = entry["verdict"] + (f": {entry['note']}" if entry.get("note") else "")
    head = [entry["claim"], entry["factor"] or "—", f"{entry['a']} vs {entry['b']}", entry["measure"]]
    if "p" not in entry:
        return head + ["—"] * 6 + [verdict]
    detectable = entry.get("detectable")
    return head + [
        _effect(entry),
        ", ".join(_value(entry, d) for d in entry["seed_differences"]),
        f"{entry['test']}: {entry['p']:.3g} ({entry['p_holm']:.3g})",
        "—" if detectable is None else f"{_value(entry, detectable, signed=False)}{_unit(entry)}",
        _spread(entry),
        f"{entry['prompts']} × {entry['seeds']} ({entry['contaminated']})",
        verdict,
    ]


def claims_preamble(claims: list[dict]) -> str:
    tested = [c for c in claims if "p" in c]
    seeds = sorted({c["seeds"] for c in tested})
    unit = (f"Training seeds are the unit where a claim has several ({'/'.join(map(str, seeds))} here): a paired t "
            "over the seeds' differences, a two-level bootstrap interval (seeds, then prompts), the smallest "
            "difference that t could detect from the seed-to-seed spread (80% power). "
            if any(s > 1 for s in seeds) else "")
    return (f"{len(tested)} of {len(claims)} claims tested on paired prompts (eval prompts found in either run's "
            f"train rows left out). {unit}A claim with one seed is about that run (\"one run\"): exact McNemar "
            "(accuracy), Wilcoxon signed-rank (loss) or a sign test (WinRate) over prompts, with McNemar's smallest "
            "detectable difference. Equivalence claims: two one-sided tests (TOST) against the claim's margin. "
            f"p-values Holm-corrected over the claims tested, alpha {ALPHA}. Confirmed or refuted only when the "
            "corrected p and the interval agree; otherwise not resolved. The factor column names what differs "
            "between A and B: what an effect can be attributed to.")


def versus_cells(entry: dict) -> list[str]:
    data = entry["data"] + (f" ({entry['ablate']})" if entry["ablate"] not in (None, "none") else "")
    data += f", {entry['budget']}" if entry.get("budget") not in (None, "epochs") else ""
    return [str(entry["job"]), entry["method"], data,
            f"{entry['effect'] * 100:+.1f} pts [{entry['ci_low'] * 100:+.1f}, {entry['ci_high'] * 100:+.1f}]",
            f"{entry['p']:.3g}", f"{entry['detectable'] * 100:.1f} pts", entry["resolved"]]
