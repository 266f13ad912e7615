"""Generations of the eval prompts: batched, greedy, saved as JSONL next to the run.

Greedy decoding with left padding (every prompt ends where generation begins) makes
the output a function of the model alone, so the same model gives the same file.
A file whose prompts and decoding settings match is reused: `fine-tune-eval` can
judge again without loading the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fine_tune.data.embedded import check_answer, extract_answer
from fine_tune.data.schema import response_text
from fine_tune.outputs import write_json_atomic, write_text_atomic


def eval_rows(rows: list[dict], eval_cfg) -> list[dict]:
    """The eval prompts every measure shares: the first `eval.max_prompts` rows (all when None)."""
    return rows[: eval_cfg.max_prompts] if eval_cfg.max_prompts else list(rows)


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int, desc: str) -> list[str]:
    """Greedy completions of chat prompts, in order."""
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    outputs: list[str] = []
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
    model.train(was_training)
    return outputs


def _settings(rows: list[dict], eval_cfg) -> dict:
    return {"ids": [r["id"] for r in rows], "max_new_tokens": int(eval_cfg.max_new_tokens)}


def load_generations(path: Path) -> list[dict]:
    """The records of a generations JSONL file (one JSON object a line)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def generations_for(model_loader, rows: list[dict], eval_cfg, label: str, folder: Path,
                    reuse: bool = True) -> list[dict]:
    """One record per eval row: prompt, response, reference, and the checker's verdict when it has one.

    Args:
        model_loader: returns (model, tokenizer); called only when the file cannot be reused.
        rows: the eval rows (already cut to eval.max_prompts).
        label: "base", "tuned" or a stage label; names the file `<folder>/<label>.jsonl`.
        reuse: False when the model was just trained: a file already there (a reused
            run folder) may be another model's.
    """
    path, meta = folder / f"{label}.jsonl", folder / f"{label}.settings.json"
    settings = _settings(rows, eval_cfg)
    if reuse and path.is_file() and meta.is_file() and json.loads(meta.read_text()) == settings:
        return load_generations(path)
    model, tokenizer = model_loader()
    responses = generate(model, tokenizer, [r["prompt"] for r in rows], eval_cfg.max_new_tokens,
                         eval_cfg.batch_size, f"generate {label}")
    records = [_record(row, response) for row, response in zip(rows, responses)]
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    write_json_atomic(meta, settings)
    return records


def _record(row: dict, response: str) -> dict:
    record = {"id": row["id"], "prompt": row["prompt"], "response": response,
              "reference": response_text(row, "cot"), "skill": row.get("skill"), "check": row.get("check")}
    if row.get("check"):
        record.update(extracted=extract_answer(response), correct=check_answer(row, response))
    return record
