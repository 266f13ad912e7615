"""The claims section on fabricated sweeps whose answers are known: no training, a second or two.

Every job has 240 eval prompts, half of them multi-step (arith), with per-prompt verdicts,
responses and answer losses chosen so that each claim's verdict is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from fine_tune.compare.cli import compare
from fine_tune.compare.collect import load_sweep
from fine_tune.compare.paired import prompt_results
from fine_tune.compare.table import raw_row

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
         seed: int = 1, status: str = "finished") -> None:
    folder = sweep / f"{num}_{data}_{'+'.join(stages)}"
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([f"data={data}", f"method=[{','.join(stages)}]", f"seed={seed}"]))
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(
        {"data": {"name": data}, "method": {s: {} for s in stages}, "seed": seed, "logger": {"name": "none"}}))
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"num": num}}}))
    metrics = {"status": status, "stages_order": stages, "data": {"name": data, "train_rows": 100, "eval_rows": PROMPTS},
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


@pytest.fixture(scope="module")
def claims_sweep(tmp_path_factory) -> Path:
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


def _claims(sweep: Path) -> dict[str, str]:
    text = (sweep / "comparison.md").read_text()
    section = text.split("## Claims of the reference study")[1].split("## Seed spread")[0]
    verdicts = {}
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| claim"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            verdicts[cells[0]] = cells[-1]
    return verdicts


def test_each_claim_gets_the_verdict_its_data_implies(claims_sweep):
    verdicts = _claims(claims_sweep)
    assert verdicts["Curated data beats raw data"] == "confirmed"
    assert verdicts["SFT-CoT + DPO beats Large SFT (raw data) on quality"] == "not resolved"
    assert verdicts["Large SFT has the lower loss"] == "confirmed"
    assert verdicts["DPO + GRPO is worse than SFT-CoT + DPO, or unstable"].startswith("confirmed: ")
    assert verdicts["Thinking improves reasoning (multi-step skills, against direct-answer SFT)"] == "refuted"
    assert verdicts["Thinking's preference WinRate stays flat: no gain over SFT-CoT + DPO"] == "confirmed"


def test_an_unresolved_claim_reports_the_smallest_detectable_difference(claims_sweep):
    section = (claims_sweep / "comparison.md").read_text().split("## Claims")[1]
    line = next(x for x in section.splitlines() if x.startswith("| SFT-CoT + DPO beats Large SFT"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3].startswith("+0.0 pts [")  # one prompt each way: no difference
    assert cells[4].startswith("1 (1)")  # McNemar p on 1 vs 1 discordant prompts, Holm-corrected
    assert cells[5] == f"{2.8 * (2 / PROMPTS) ** 0.5 / PROMPTS ** 0.5 * 100:.1f} pts" and cells[6] == f"{PROMPTS} × 1"
    assert "Holm" in section and "not resolved" in section


def test_winrate_column_is_the_head_to_head_against_the_reference(claims_sweep):
    sweep = load_sweep(claims_sweep)
    text = (claims_sweep / "comparison.md").read_text()
    assert "WinRate vs SFT-CoT + DPO" in text and "(reference)" in text and "DeepEval (checker metric)" in text
    rows = {r["folder"]: r for r in (raw_row(j) for j in sweep.jobs)}
    assert rows["1_raw_sft_cot+dpo"]["tuned_accuracy"] == pytest.approx(0.4)
    csv = (claims_sweep / "comparison.csv").read_text().splitlines()
    header = csv[0].split(",")
    raw = dict(zip(header, next(line for line in csv if ",1_raw_sft_cot+dpo," in line).split(",")))
    # 0.4 vs 0.7 correct, overlapping: the raw run wins where only it is right, loses where only the reference is
    assert float(raw["win_rate"]) == pytest.approx(0.5 + (0.4 - 0.7) / 2)
    thinking = dict(zip(header, next(line for line in csv if ",4_curated_thinking," in line).split(",")))
    assert float(thinking["win_rate"]) == 0.5
    assert prompt_results(sweep.jobs[3]) is None  # the unstable job left no generations


def test_seeds_are_paired_and_resampled(tmp_path):
    sweep = tmp_path / "multirun" / "x" / "y"
    sweep.mkdir(parents=True)
    for seed in (1, 2, 3):
        _job(sweep, seed, "curated", ["sft_cot", "dpo"], _pattern(0.70, seed), 0.9, seed=seed)
        _job(sweep, 10 + seed, "raw", ["sft_cot", "dpo"], _pattern(0.52 + 0.03 * seed, seed), 1.1, seed=seed)
    compare(sweep, wandb="disabled")
    section = (sweep / "comparison.md").read_text().split("## Claims")[1]
    line = next(x for x in section.splitlines() if x.startswith("| Curated data beats raw data"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[6] == f"{PROMPTS} × 3" and cells[-1] == "confirmed"
    spread = (sweep / "comparison.md").read_text().split("## Seed spread")[1]
    assert "(n=3)" in spread


@pytest.mark.parametrize("share,verdict", [(0.55, "confirmed"), (0.85, "refuted"), (0.70, "not resolved")])
def test_a_finished_grpo_chain_is_judged_by_being_worse(tmp_path, share, verdict):
    """"DPO + GRPO is worse": a GRPO chain clearly below the reference confirms it, clearly above refutes it."""
    sweep = tmp_path / "multirun" / "grpo"
    sweep.mkdir(parents=True)
    _job(sweep, 0, "curated", ["sft_cot", "dpo"], _pattern(0.70), answer_loss=0.9)
    _job(sweep, 1, "curated", ["sft_cot", "dpo", "grpo"], _pattern(share), answer_loss=0.9)
    compare(sweep, wandb="disabled")
    assert _claims(sweep)["DPO + GRPO is worse than SFT-CoT + DPO, or unstable"] == verdict
