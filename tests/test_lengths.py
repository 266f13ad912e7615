"""Rows whose prompt fills max_length: left out with a count, or one clear line when none is left."""

from __future__ import annotations

import logging

import pytest

from fine_tune.errors import UserError
from fine_tune.stages.lengths import prompt_tokens, rows_that_fit

ROWS = [{"id": str(i), "prompt": "word " * n} for i, n in enumerate((3, 30, 5, 60))]


def test_rows_whose_prompt_fills_max_length_are_counted_and_left_out(caplog):
    lengths = [10, 40, 12, 70]
    with caplog.at_level(logging.WARNING):
        kept = rows_that_fit(ROWS, lengths, 32, "method.sft", "train")
    assert [r["id"] for r in kept] == ["0", "2"]
    (message,) = [r.getMessage() for r in caplog.records]
    assert "2 of 4 train rows" in message and "method.sft.max_length=71" in message


def test_no_train_row_left_is_one_line_before_training_and_an_empty_eval_split_is_not():
    with pytest.raises(UserError, match=r"method.dpo.max_length=8: every train row's prompt takes 10 tokens or more"):
        rows_that_fit(ROWS, [10, 40, 12, 70], 8, "method.dpo", "train")
    assert rows_that_fit(ROWS, [10, 40, 12, 70], 8, "method.dpo", "eval") == []


def test_prompt_tokens_counts_the_prompt_as_the_chat_template_renders_it(cache_dir):
    from fine_tune.chat import prompt_text
    from fine_tune.config import compose
    from fine_tune.models.load import load_model, resolve_source

    cfg = compose(["debug=smoke", f"cache_dir={cache_dir}"])
    _, tokenizer = load_model(resolve_source(cfg.model, cfg.cache_dir), cfg.model, cfg.cache_dir, "hf", 64)
    lengths = prompt_tokens(tokenizer, ROWS, None)
    assert lengths == [len(tokenizer(prompt_text(tokenizer, r), add_special_tokens=False)["input_ids"]) for r in ROWS]
    assert lengths[0] < lengths[1] < lengths[3]


def test_a_max_length_below_every_prompt_ends_the_run_in_one_line_before_training(tmp_path, cache_dir, monkeypatch):
    import json

    from conftest import run_in_process

    monkeypatch.setenv("FINE_TUNE_CACHE", str(cache_dir))
    status, stderr = run_in_process("fine-tune", ["debug=smoke", "logger=none", "method=sft_cot",
                                                  "method.sft_cot.max_length=16", f"hydra.run.dir={tmp_path}"],
                                    monkeypatch)
    lines = [line for line in stderr.splitlines() if line.startswith("fine-tune: error: ")]
    assert status == 2 and "Traceback" not in stderr and len(lines) == 1, stderr[-2000:]
    assert "method.sft_cot.max_length=16" in lines[0] and "raise it to at least" in lines[0]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "failed" and not (tmp_path / "01-sft_cot" / "model").exists()  # nothing trained
