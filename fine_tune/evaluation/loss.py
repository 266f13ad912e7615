"""Held-out loss: in each run's own response format, and on the final answer alone; convergence.

The reference study learned that a lower loss did not mean better answers: this is
one measure beside WinRate and DeepEval, never the verdict. Loss also depends on the
reference format (a direct-answer model scored on reasoning references is "bad" for a
reason that says nothing about quality), so two numbers come out:

- `eval_loss`: the reference in the run's own format (direct, cot or thinking; see
  `stages.response_format`), answer tokens only, as the SFT stages train;
- `answer_loss`: the final answer's tokens only (the value after `Answer:`), given the
  prompt and the run's own reference up to it. The same tokens for every method: the
  number to compare methods by.

Per-prompt sums are returned too, so `fine-tune-compare` can pair two runs prompt by prompt.
"""

from __future__ import annotations

import math

import torch

from fine_tune.chat import full_text, prompt_text
from fine_tune.data.schema import is_structured, response_text


def _tokenize(tokenizer, row: dict, response: str, max_length: int,
              instruction: str | None) -> tuple[list[int], int, int, int]:
    """(ids of prompt + reference, where the reference starts, and the final answer's token span).

    Positions are token indices; the answer span is empty (len, len) when the row has no final
    answer or it was cut by max_length. Character offsets find the answer inside the templated
    text, so a tokenizer that merges a token across its boundary (" 7") still scores it.
    """
    reference = response_text(row, response)
    prompt, full = prompt_text(tokenizer, row, instruction), full_text(tokenizer, row, reference, instruction)
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"][:max_length], encoded["offset_mapping"][:max_length]
    first = lambda test: next((i for i, span in enumerate(offsets) if test(span)), len(ids))  # noqa: E731
    ref_start = first(lambda span: span[0] >= len(prompt))
    at = full.rfind(reference)
    if not (is_structured(row) and str(row["answer"])) or at < 0:
        return ids, ref_start, len(ids), len(ids)
    answer_from, answer_to = at + len(reference) - len(str(row["answer"])), at + len(reference)
    answer_start = first(lambda span: span[1] > answer_from)
    answer_stop = first(lambda span: span[0] >= answer_to)
    if answer_stop == len(ids) and (not offsets or offsets[-1][1] < answer_to):  # cut off by max_length
        return ids, ref_start, len(ids), len(ids)
    return ids, ref_start, answer_start, answer_stop


@torch.no_grad()
def eval_loss(model, tokenizer, rows: list[dict], batch_size: int, max_length: int = 1024,
              response: str = "cot", instruction: str | None = None) -> tuple[dict | None, list[dict]]:
    """Token-weighted mean negative log-likelihood of the references, and of their final answers.

    Args:
        response: the run's own response format (direct, cot, thinking).
        instruction: data.answer_instruction's sentence: the prompts are the ones the stages trained on.

    Returns:
        ({"eval_loss", "perplexity", "answer_loss", "rows", "tokens", "answer_tokens", "response"},
        per-row [{"id", "nll", "tokens", "answer_nll", "answer_tokens"}]), or (None, []) when no row
        has a reference answer.
    """
    # rows read from a user's file may carry no id: their position names them in the per-row file
    encoded = [(r.get("id", i), *_tokenize(tokenizer, r, response, max_length, instruction))
               for i, r in enumerate(rows) if response_text(r, response)]
    encoded = [e for e in encoded if len(e[1]) > e[2]]
    if not encoded:
        return None, []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    per_row = []
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start : start + batch_size]
        width = max(len(e[1]) for e in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (_, ids, *_spans) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            mask[i, : len(ids)] = 1
        logits = model(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device)).logits.float()
        # nll[:, t] is the loss of token t + 1 (position t predicts the next token)
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), input_ids[:, 1:].to(logits.device),
                                                reduction="none").cpu()
        for i, (row_id, ids, ref_start, answer_start, answer_stop) in enumerate(batch):
            reference, answer = nll[i, ref_start - 1 : len(ids) - 1], nll[i, answer_start - 1 : answer_stop - 1]
            per_row.append({"id": row_id, "nll": float(reference.sum()), "tokens": int(reference.numel()),
                            "answer_nll": float(answer.sum()), "answer_tokens": int(answer.numel())})
    model.train(was_training)
    return _summary(per_row, response), per_row


def _summary(per_row: list[dict], response: str) -> dict:
    tokens = sum(r["tokens"] for r in per_row)
    loss = sum(r["nll"] for r in per_row) / tokens
    answer_tokens = sum(r["answer_tokens"] for r in per_row)
    return {"eval_loss": loss, "perplexity": math.exp(min(loss, 50.0)), "response": response,
            "answer_loss": sum(r["answer_nll"] for r in per_row) / answer_tokens if answer_tokens else None,
            "rows": len(per_row), "tokens": tokens, "answer_tokens": answer_tokens}


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
