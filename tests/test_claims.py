"""The claims section on fabricated sweeps whose answers are known: no training, a second or two.

Every job has 240 eval prompts, half of them multi-step (arith), with per-prompt verdicts,
responses and answer losses chosen so that each claim's verdict is known in advance. The
claims come from fine_tune/claim_sets/reference_study.yaml, read by key; a sweep can bring its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.stats import ttest_1samp

from fine_tune.claim_spec import load_claims, resolve
from fine_tune.compare.cli import compare
from fine_tune.compare.collect import load_sweep
from fine_tune.compare.paired import prompt_results
from fine_tune.compare.table import raw_row
from fine_tune.errors import UserError
from fine_tune.evaluation.stats import mcnemar, t_detectable_difference

PROMPTS = 240


def _records(correct: np.ndarray) -> list[dict]:
    out = []
    for i, ok in enumerate(correct):
        skill = "arith" if i % 2 == 0 else "lists"
        check = {"kind": "number", "value": 7} if skill == "arith" else {"kind": "list", "value": [1, 2]}
        right = "Answer: 7" if skill == "arith" else "Answer: [1, 2]"
        out.append({"id": f"p{i:03d}", "prompt": f"question {i}", "skill": skill, "check": json.dumps(check),
                    "answer": "7" if skill == "arith" else "[1, 2]", "response": right if ok else "Answer: 0",
                    "correct": bool(ok), "cut_off": False})
    return out


def _job(sweep: Path, num: int, data: str, stages: list[str], correct: np.ndarray, answer_loss: float,
         seed: int = 1, status: str = "finished", budget: str = "epochs", leaked: list[str] | None = None) -> None:
    folder = sweep / f"{num}_{data}_{'+'.join(stages)}_{budget}_seed{seed}"
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([f"data={data}", f"method=[{','.join(stages)}]", f"seed={seed}"]))
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(
        {"data": {"name": data}, "method": {s: {} for s in stages}, "seed": seed, "logger": {"name": "none"},
         "budget": {"name": budget}}))
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"num": num}}}))
    contaminated = {"ngram": 13, "count": len(leaked or []), "ids": leaked or []}
    metrics = {"status": status, "stages_order": stages,
               "data": {"name": data, "train_rows": 100, "eval_rows": PROMPTS, "contaminated_eval": contaminated},
               "stages": {}, "tuned": {"accuracy": float(correct.mean())},
               "eval": {"loss": {"eval_loss": 1.0, "answer_loss": answer_loss, "response": "cot"},
                        "deepeval": {"accuracy": float(correct.mean()), "metrics": {"checker_correctness": {}}}}}
    if status == "unstable":
        metrics = {"status": "unstable", "unstable_reason": "grpo: reward variance collapsed", "stages_order": stages,
                   "data": {"name": data}, "stages": {}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if status != "finished":
        return
    (folder / "generations").mkdir()
    (folder / "generations" / "tuned.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records(correct)))
    (folder / "eval").mkdir()
    losses = [{"id": f"p{i:03d}", "nll": 10.0, "tokens": 10, "answer_nll": answer_loss * 2 + (i % 3) * 0.01,
               "answer_tokens": 2} for i in range(PROMPTS)]
    (folder / "eval" / "tuned_loss.jsonl").write_text("".join(json.dumps(x) + "\n" for x in losses))


def _pattern(share: float, offset: int = 0) -> np.ndarray:
    """A deterministic 0/1 vector with the given share of ones, rotated by `offset`."""
    ones = round(share * PROMPTS)
    return np.roll(np.array([1] * ones + [0] * (PROMPTS - ones)), offset)



TEXT = {c.key: c.text for c in load_claims(resolve("reference_study"))}


def _claims(sweep: Path) -> dict[str, list[str]]:
    """Claim key -> its row's cells in comparison.md."""
    text = (sweep / "comparison.md").read_text()
    section = text.split("## Claims")[1].split("## Each job")[0]
    by_text = {}
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| claim"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            by_text[cells[0]] = cells
    return {key: by_text[text] for key, text in TEXT.items() if text in by_text}


def _verdicts(sweep: Path) -> dict[str, str]:
    return {key: cells[-1] for key, cells in _claims(sweep).items()}


@pytest.fixture(scope="module")
def claims_sweep(tmp_path_factory) -> Path:
    """One seed of each cell: every verdict is about one run."""
    sweep = tmp_path_factory.mktemp("claims") / "multirun" / "2026-12-02" / "12-00-00"
    sweep.mkdir(parents=True)
    reference = _pattern(0.70)
    _job(sweep, 0, "curated", ["sft_cot", "dpo"], reference, answer_loss=0.9)
    _job(sweep, 1, "raw", ["sft_cot", "dpo"], _pattern(0.40), answer_loss=1.2)  # curated clearly better
    large = reference.copy()
    large[[1, 200]] = 1 - large[[1, 200]]  # one prompt lost, one won: no difference to resolve
    _job(sweep, 2, "raw", ["sft"], large, answer_loss=0.5)  # but a clearly lower loss
    _job(sweep, 3, "curated", ["sft_cot", "dpo", "grpo"], reference, answer_loss=0.9, status="unstable")
    thinking = reference.copy()
    _job(sweep, 4, "curated", ["thinking"], thinking, answer_loss=0.9)  # ties the reference everywhere: flat
    direct = np.where(np.arange(PROMPTS) % 2 == 0, 1, thinking)  # every multi-step prompt right: thinking worse
    _job(sweep, 5, "curated", ["sft"], direct, answer_loss=0.9)
    compare(sweep, wandb="disabled")
    return sweep


def test_each_claim_gets_the_verdict_its_data_implies(claims_sweep):
    verdicts = _verdicts(claims_sweep)
    assert verdicts["curated_beats_raw"] == "confirmed (one run)"
    assert verdicts["pipeline_beats_large_sft"] == "not resolved (one run)"
    assert verdicts["large_sft_lower_loss"] == "confirmed (one run)"
    assert verdicts["grpo_worse_or_unstable"].startswith("confirmed: ")
    assert verdicts["thinking_improves_reasoning"] == "refuted (one run)"
    assert verdicts["thinking_winrate_flat"] == "confirmed (one run)"


def test_a_claim_whose_cells_the_sweep_lacks_is_not_tested_with_the_reason(claims_sweep):
    verdicts = _verdicts(claims_sweep)
    assert verdicts["curated_beats_raw_matched_steps"].startswith("not tested: the sweep has no finished job")
    assert "sft_cot → dpo on curated, matched_steps" in verdicts["curated_beats_raw_matched_steps"]
    assert verdicts["cot_beats_direct_curated"].startswith("not tested")  # no sft_cot alone in this sweep


def test_an_unresolved_claim_reports_the_smallest_detectable_difference(claims_sweep):
    cells = _claims(claims_sweep)["pipeline_beats_large_sft"]
    assert cells[1].startswith("data, response format and DPO at once")  # the factor: not attributable
    assert cells[4].startswith("+0.0 pts [")  # one prompt each way: no difference
    assert cells[6].startswith("exact McNemar: 1 (1)")  # p on 1 vs 1 discordant prompts, Holm-corrected
    assert cells[7] == f"{2.8 * (2 / PROMPTS) ** 0.5 / PROMPTS ** 0.5 * 100:.1f} pts"
    assert cells[8] == "— (one run)" and cells[9] == f"{PROMPTS} × 1 (0)"
    section = (claims_sweep / "comparison.md").read_text().split("## Claims")[1]
    assert "Holm" in section and "TOST" in section


def test_winrate_column_is_the_head_to_head_against_the_reference(claims_sweep):
    sweep = load_sweep(claims_sweep)
    text = (claims_sweep / "comparison.md").read_text()
    assert "WinRate vs SFT-CoT + DPO, checker judge" in text and "(reference)" in text
    assert "DeepEval (checker metric)" in text
    rows = {r["folder"]: r for r in (raw_row(j) for j in sweep.jobs)}
    raw_job = next(f for f in rows if f.startswith("1_raw"))
    assert rows[raw_job]["tuned_accuracy"] == pytest.approx(0.4)
    csv = (claims_sweep / "comparison.csv").read_text().splitlines()
    header = csv[0].split(",")
    raw = dict(zip(header, next(line for line in csv if f",{raw_job}," in line).split(",")))
    # 0.4 vs 0.7 correct, overlapping: the raw run wins where only it is right, loses where only the reference is
    assert float(raw["win_rate"]) == pytest.approx(0.5 + (0.4 - 0.7) / 2)
    thinking = dict(zip(header, next(line for line in csv if ",4_curated_thinking" in line).split(",")))
    assert float(thinking["win_rate"]) == 0.5
    assert prompt_results(sweep.jobs[3]) is None  # the unstable job left no generations


def _seeded(tmp_path: Path, raw_shares: list[float]) -> Path:
    sweep = tmp_path / "multirun" / "x" / "y"
    sweep.mkdir(parents=True)
    for seed, share in enumerate(raw_shares, start=1):
        _job(sweep, seed, "curated", ["sft_cot", "dpo"], _pattern(0.70, seed), 0.9, seed=seed)
        _job(sweep, 10 + seed, "raw", ["sft_cot", "dpo"], _pattern(share, seed), 1.1, seed=seed)
    compare(sweep, wandb="disabled")
    return sweep


def test_seeds_are_the_unit_a_steady_effect_is_confirmed(tmp_path):
    sweep = _seeded(tmp_path, [0.55, 0.575, 0.60])  # curated ahead by 15, 12.5 and 10 points
    cells = _claims(sweep)["curated_beats_raw"]
    assert cells[6].startswith("paired t over seeds: ") and cells[9] == f"{PROMPTS} × 3 (0)"
    assert cells[5] == "+15.0, +12.5, +10.0" and cells[-1] == "confirmed"
    assert cells[8].endswith("pts") and "one run" not in cells[8]
    spread = (sweep / "comparison.md").read_text().split("## Seed spread")[1]
    assert "(n=3)" in spread


def test_a_seed_effect_pooled_mcnemar_calls_significant_is_not_resolved_over_seeds(tmp_path):
    """+22.5, -5 and +20 points over three seeds: pooled over seed x prompt cells McNemar is sure; over seeds it is not."""
    sweep = _seeded(tmp_path, [0.475, 0.75, 0.50])
    a = np.concatenate([_pattern(0.70, s) for s in (1, 2, 3)])
    b = np.concatenate([_pattern(x, s) for x, s in ((0.475, 1), (0.75, 2), (0.50, 3))])
    pooled = mcnemar(int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum()))
    assert pooled < 1e-6  # what the old pooled test reported
    cells = _claims(sweep)["curated_beats_raw"]
    differences = [0.225, -0.05, 0.20]
    assert cells[-1] == "not resolved"
    p = float(cells[6].split(": ")[1].split(" (")[0])
    assert p == pytest.approx(ttest_1samp(differences, 0).pvalue, rel=1e-2) and p > 0.05
    assert cells[7] == f"{t_detectable_difference(differences) * 100:.1f} pts"


def test_equivalence_needs_both_bounds_inside_the_margin(tmp_path):
    """A large loss is refuted, not "flat"; a tie is confirmed flat; a small sure loss inside the margin is flat too."""
    verdicts = {}
    for name, share in (("tie", 0.70), ("large_loss", 0.30), ("small_loss", 0.68)):
        sweep = tmp_path / name
        sweep.mkdir()
        _job(sweep, 0, "curated", ["sft_cot", "dpo"], _pattern(0.70), 0.9)
        thinking = _pattern(0.70) if share == 0.70 else np.minimum(_pattern(0.70), _pattern(share))
        _job(sweep, 1, "curated", ["thinking"], thinking, 0.9)
        compare(sweep, wandb="disabled")
        verdicts[name] = _verdicts(sweep)["thinking_winrate_flat"]
    assert verdicts == {"tie": "confirmed (one run)", "large_loss": "refuted (one run)",
                        "small_loss": "confirmed (one run)"}


def test_contaminated_prompts_are_left_out_of_the_claims(tmp_path):
    sweep = tmp_path / "leak"
    sweep.mkdir()
    leaked = [f"p{i:03d}" for i in range(0, 24)]
    _job(sweep, 0, "curated", ["sft_cot", "dpo"], _pattern(0.70), 0.9)
    _job(sweep, 1, "raw", ["sft_cot", "dpo"], _pattern(0.40), 1.2, leaked=leaked)
    compare(sweep, wandb="disabled")
    cells = _claims(sweep)["curated_beats_raw"]
    assert cells[9] == f"{PROMPTS - 24} × 1 (24)"
    row = next(r for r in (raw_row(j) for j in load_sweep(sweep).jobs) if r["data"] == "raw")
    assert row["contaminated_eval"] == 24


@pytest.mark.parametrize("share,verdict", [(0.55, "confirmed"), (0.85, "refuted"), (0.70, "not resolved")])
def test_a_finished_grpo_chain_is_judged_by_being_worse(tmp_path, share, verdict):
    """"DPO + GRPO is worse": a GRPO chain clearly below the reference confirms it, clearly above refutes it."""
    sweep = tmp_path / "multirun" / "grpo"
    sweep.mkdir(parents=True)
    _job(sweep, 0, "curated", ["sft_cot", "dpo"], _pattern(0.70), answer_loss=0.9)
    _job(sweep, 1, "curated", ["sft_cot", "dpo", "grpo"], _pattern(share), answer_loss=0.9)
    compare(sweep, wandb="disabled")
    assert _verdicts(sweep)["grpo_worse_or_unstable"] == f"{verdict} (one run)"


def test_a_sweep_tests_its_own_claims_file(tmp_path, claims_sweep):
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"claims": [{
        "key": "raw_sft_vs_thinking", "text": "Thinking beats SFT on raw-free data", "factor": "method",
        "a": {"method": ["thinking"], "data": "curated"}, "b": {"method": ["sft"], "data": "curated"},
        "measure": "accuracy", "expect": "a_better"}]}))
    compare(claims_sweep, wandb="disabled", claims_file=str(mine))
    text = (claims_sweep / "comparison.md").read_text()
    assert f"## Claims ({mine})" in text and "Thinking beats SFT on raw-free data" in text
    assert "Curated data beats raw data" not in text.split("## Claims")[1].split("## Each job")[0]
    compare(claims_sweep, wandb="disabled")  # the module's sweep back to the study's claims


@pytest.mark.parametrize("change,expected", [
    (lambda c: c.update(mesure=c.pop("measure")), r"mine\.yaml:\d+: unknown config key 'claims\.0\.mesure' \(did you mean 'measure'\?\)"),
    (lambda c: c.update(measure="acuracy"), r"mine\.yaml:\d+: .*claims\.0\.measure.*acuracy"),
    (lambda c: c.update(expect="equivalent"), r"mine\.yaml:\d+: claims\.0 \(k\) expects equivalence and needs margin"),
])
def test_a_claims_file_with_a_typo_is_one_clear_line(tmp_path, change, expected):
    claim = {"key": "k", "text": "t", "a": {"method": ["sft"], "data": "raw"}, "b": {"method": ["sft"], "data": "curated"},
             "measure": "accuracy", "expect": "a_better"}
    change(claim)
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"claims": [claim]}, sort_keys=False))
    with pytest.raises(UserError, match=expected) as err:
        load_claims(resolve(str(mine)))
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="no claims file 'nope'"):
        resolve("nope")
