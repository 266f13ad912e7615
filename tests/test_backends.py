"""backend=auto|hf|unsloth: which one runs, and what Unsloth is handed.

Unsloth itself cannot be installed beside the CPU build of torch (its CUDA
torchvision breaks `import peft`, see STACK.md), so these tests put a
recording stand-in for the `unsloth` module in its place (with
UNSLOTH_ALLOW_CPU=1 set, as Unsloth's own CPU checks do) and check the wiring:
the calls and options each backend makes. Real Unsloth runs live in
benchmarks/gpu_throughput.py.
"""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from conftest import REPO, compose
from fine_tune import backends
from fine_tune.errors import UserError


class Recorder:
    calls: list = []

    @classmethod
    def from_pretrained(cls, **kwargs):
        cls.calls.append(("from_pretrained", kwargs))
        return "model", "tokenizer"

    @classmethod
    def get_peft_model(cls, model, **kwargs):
        cls.calls.append(("get_peft_model", kwargs))
        return "peft-model"


@pytest.fixture
def fake_unsloth(monkeypatch):
    Recorder.calls = []
    monkeypatch.setenv("UNSLOTH_ALLOW_CPU", "1")
    monkeypatch.setitem(sys.modules, "unsloth", types.SimpleNamespace(FastLanguageModel=Recorder))
    return Recorder


def test_auto_is_hf_without_a_gpu(monkeypatch):
    monkeypatch.setattr(backends, "_cuda", lambda: False)
    assert backends.resolve_backend("auto") == "hf"
    assert backends.resolve_backend("hf") == "hf"
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        backends.resolve_backend("unsloth")


def test_auto_is_unsloth_with_a_gpu_and_the_package(monkeypatch):
    monkeypatch.setattr(backends, "_cuda", lambda: True)
    monkeypatch.setattr(backends, "_unsloth_installed", lambda: True)
    assert backends.resolve_backend("auto") == "unsloth"
    monkeypatch.setattr(backends, "_unsloth_installed", lambda: False)
    assert backends.resolve_backend("auto") == "hf"
    with pytest.raises(UserError, match=r"\[gpu\]"):
        backends.resolve_backend("unsloth")


def test_unsloth_backend_receives_the_model_and_lora_settings(fake_unsloth):
    from fine_tune.models.load import load_model

    cfg = compose(["model=qwen2.5-0.5b", "model.load_in_4bit=true", "method=sft", "method.sft.lora.r=8"])
    assert load_model("Qwen/Qwen2.5-0.5B-Instruct", cfg.model, "/unused", "unsloth", 1024) == ("model", "tokenizer")
    name, kwargs = fake_unsloth.calls[0]
    assert name == "from_pretrained"
    assert kwargs["model_name"] == "Qwen/Qwen2.5-0.5B-Instruct" and kwargs["max_seq_length"] == 1024
    assert kwargs["load_in_4bit"] is True and kwargs["trust_remote_code"] is False

    from fine_tune.stages.common import StageContext, prepare

    ctx = StageContext("sft", 1, cfg.method.sft, cfg, None, None, "none", None, "unsloth")
    model, peft_config = prepare(ctx, "model")
    assert model == "peft-model" and peft_config is None  # Unsloth adds the adapter, TRL gets none
    name, kwargs = fake_unsloth.calls[1]
    assert name == "get_peft_model" and kwargs["r"] == 8 and kwargs["lora_alpha"] == 32
    assert kwargs["use_gradient_checkpointing"] == "unsloth" and "q_proj" in kwargs["target_modules"]


def test_hf_backend_hands_trl_a_peft_config():
    from fine_tune.stages.common import StageContext, prepare

    cfg = compose(["model=qwen2.5-0.5b", "method=sft"])
    ctx = StageContext("sft", 1, cfg.method.sft, cfg, None, None, "none", None, "hf")
    model, peft_config = prepare(ctx, "model")
    assert model == "model" and peft_config.r == 16 and peft_config.task_type == "CAUSAL_LM"


def test_the_project_does_not_import_unsloth_unless_chosen():
    code = "import sys, fine_tune.train, fine_tune.stages; print('unsloth' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
