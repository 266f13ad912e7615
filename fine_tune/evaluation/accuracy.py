"""Checker accuracy: the share of eval prompts whose generated answer the data's checker accepts.

Decoding is greedy and batched (left padding, so every prompt ends where
generation begins), which makes the number deterministic for a given model.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from fine_tune.data.embedded import check_answer, extract_answer


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


def checker_accuracy(model, tokenizer, rows: list[dict], eval_cfg, label: str, out_file: Path | None) -> dict | None:
    """Score `model` on the `rows` that have a checker; write every generation to `out_file` (JSONL).

    Returns:
        {"accuracy", "correct", "total", "per_skill": {skill: accuracy}}, or None when no
        row has a checker (free-form data is judged by issue 5's WinRate and DeepEval).
    """
    rows = [r for r in rows if r.get("check")]
    rows = rows[: eval_cfg.max_prompts] if eval_cfg.max_prompts else rows
    if not rows:
        return None
    responses = generate(
        model, tokenizer, [r["prompt"] for r in rows], eval_cfg.max_new_tokens, eval_cfg.batch_size, f"eval {label}"
    )
    by_skill: dict[str, list[bool]] = defaultdict(list)
    records = []
    for row, response in zip(rows, responses):
        ok = check_answer(row, response)
        by_skill[row.get("skill") or "(none)"].append(ok)
        records.append({"id": row["id"], "prompt": row["prompt"], "response": response,
                        "extracted": extract_answer(response), "reference": row["answer"], "correct": ok})
    if out_file is not None:
        out_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    correct = sum(r["correct"] for r in records)
    return {
        "accuracy": correct / len(records) if records else 0.0,
        "correct": correct,
        "total": len(records),
        "per_skill": {skill: sum(v) / len(v) for skill, v in sorted(by_skill.items())},
    }
