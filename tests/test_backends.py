"""backend=auto|hf|unsloth: which one runs, and what Unsloth is handed.

Unsloth cannot live in the CPU environment itself (its CUDA torchvision breaks
`import peft`, see STACK.md), so `make test` installs it, without its
dependencies, into .venv/unsloth-cpu (tests/requirements-unsloth-cpu.txt), and
the tests that need the real library run in a child process with that folder on
PYTHONPATH: Unsloth patches transformers/TRL/PEFT for the whole process.

- the import check runs with UNSLOTH_ALLOW_CPU=1, Unsloth's own CI switch;
- the runs use Unsloth's CPU fallback (FINE_TUNE_UNSLOTH_ON_CPU=1 lets backend=unsloth
  take it): FastLanguageModel, its get_peft_model and the same TRL trainers, on the
  tiny smoke model;
- a recording stand-in checks the options no CPU can exercise (4-bit loading).

Speed and memory on a GPU live in benchmarks/gpu_throughput.py, GGUF in gguf_check.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from conftest import REPO

from fine_tune import backends
from fine_tune.config import compose
from fine_tune.errors import UserError


class Attention(torch.nn.Module):
    """A stand-in model with the linear layers LoRA adapts (stages.common.lora_targets) and an output head."""

    def __init__(self):
        super().__init__()
        for name in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"):
            setattr(self, name, torch.nn.Linear(2, 2))

    def get_output_embeddings(self):
        return self.lm_head  # all-linear leaves the head out


MODEL = Attention()
TOKENIZER = types.SimpleNamespace(chat_template="{{ messages }}")  # an instruct model brings its own


class Recorder:
    calls: list = []

    @classmethod
    def from_pretrained(cls, **kwargs):
        cls.calls.append(("from_pretrained", kwargs))
        return MODEL, TOKENIZER

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


def test_unsloth_backend_passes_4bit_and_lora_settings(fake_unsloth):
    from fine_tune.models.load import load_model

    cfg = compose(["model=qwen2.5-0.5b", "model.load_in_4bit=true", "method=sft", "method.sft.lora.r=8"])
    assert load_model("Qwen/Qwen2.5-0.5B-Instruct", cfg.model, "/unused", "unsloth", 1024) == (MODEL, TOKENIZER)
    name, kwargs = fake_unsloth.calls[0]
    assert name == "from_pretrained"
    assert kwargs["model_name"] == "Qwen/Qwen2.5-0.5B-Instruct" and kwargs["max_seq_length"] == 1024
    assert kwargs["load_in_4bit"] is True and kwargs["trust_remote_code"] is False

    from fine_tune.stages.common import StageContext, prepare

    ctx = StageContext.from_config(cfg, "sft", backend="unsloth")
    model, peft_config = prepare(ctx, MODEL)
    assert model == "peft-model" and peft_config is None  # Unsloth adds the adapter, TRL gets none
    name, kwargs = fake_unsloth.calls[1]
    assert name == "get_peft_model" and kwargs["r"] == 8 and kwargs["lora_alpha"] == 32
    assert kwargs["use_gradient_checkpointing"] == "unsloth" and "q_proj" in kwargs["target_modules"]
    assert "lm_head" not in kwargs["target_modules"]  # all-linear, resolved to names: every linear layer but the head


def test_hf_backend_hands_trl_a_peft_config():
    from fine_tune.stages.common import StageContext, prepare

    cfg = compose(["model=qwen2.5-0.5b", "method=sft"])
    ctx = StageContext.from_config(cfg, "sft", backend="hf")
    model, peft_config = prepare(ctx, MODEL)
    assert model is MODEL and peft_config.r == 16 and peft_config.task_type == "CAUSAL_LM"


def test_the_entrypoint_imports_no_optional_heavyweight_until_it_is_used():
    # Unsloth only when chosen; datasketch (scipy.integrate, ~0.7 s) only when near-dedup runs, not on cached
    # curated data; deepeval only when evaluating: each second here delays every job's first step.
    code = ("import sys, fine_tune.train, fine_tune.stages; "
            "print(sorted(m for m in ('unsloth', 'datasketch', 'deepeval') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


UNSLOTH_CPU = REPO / ".venv" / "unsloth-cpu"
needs_unsloth = pytest.mark.skipif(
    not (UNSLOTH_CPU / "unsloth").is_dir(),
    reason=f"Unsloth is not installed in {UNSLOTH_CPU}: `make test` installs it (tests/requirements-unsloth-cpu.txt)",
)


def _unsloth_env(tmp_path, **extra) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{UNSLOTH_CPU}{os.pathsep}{REPO}", "WANDB_MODE": "disabled",
           "UNSLOTH_COMPILE_LOCATION": str(tmp_path / "unsloth_compiled_cache")}  # not in the checkout
    env.pop("UNSLOTH_ALLOW_CPU", None)  # it makes from_pretrained expect CUDA: only the import check sets it
    return {**env, **extra}


@needs_unsloth
def test_activate_imports_unsloth_before_transformers_trl_and_peft(tmp_path):
    # the import check Unsloth's own CI does, through the function the entrypoint calls first
    code = (
        "import sys\n"
        "from fine_tune.backends import activate\n"
        "before = [m for m in ('transformers', 'trl', 'peft') if m in sys.modules]\n"
        "assert activate('unsloth') == 'unsloth'\n"
        "import trl\n"
        "print(before, 'unsloth' in sys.modules, trl.__version__)\n"
    )
    env = _unsloth_env(tmp_path, UNSLOTH_ALLOW_CPU="1", FINE_TUNE_UNSLOTH_ON_CPU="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[-2].startswith("[] True"), out.stdout


@needs_unsloth
def test_unsloth_cpu_fallback_trains_the_chain_and_the_export_loads_without_it(tmp_path):
    """sft_cot -> dpo through the real Unsloth path; its adapters are plain PEFT adapters."""
    run_dir, cache_dir = tmp_path / "run", tmp_path / "cache"  # its own cache: nothing built under Unsloth is shared
    command = [sys.executable, "-m", "fine_tune", "debug=smoke", "logger=none", "backend=unsloth",
               "method=[sft_cot,dpo]", "model.finetune=lora", "method.sft_cot.lora.r=8", "method.dpo.lora.r=4",
               "eval.deepeval=false", f"cache_dir={cache_dir}", f"hydra.run.dir={run_dir}"]
    env = _unsloth_env(tmp_path, FINE_TUNE_UNSLOTH_ON_CPU="1")
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Unsloth (CPU): LlamaForCausalLM" in out.stdout + out.stderr  # loaded by FastLanguageModel
    assert json.loads((run_dir / "manifest.json").read_text())["backend"] == "unsloth"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    sft, dpo = metrics["stages"]["sft_cot"], metrics["stages"]["dpo"]
    assert "_make_cpu_sft_trainer" in sft["trainer"]  # Unsloth's own SFT trainer, not TRL's as is
    assert sft["final_train_loss"] < sft["first_train_loss"]
    assert dpo["logged"]["rewards/margins"] != 0.0  # DPO moved the policy away from its reference
    for folder, rank in (("01-sft_cot", 8), ("02-dpo", 4)):  # get_peft_model got each stage's own settings
        adapter = json.loads((run_dir / folder / "adapter" / "adapter_config.json").read_text())
        assert adapter["r"] == rank and adapter["lora_alpha"] == 32
        assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                  "down_proj"}

    # the export needs no Unsloth: plain transformers + PEFT rebuild the merged model
    exported = subprocess.run([sys.executable, "-m", "fine_tune.export", str(run_dir)], capture_output=True,
                              text=True, cwd=REPO, timeout=300)
    assert exported.returncode == 0, exported.stderr[-2000:]
    from transformers import AutoModelForCausalLM

    from fine_tune.export import load_run_model

    merged = AutoModelForCausalLM.from_pretrained(run_dir / "export")
    base, _ = load_run_model(run_dir, with_stages=False)
    changed = [name for name, weight in merged.state_dict().items()
               if not weight.equal(base.state_dict()[name])]
    assert any("q_proj" in name for name in changed)


FAILING_CONVERTER = """import sys
out = sys.argv[sys.argv.index("--outfile") + 1]
open(out, "wb").write(b"GGUF half")  # a partial file, as a converter killed midway leaves
print("NotImplementedError: BPE pre-tokenizer was not recognized - update get_vocab_base_pre()", file=sys.stderr)
sys.exit(1)
"""


@pytest.fixture
def failing_llama_cpp(tmp_path, monkeypatch) -> Path:
    """A llama.cpp folder whose converter writes half a file and fails as it does on an unknown tokenizer."""
    folder = tmp_path / "llama.cpp"
    folder.mkdir()
    (folder / "convert_hf_to_gguf.py").write_text(FAILING_CONVERTER)
    monkeypatch.setenv("LLAMA_CPP_PATH", str(folder))
    return folder


def test_gguf_types_and_tools_fail_before_anything_loads(tmp_path, failing_llama_cpp, monkeypatch):
    from fine_tune import export
    from fine_tune.run_folder import RunFolder

    # a run folder by its files (export checks that first), whose model would take the longest to load
    run = RunFolder(tmp_path / "run")
    run.config.parent.mkdir(parents=True)
    run.config.write_text(f"cache_dir: {tmp_path / 'cache'}\nmodel: {{name: an/unreachable-model}}\n")
    run.manifest.write_text('{"base_model": "an/unreachable-model"}')
    run.metrics.write_text('{"status": "finished", "stages": {}}')
    with pytest.raises(UserError, match=r"--gguf zip is not a GGUF type"):
        export.export(run.root, gguf="zip")
    with pytest.raises(UserError, match=r"--gguf q4_k_m needs llama.cpp's llama-quantize.*llama_cpp_offline.sh"):
        export.export(run.root, gguf="q4_k_m")  # the converter alone writes up to q8_0
    monkeypatch.setenv("LLAMA_CPP_PATH", str(tmp_path))
    with pytest.raises(UserError, match=r"LLAMA_CPP_PATH=.* has no convert_hf_to_gguf.py"):
        export.export(run.root, gguf="q8_0")


def test_a_failed_gguf_conversion_leaves_no_folder_and_says_why(tmp_path, failing_llama_cpp):
    from fine_tune.gguf_export import tools, write_gguf

    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "model.safetensors").write_bytes(b"")  # the finished safetensors export
    with pytest.raises(UserError, match="does not know this model's tokenizer") as err:
        write_gguf(export_dir, tools("q8_0", str(tmp_path / "cache")))
    assert "\n" not in str(err.value) and f"export in {export_dir} is complete" in str(err.value)
    assert sorted(p.name for p in export_dir.iterdir()) == ["gguf.log", "model.safetensors"]
    assert "pre-tokenizer was not recognized" in (export_dir / "gguf.log").read_text()


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("NotImplementedError: BPE pre-tokenizer was not recognized", "does not know this model's tokenizer"),
        ("ERROR:hf-to-gguf:Model FancyForCausalLM is not supported", "does not support the architecture Fancy"),
        ("Traceback (most recent call last):\n ...\nKeyError: 'rope_theta'", "failed (KeyError: 'rope_theta')"),
    ],
)
def test_gguf_converter_failures_say_what_to_do(tmp_path, output, expected):
    from fine_tune.gguf_export import conversion_error

    err = conversion_error(output, tmp_path / "gguf.log", "the safetensors export in x is complete")
    assert isinstance(err, UserError) and expected in str(err) and "export in x" in str(err)
