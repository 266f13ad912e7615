"""Eval loss and perplexity on the held-out split, and the epoch at which training converged.

The reference study learned that a lower loss did not mean better answers: this is
one measure beside WinRate and DeepEval, never the verdict.
"""

from __future__ import annotations

import math

import torch

from fine_tune.data.schema import response_text


def _tokenize(tokenizer, row: dict, max_length: int) -> tuple[list[int], int]:
    """(ids of prompt + reference answer, length of the prompt part) under the chat template."""
    user = [{"role": "user", "content": row["prompt"]}]
    prompt = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": response_text(row, "cot")}],
                                         tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"][:max_length]
    return ids, min(len(prompt_ids), len(ids))


@torch.no_grad()
def eval_loss(model, tokenizer, rows: list[dict], batch_size: int, max_length: int = 1024) -> dict | None:
    """Token-weighted mean negative log-likelihood of the reference answers given their prompts.

    Only answer tokens count (the prompt is context), as in the SFT stages' completion-only loss.

    Returns:
        {"eval_loss", "perplexity", "rows", "tokens"}, or None when no row has a reference answer.
    """
    encoded = [_tokenize(tokenizer, r, max_length) for r in rows if response_text(r, "cot")]
    encoded = [(ids, n) for ids, n in encoded if len(ids) > n]
    if not encoded:
        return None
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    total_nll, total_tokens = 0.0, 0
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start : start + batch_size]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, prompt_len) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, prompt_len : len(ids)] = torch.tensor(ids[prompt_len:])
            mask[i, : len(ids)] = 1
        logits = model(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device)).logits.float()
        # position t predicts token t+1
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                labels[:, 1:].reshape(-1).to(logits.device),
                                                ignore_index=-100, reduction="sum")
        total_nll += nll.item()
        total_tokens += int((labels[:, 1:] != -100).sum())
    model.train(was_training)
    loss = total_nll / total_tokens
    return {"eval_loss": loss, "perplexity": math.exp(min(loss, 50.0)), "rows": len(encoded), "tokens": total_tokens}


def convergence_epoch(eval_losses: list[dict], tolerance: float) -> dict:
    """The first epoch after which eval loss improved by less than `tolerance` (relative), if any.

    Args:
        eval_losses: [{"epoch", "eval_loss"}] in order, as the stages log them (one per epoch).
        tolerance: e.g. 0.01: an epoch that lowers the loss by under 1% counts as no improvement.

    Returns:
        {"epoch": e, "status": "converged"} or {"epoch": None, "status": "not converged"};
        with fewer than two epochs there is no evidence either way: "not converged".
    """
    by_epoch: dict[int, float] = {}
    for entry in eval_losses:
        if entry.get("epoch") is not None and entry.get("eval_loss") is not None:
            by_epoch[round(float(entry["epoch"]))] = float(entry["eval_loss"])  # the last value of an epoch wins
    epochs = sorted(by_epoch)
    for before, after in zip(epochs, epochs[1:]):
        if by_epoch[before] - by_epoch[after] < tolerance * abs(by_epoch[before]):
            return {"epoch": before, "status": "converged", "epochs_seen": len(epochs)}
    return {"epoch": None, "status": "not converged", "epochs_seen": len(epochs)}


def run_convergence(stages: dict, tolerance: float) -> dict:
    """Convergence of every stage with per-epoch eval losses; the headline is the longest-trained one."""
    per_stage = {name: convergence_epoch(m.get("eval_loss_epochs") or [], tolerance) for name, m in stages.items()}
    if not per_stage:
        return {"epoch": None, "status": "not converged", "stage": None, "stages": {}}
    headline = max(per_stage, key=lambda name: per_stage[name]["epochs_seen"])
    return {**per_stage[headline], "stage": headline, "stages": per_stage}
