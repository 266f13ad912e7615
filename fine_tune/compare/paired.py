"""Per-prompt results of a sweep's jobs, and each job head to head with the reference pipeline.

A job's folder keeps what every prompt got: `generations/tuned.jsonl` (the answer and the
checker's verdict) and `eval/tuned_loss.jsonl` (the held-out loss, and the final answer's
alone). Comparing two methods prompt by prompt on these is what makes a difference
detectable at all (see fine_tune.compare.claims).

The reference pipeline is the study's winner: SFT-CoT then DPO on curated data. Every
other job's WinRate column is its head-to-head WinRate against it (the same seed when the
sweep has seeds), judged in both orders by the verifiable judge (correctness only), on the
prompts both answered. A job evaluated with `fine-tune-eval <job> eval.baseline=<reference
job folder>` (an llm judge, for prompts without checkers) brings its own head-to-head.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fine_tune.compare.collect import Job, dig
from fine_tune.evaluation.judges import VerifiableJudge
from fine_tune.evaluation.winrate import judge_pairs, summarize
from fine_tune.run_folder import RunFolder

REFERENCE_METHOD = "sft_cot → dpo"
REFERENCE_DATA = "curated"


@dataclass
class PromptResults:
    """One job's per-prompt results, keyed by eval prompt id."""

    records: dict[str, dict]  # the generation record: response, correct, skill, check
    losses: dict[str, dict]  # {"nll", "tokens", "answer_nll", "answer_tokens"}
    # eval prompts found in the job's own train rows (its data report): scored apart, left out of claims
    contaminated: frozenset[str] = frozenset()

    def correct(self, ids: list[str]) -> list[bool]:
        return [bool(self.records[i].get("correct")) for i in ids]

    def answer_loss(self, ids: list[str]) -> list[float | None]:
        """Mean negative log-likelihood per answer token of each prompt's final answer."""
        out = []
        for i in ids:
            loss = self.losses.get(i)
            out.append(loss["answer_nll"] / loss["answer_tokens"] if loss and loss.get("answer_tokens") else None)
        return out


def _jsonl(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError):
        return []  # a job without (readable) files has no per-prompt results: it is left out, and said so


def prompt_results(job: Job) -> PromptResults | None:
    """The job's per-prompt results, or None when it has no tuned generations with checker verdicts."""
    records = {r["id"]: r for r in _jsonl(RunFolder(job.folder).tuned_generations) if "id" in r}
    if not records or not any("correct" in r for r in records.values()):
        return None
    losses = {r["id"]: r for r in _jsonl(RunFolder(job.folder).tuned_losses) if "id" in r}
    leaked = dig(job.metrics, "data", "contaminated_eval", "ids")
    return PromptResults(records, losses, frozenset(map(str, leaked)) if isinstance(leaked, list) else frozenset())


def is_reference(row: dict) -> bool:
    """SFT-CoT then DPO on curated data with every curation step (experiment=cleaning switches them off)."""
    return row["method"] == REFERENCE_METHOD and row["data"] == REFERENCE_DATA and row.get("ablate") in (None, "none")


def reference_for(row: dict, rows: list[dict]) -> dict | None:
    """The reference pipeline's job to compare `row` with: the same seed when there is one, else the first."""
    candidates = [r for r in rows if is_reference(r) and r["status"] == "finished"]
    same_seed = [r for r in candidates if str(r["seed"]) == str(row["seed"])]
    return (same_seed or candidates or [None])[0]


def head_to_head(job: Job, results: PromptResults | None, reference: PromptResults | None, seed: int,
                 samples: int = 2000) -> dict | None:
    """The job's WinRate against the reference job, on the prompts both answered.

    A head-to-head the job recorded itself (fine-tune-eval with eval.baseline=<reference folder>)
    wins; else the verifiable judge decides from the two generation files. None when neither exists.
    """
    recorded = dig(job.metrics, "eval", "winrate")
    if isinstance(recorded, dict) and str(recorded.get("baseline", "")).startswith("run:") and recorded.get("win_rate") is not None:
        return recorded
    if results is None or reference is None:
        return None
    shared = [i for i in results.records if i in reference.records and results.records[i].get("check")]
    if not shared:
        return None
    pairs = [(results.records[i], results.records[i]["response"], reference.records[i]["response"]) for i in shared]
    summary = summarize(judge_pairs(VerifiableJudge(), pairs), samples, 0.95, seed)
    return {**summary, "baseline": "reference pipeline", "judge": VerifiableJudge.name}
