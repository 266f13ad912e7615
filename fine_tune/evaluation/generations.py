"""Generations of the eval prompts: batched, greedy, saved as JSONL next to the run.

Greedy decoding with left padding (every prompt ends where generation begins) makes
the output a function of the model alone, so the same model gives the same file.
A file whose prompts and decoding settings match is reused: `fine-tune-eval` can
judge again without loading the model.

The prompts are every eval row, or, under `eval.max_prompts`, a deterministic sample
stratified by skill (fine_tune.evaluation.sampling). The token budget covers the references: unless
`eval.max_new_tokens` is set it is the longest eval reference (in the run's response
format) plus a quarter, and every record says whether its generation was cut off.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fine_tune.answers import is_correct, read_answer
from fine_tune.cache import cache_path
from fine_tune.chat import prompt_text
from fine_tune.data.schema import response_text
from fine_tune.outputs import content_key, fingerprint, write_json_atomic, write_text_atomic

GENERATION_VERSION = 2  # bump when decoding or the record's fields change


MAX_BUDGET = 1024  # free-form references (MT-Bench essays) can be thousands of tokens: set eval.max_new_tokens


def reference_budget(tokenizer, rows: list[dict], response: str) -> int:
    """New tokens that cover every eval reference in the `response` format, plus a quarter (at most MAX_BUDGET).

    A reference cut before its answer line scores 0 whatever the model knows; the quarter
    leaves room for a model that reasons a little longer than the reference does.
    """
    lengths = [len(tokenizer(response_text(r, response), add_special_tokens=False)["input_ids"])
               for r in rows if response_text(r, response)]
    return min(MAX_BUDGET, math.ceil(1.25 * max(lengths, default=64)) + 1)  # + 1: the end-of-turn token


@dataclass(frozen=True)
class Decoding:
    """How generations are made: what a generations file must match to be reused."""

    max_new_tokens: int  # `reference_budget` unless eval.max_new_tokens is set
    instruction: str | None = None  # data.answer_instruction's sentence (fine_tune.chat)
    batch_size: int = 64

    def settings(self, rows: list[dict]) -> dict:
        return {"ids": [r["id"] for r in rows], "max_new_tokens": int(self.max_new_tokens),
                "instruction": self.instruction}


@torch.no_grad()
def generate(model, tokenizer, rows: list[dict], decoding: Decoding, desc: str) -> tuple[list[str], list[bool]]:
    """Greedy completions of the rows' chats, in order, and whether each ran out of tokens before its end."""
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    cut_off: list[bool] = []
    for start in tqdm(range(0, len(rows), decoding.batch_size), desc=desc, unit="batch"):
        texts = [prompt_text(tokenizer, row, decoding.instruction) for row in rows[start : start + decoding.batch_size]]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        tokens = model.generate(
            **batch,
            max_new_tokens=decoding.max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new_tokens = tokens[:, batch["input_ids"].shape[1] :]
        outputs += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        ended = (new_tokens == tokenizer.eos_token_id).any(dim=1)
        cut_off += [bool(not done and len(row) >= decoding.max_new_tokens)
                    for done, row in zip(ended.tolist(), new_tokens)]
    model.train(was_training)
    return outputs, cut_off


def load_generations(path: Path) -> list[dict]:
    """The records of a generations JSONL file (one JSON object a line)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def generations_for(model_loader, rows: list[dict], decoding: Decoding, label: str, folder: Path,
                    reuse: bool = True, shared: Path | None = None) -> list[dict]:
    """One record per eval row: prompt, response, reference, and the checker's verdict when it has one.

    Args:
        model_loader: returns (model, tokenizer); called only when the file cannot be reused.
        rows: the eval rows (already cut to eval.max_prompts).
        decoding: the budget and the prompt's instruction; a file made otherwise is not reused.
        label: "base", "tuned" or a stage label; names the file `<folder>/<label>.jsonl`.
        reuse: False when the model was just trained: a file already there (a reused
            run folder) may be another model's.
        shared: a cache file for generations any run of the same model may share (the base
            model's, in a sweep whose jobs all start from it), named by a content key of the
            model, the prompts and the decoding; copied into `folder`, never linked.
    """
    path, meta = folder / f"{label}.jsonl", folder / f"{label}.settings.json"
    settings = decoding.settings(rows)
    if reuse and path.is_file() and meta.is_file() and json.loads(meta.read_text()) == settings:
        return load_generations(path)
    if shared is not None and shared.is_file():
        records = load_generations(shared)
    else:
        model, tokenizer = model_loader()
        responses, cut_off = generate(model, tokenizer, rows, decoding, f"generate {label}")
        records = [_record(row, response, cut) for row, response, cut in zip(rows, responses, cut_off)]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if shared is not None and not shared.is_file():
        shared.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(shared, text)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    write_json_atomic(meta, settings)
    return records


def shared_path(cache_dir: str | None, model_identity: str, rows: list[dict], decoding: Decoding) -> Path | None:
    """Where generations of the model `model_identity` on `rows` are shared, under the cache."""
    if not cache_dir:
        return None
    key = content_key(["generations", model_identity, fingerprint(rows), decoding.max_new_tokens,
                       decoding.instruction, GENERATION_VERSION])
    return cache_path(cache_dir, "generations", f"{key}.jsonl")


def _record(row: dict, response: str, cut_off: bool) -> dict:
    record = {"id": row["id"], "prompt": row["prompt"], "response": response, "cut_off": cut_off,
              "reference": response_text(row, "cot"), "skill": row.get("skill"), "check": row.get("check"),
              "answer": row.get("answer")}
    if row.get("check"):
        found = read_answer(response)
        record.update(extracted=found.text, convention=found.convention, correct=is_correct(response, row))
    return record
