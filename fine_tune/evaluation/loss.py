"""Held-out loss: in each run's own response format, and on the final answer given the prompt alone; convergence.

The reference study learned that a lower loss did not mean better answers: this is
one measure beside WinRate and DeepEval, never the verdict. Loss also depends on the
reference format (a direct-answer model scored on reasoning references is "bad" for a
reason that says nothing about quality), so two numbers come out:

- `eval_loss`: the reference in the run's own format (direct, cot or thinking; see
  `stages.response_format`), answer tokens only, as the SFT stages train. Token-weighted
  (summed negative log-likelihood over all reference tokens / their count), the trainers'
  own measure: a long chain of thought weighs more than a short one.
- `answer_loss`: the final answer's tokens only (the value after `Answer:`), given the
  prompt alone and then the answer line's prefix: the direct reference `Answer: <value>`
  is scored, whatever the run's own format. Not given the run's own reference up to the
  answer: a chain of thought that already states the answer (every embedded eval row's
  does) turns the answer's loss into a copy task, which a CoT model wins without knowing
  anything. The same context and the same tokens for every method: the number to compare
  methods by. Weighted as the claims weigh it (`compare.paired.PromptResults.answer_loss`):
  the mean over prompts of each prompt's per-token loss, so the table's column and the
  claim's effect are one measure.

Per-prompt sums are returned too, so `fine-tune-compare` can pair two runs prompt by prompt.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from fine_tune.cache import cached_json
from fine_tune.chat import full_text, prompt_text
from fine_tune.data.schema import is_structured, response_text
from fine_tune.outputs import fingerprint

# part of a shared loss's cache key: raised whenever eval_loss computes something different, so a
# loss cached by an older version is computed again instead of reused
LOSS_VERSION = 1


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
    """Loss of the references in the run's own format, and of the final answers given the prompt alone.

    Two encodings per structured row: prompt + own reference (eval_loss) and prompt + `Answer: <value>`
    (answer_loss). A direct-format run's own reference is the second one: it takes one pass, not two.

    Args:
        response: the run's own response format (direct, cot, thinking).
        instruction: data.answer_instruction's sentence: the prompts are the ones the stages trained on.

    Returns:
        ({"eval_loss" (token-weighted), "perplexity", "answer_loss" (mean over prompts), "answer_context",
        "answer_loss_weighting", "rows", "answer_rows", "tokens", "answer_tokens", "response"},
        per-row [{"id", "nll", "tokens", "answer_nll", "answer_tokens"}]), or (None, []) when no row
        has a reference answer.
    """
    # rows read from a user's file may carry no id: their position names them in the per-row file
    own = [(r.get("id", i), r, _tokenize(tokenizer, r, response, max_length, instruction))
           for i, r in enumerate(rows) if response_text(r, response)]
    own = [(row_id, r, enc) for row_id, r, enc in own if len(enc[0]) > enc[1]]
    if not own:
        return None, []
    # a free-form row has no final answer (an empty span); a direct run's own encoding is the answer's context
    apart = [k for k, (_, r, _) in enumerate(own) if response != "direct" and is_structured(r)]
    direct = [_tokenize(tokenizer, own[k][1], "direct", max_length, instruction) for k in apart]
    was_training = model.training
    model.eval()
    # one pass over the own references (and their answers: the ones a direct run keeps), one over the direct ones
    scored = _span_losses(model, tokenizer, [(ids, [(ref_start, len(ids)), (a, b)])
                                             for _, _, (ids, ref_start, a, b) in own], batch_size)
    answers = _span_losses(model, tokenizer, [(ids, [(a, b)]) for ids, _, a, b in direct], batch_size)
    for k, (answer,) in zip(apart, answers):
        scored[k][1] = answer
    model.train(was_training)
    per_row = [{"id": row_id, "nll": nll, "tokens": tokens, "answer_nll": answer_nll, "answer_tokens": answer_tokens}
               for (row_id, _, _), [(nll, tokens), (answer_nll, answer_tokens)] in zip(own, scored)]
    return _summary(per_row, response), per_row


def _span_losses(model, tokenizer, sequences: list[tuple[list[int], list[tuple[int, int]]]],
                 batch_size: int) -> list[list[tuple[float, int]]]:
    """For each (ids, spans): (summed negative log-likelihood, token count) of tokens start..stop-1 of each span."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = []
    for begin in range(0, len(sequences), batch_size):
        batch = sequences[begin : begin + batch_size]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, _) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            mask[i, : len(ids)] = 1
        logits = model(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device)).logits.float()
        # nll[:, t] is the loss of token t + 1 (position t predicts the next token)
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), input_ids[:, 1:].to(logits.device),
                                                reduction="none").cpu()
        for i, (_, spans) in enumerate(batch):
            out.append([(float(nll[i, start - 1 : stop - 1].sum()), stop - start) for start, stop in spans])
    return out


def _summary(per_row: list[dict], response: str) -> dict:
    """eval_loss token-weighted (the trainers' measure); answer_loss the mean over prompts (the claims' measure)."""
    tokens = sum(r["tokens"] for r in per_row)
    loss = sum(r["nll"] for r in per_row) / tokens
    per_prompt = [r["answer_nll"] / r["answer_tokens"] for r in per_row if r["answer_tokens"]]
    return {"eval_loss": loss, "perplexity": math.exp(min(loss, 50.0)), "response": response,
            "answer_loss": sum(per_prompt) / len(per_prompt) if per_prompt else None,
            "answer_loss_weighting": "mean over prompts", "answer_context": "prompt alone",
            "rows": len(per_row), "answer_rows": len(per_prompt), "tokens": tokens,
            "answer_tokens": sum(r["answer_tokens"] for r in per_row)}


def shared_loss(cache_dir: str | None, model_identity: str, rows: list[dict], settings: list,
                compute: Callable[[], dict | None]) -> dict | None:
    """eval_loss's summary for the model `model_identity` on `rows`, computed once and shared under the cache.

    The base model's held-out loss is the same for every job of a sweep that starts from it (like
    its generations, generations.shared_path): the first job computes it, the others read it.
    `settings` are the rest of what the loss depends on (max_length, response format, instruction).
    """
    key = ["loss", model_identity, fingerprint(rows), *settings, LOSS_VERSION]
    return cached_json(cache_dir, "losses", key, lambda: {"loss": compute()})["loss"]


def convergence_epoch(eval_losses: list[dict], tolerance: float) -> dict:
    """The evaluation after which eval loss improved by less than `tolerance` (relative), if any.

    Consecutive evaluations are compared: once an epoch (budget=epochs) or every budget.eval_steps
    steps (matched_steps, converged), so the rule can fire within the first epoch.

    Args:
        eval_losses: [{"epoch", "step", "eval_loss"}] in order, as the stages log them (the epoch is
            fractional: 0.62 is 62% through the first). Entries of older runs carry no step.
        tolerance: e.g. 0.01: an evaluation that lowers the loss by under 1% counts as no improvement.

    Returns:
        {"status": "converged", "epoch": 0.62, "step": 610, "epochs_seen": 1.0, "points": 6}: the epoch
        and step of the last evaluation that still improved by the tolerance (the one before the
        first that did not), epochs_seen the epoch of the last evaluation; "not converged" (epoch and
        step None) when every evaluation improved, or with fewer than two there is no evidence either way.
    """
    points: dict = {}
    for entry in eval_losses:
        if entry.get("epoch") is None or entry.get("eval_loss") is None:
            continue
        epoch, step = float(entry["epoch"]), entry.get("step")
        # one point per evaluation: the same step (or, without steps, the same epoch) logged twice is one
        points[step if step is not None else round(epoch, 6)] = (epoch, step, float(entry["eval_loss"]))
    ordered = sorted(points.values(), key=lambda point: (point[0], point[1] or 0))
    seen = {"epochs_seen": round(ordered[-1][0], 2) if ordered else 0, "points": len(ordered)}
    for (epoch, step, before), (_, _, after) in zip(ordered, ordered[1:]):
        if before - after < tolerance * abs(before):
            return {"epoch": round(epoch, 2), "step": step, "status": "converged", **seen}
    return {"epoch": None, "step": None, "status": "not converged", **seen}


def run_convergence(stages: dict, tolerance: float) -> dict:
    """Convergence of every stage with eval losses; the headline is the stage evaluated most often
    (ties: the one whose evaluations reach furthest, then the first)."""
    per_stage = {name: convergence_epoch(m.get("eval_loss_epochs") or [], tolerance) for name, m in stages.items()}
    if not per_stage:
        return {"epoch": None, "step": None, "status": "not converged", "stage": None, "stages": {}}
    headline = max(per_stage, key=lambda name: (per_stage[name]["points"], per_stage[name]["epochs_seen"]))
    return {**per_stage[headline], "stage": headline, "stages": per_stage}
