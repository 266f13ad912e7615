"""Generations of the eval prompts: batched, greedy, saved as JSONL next to the run.

Greedy decoding with left padding (every prompt ends where generation begins) makes
the output a function of the model alone, so the same model gives the same file.
A file whose prompts and decoding settings match is reused: `fine-tune-eval` can
judge again without loading the model.

The prompts are every eval row, or, under `eval.max_prompts`, a deterministic sample
stratified by skill. The token budget covers the references: unless
`eval.max_new_tokens` is set it is the longest eval reference (in the run's response
format) plus a quarter, and every record says whether its generation was cut off.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fine_tune.data.embedded import check_answer, extract_answer, stable_hash
from fine_tune.data.schema import response_text
from fine_tune.outputs import fingerprint, write_json_atomic, write_text_atomic

GENERATION_VERSION = 2  # bump when decoding or the record's fields change


def eval_rows(rows: list[dict], eval_cfg) -> list[dict]:
    """The eval prompts every measure shares: all rows, or `eval.max_prompts` stratified by skill.

    A cap gives each skill its share of the prompts (largest remainders first, at least one
    per skill when the cap allows), each skill's rows ranked by a stable hash of their id,
    so the sample is the same on every machine and covers every skill. Input order is kept.
    """
    cap = eval_cfg.max_prompts
    if not cap or cap >= len(rows):
        return list(rows)
    by_skill: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_skill[row.get("skill") or ""].append(row)
    exact = {skill: cap * len(group) / len(rows) for skill, group in by_skill.items()}
    quota = {skill: math.floor(x) for skill, x in exact.items()}
    if cap >= len(by_skill):  # every skill is seen: a small skill's 0 takes one from the largest
        for skill in [k for k in quota if quota[k] == 0]:
            quota[max(quota, key=quota.get)] -= 1
            quota[skill] = 1
    for skill in sorted(exact, key=lambda k: (quota[k] - exact[k], k))[: cap - sum(quota.values())]:
        quota[skill] += 1  # the rest by largest remainder
    chosen = set()
    for skill, group in by_skill.items():
        ranked = sorted(group, key=lambda r: stable_hash("eval-sample", r["id"]))
        chosen.update(r["id"] for r in ranked[: quota[skill]])
    return [r for r in rows if r["id"] in chosen]


MAX_BUDGET = 1024  # free-form references (MT-Bench essays) can be thousands of tokens: set eval.max_new_tokens


def reference_budget(tokenizer, rows: list[dict], response: str) -> int:
    """New tokens that cover every eval reference in the `response` format, plus a quarter (at most MAX_BUDGET).

    A reference cut before its answer line scores 0 whatever the model knows; the quarter
    leaves room for a model that reasons a little longer than the reference does.
    """
    lengths = [len(tokenizer(response_text(r, response), add_special_tokens=False)["input_ids"])
               for r in rows if response_text(r, response)]
    return min(MAX_BUDGET, math.ceil(1.25 * max(lengths, default=64)) + 1)  # + 1: the end-of-turn token


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int,
             desc: str) -> tuple[list[str], list[bool]]:
    """Greedy completions of chat prompts, in order, and whether each ran out of tokens before its end."""
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    cut_off: list[bool] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc, unit="batch"):
        chats = [[{"role": "user", "content": p}] for p in prompts[start : start + batch_size]]
        texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        tokens = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new_tokens = tokens[:, batch["input_ids"].shape[1] :]
        outputs += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        ended = (new_tokens == tokenizer.eos_token_id).any(dim=1)
        cut_off += [bool(not done and len(row) >= max_new_tokens) for done, row in zip(ended.tolist(), new_tokens)]
    model.train(was_training)
    return outputs, cut_off


def _settings(rows: list[dict], max_new_tokens: int) -> dict:
    return {"ids": [r["id"] for r in rows], "max_new_tokens": int(max_new_tokens)}


def load_generations(path: Path) -> list[dict]:
    """The records of a generations JSONL file (one JSON object a line)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def generations_for(model_loader, rows: list[dict], eval_cfg, label: str, folder: Path,
                    max_new_tokens: int, reuse: bool = True, shared: Path | None = None) -> list[dict]:
    """One record per eval row: prompt, response, reference, and the checker's verdict when it has one.

    Args:
        model_loader: returns (model, tokenizer); called only when the file cannot be reused.
        rows: the eval rows (already cut to eval.max_prompts).
        max_new_tokens: the generation budget (`reference_budget` unless eval.max_new_tokens is set).
        label: "base", "tuned" or a stage label; names the file `<folder>/<label>.jsonl`.
        reuse: False when the model was just trained: a file already there (a reused
            run folder) may be another model's.
        shared: a cache file for generations any run of the same model may share (the base
            model's, in a sweep whose jobs all start from it), named by a content key of the
            model, the prompts and the budget; copied into `folder`, never linked.
    """
    path, meta = folder / f"{label}.jsonl", folder / f"{label}.settings.json"
    settings = _settings(rows, max_new_tokens)
    if reuse and path.is_file() and meta.is_file() and json.loads(meta.read_text()) == settings:
        return load_generations(path)
    if shared is not None and shared.is_file():
        records = load_generations(shared)
    else:
        model, tokenizer = model_loader()
        responses, cut_off = generate(model, tokenizer, [r["prompt"] for r in rows], max_new_tokens,
                                      eval_cfg.batch_size, f"generate {label}")
        records = [_record(row, response, cut) for row, response, cut in zip(rows, responses, cut_off)]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if shared is not None and not shared.is_file():
        shared.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(shared, text)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    write_json_atomic(meta, settings)
    return records


def shared_path(cache_dir: str | None, model_identity: str, rows: list[dict], max_new_tokens: int) -> Path | None:
    """Where generations of the model `model_identity` on `rows` are shared, under the cache."""
    if not cache_dir:
        return None
    key = stable_hash("generations", model_identity, fingerprint(rows), max_new_tokens, GENERATION_VERSION)[:20]
    return Path(cache_dir).expanduser() / "generations" / f"{key}.jsonl"


def _record(row: dict, response: str, cut_off: bool) -> dict:
    record = {"id": row["id"], "prompt": row["prompt"], "response": response, "cut_off": cut_off,
              "reference": response_text(row, "cot"), "skill": row.get("skill"), "check": row.get("check"),
              "answer": row.get("answer")}
    if row.get("check"):
        record.update(extracted=extract_answer(response), correct=check_answer(row, response))
    return record
