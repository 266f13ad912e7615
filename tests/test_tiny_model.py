"""The embedded tiny model builds, saves, loads, is cached by its config and rebuilt when corrupt."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf

from fine_tune.config import TinyModelConfig, compose
from fine_tune.models.load import load_model, resolve_source
from fine_tune.models.tiny import MARKER, cache_key, tiny_model_dir


def smoke_model_cfg():
    return compose(["debug=smoke"]).model


def test_tokenizer_splits_digits_and_has_a_chat_template(cache_dir):
    model_cfg = smoke_model_cfg()
    _, tokenizer = load_model(resolve_source(model_cfg, str(cache_dir)), model_cfg, str(cache_dir))
    ids = tokenizer("12 + 345", add_special_tokens=False)["input_ids"]
    pieces = [tokenizer.decode([i]) for i in ids]
    assert [p.strip() for p in pieces if p.strip().isdigit()] == list("12345")
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_builds_saves_and_loads_identically(cache_dir):
    model_cfg = smoke_model_cfg()
    source = resolve_source(model_cfg, str(cache_dir))
    model, tokenizer = load_model(source, model_cfg, str(cache_dir))
    assert model.config.model_type == "llama" and model.config.hidden_size == 64
    again, _ = load_model(source, model_cfg, str(cache_dir))
    ids = tokenizer("3 plus 4 is 7.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)


def test_cache_key_follows_the_config(cache_dir):
    spec = OmegaConf.to_object(smoke_model_cfg().tiny)
    folder = tiny_model_dir(spec, cache_dir)
    assert folder.name == f"tiny-{cache_key(spec)}"
    assert tiny_model_dir(spec, cache_dir) == folder  # cached: same folder, no rebuild
    other = TinyModelConfig(**{**vars(spec), "hidden_size": 32})
    assert cache_key(other) != cache_key(spec)


def test_corrupt_or_unfinished_cache_is_rebuilt(tmp_path):
    model_cfg = smoke_model_cfg()
    source = resolve_source(model_cfg, str(tmp_path))
    weights = next(p for p in (tmp_path / "models").rglob("model.safetensors"))
    weights.write_bytes(b"not safetensors")  # corrupt: fails to load, so it is rebuilt
    model, _ = load_model(source, model_cfg, str(tmp_path))
    assert model.num_parameters() > 0
    marker = weights.parent / MARKER
    marker.unlink()  # an interrupted build leaves no marker: rebuilt on next use
    resolve_source(model_cfg, str(tmp_path))
    assert marker.is_file()
