"""The shipped embedded base: it is what its recipe builds (shape, vocabulary, key, fingerprint) and it loads."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from fine_tune.config import compose
from fine_tune.models.load import load_model, resolve_source
from fine_tune.models.tiny import MARKER, SHIPPED, WEIGHTS, cache_key, shipped_build, weights_sha256


@pytest.fixture(scope="module")
def recipe():
    return compose([]).model  # the default run's model: model=tiny


def test_the_packaged_files_match_the_recipe(recipe):
    spec = OmegaConf.to_object(recipe.tiny)
    marker = json.loads((SHIPPED / MARKER).read_text())
    assert marker["key"] == cache_key(spec), "conf/model/tiny.yaml changed: rebuild with `fine-tune-base --rebuild --ship`"
    assert marker["settings"] == {k: v for k, v in OmegaConf.to_container(recipe.tiny).items()}
    assert marker["weights_sha256"] == weights_sha256(SHIPPED)
    config = json.loads((SHIPPED / "config.json").read_text())
    shape = {k: config[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                                    "intermediate_size", "max_position_embeddings")}
    assert shape == {k: getattr(spec, k) for k in shape}
    tokenizer = json.loads((SHIPPED / "tokenizer.json").read_text())
    assert config["vocab_size"] == len(tokenizer["model"]["vocab"]) + len(
        [t for t in tokenizer["added_tokens"] if t["content"] not in tokenizer["model"]["vocab"]]) == spec.vocab_size
    assert (SHIPPED / WEIGHTS).stat().st_size <= 25 * 2**20  # the size a repository can carry


def test_the_default_run_uses_the_packaged_base_and_it_loads(recipe, tmp_path):
    spec = OmegaConf.to_object(recipe.tiny)
    assert shipped_build(cache_key(spec)) == SHIPPED
    source = resolve_source(recipe, str(tmp_path))  # an empty cache: nothing is built
    assert source == str(SHIPPED) and not (tmp_path / "models").exists()
    model, tokenizer = load_model(source, recipe, str(tmp_path))
    assert model.num_parameters() == json.loads((SHIPPED / MARKER).read_text())["pretraining"]["parameters"]
    ids = tokenizer("3 plus 4 is 7.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.isfinite(model(ids).logits).all()


def test_a_changed_weight_file_is_not_used(tmp_path, monkeypatch):
    import shutil

    from fine_tune.models import tiny

    copy = tmp_path / "embedded_base"
    shutil.copytree(SHIPPED, copy)
    monkeypatch.setattr(tiny, "SHIPPED", copy)
    key = json.loads((copy / MARKER).read_text())["key"]
    assert tiny.shipped_build(key) == copy
    data = bytearray((copy / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (copy / WEIGHTS).write_bytes(bytes(data))
    assert tiny.shipped_build(key) is None  # the fingerprint no longer matches: a build is made instead
    assert tiny.shipped_build("another-recipe") is None
