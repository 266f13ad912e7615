"""Real-model shapes as a Hub user meets them, on GSM8K: local stand-ins, no download.

Three stand-ins with random small weights and tokenizers trained here on GSM8K text:

- `qwen2`: a Qwen2 model whose tokenizer carries a ChatML template and a pad token;
- `llama3`: a Llama model with the Llama-3 template and no pad token;
- `gpt2`: a GPT-2 base model with no template at all (Conv1D layers, not Linear),
  run with `model.chat_template=chatml`.

In-process checks look at what the trainer is handed (template, masked prompt, trained
eos, non-constant GRPO rewards); the entrypoint runs `method=[sft_cot,dpo]` on each and
`method=grpo` on one, with GSM8K's answer instruction, and the export loads with plain
transformers and `apply_chat_template`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_module, shared_data
from omegaconf import OmegaConf

from fine_tune.chat import BUILTIN_INSTRUCTION
from fine_tune.config import ModelConfig
from fine_tune.data.sources import load_rows
from fine_tune.models.load import load_model
from fine_tune.models.templates import LLAMA3_TEMPLATE

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _tokenizer(texts: list[str], specials: list[str], **named):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer, bpe.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=bpe, **named)


@pytest.fixture(scope="module")
def gsm8k_texts() -> list[str]:
    lines = (shared_data("gsm8k") / "train.jsonl").read_text().splitlines()[:400]
    return [" ".join(json.loads(line).values()) for line in lines]


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory, gsm8k_texts) -> dict[str, Path]:
    """name -> folder of a saved model and tokenizer, as a Hub snapshot would be on disk."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    root = tmp_path_factory.mktemp("stand_ins")
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=1, max_position_embeddings=2048)
    qwen = _tokenizer(gsm8k_texts, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                      eos_token="<|im_end|>", pad_token="<|endoftext|>")
    qwen.chat_template = CHATML
    llama = _tokenizer(gsm8k_texts, ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
                       bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    llama.chat_template = LLAMA3_TEMPLATE
    gpt2 = _tokenizer(gsm8k_texts, ["<|endoftext|>"], eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    models = {
        "qwen2": (Qwen2ForCausalLM(Qwen2Config(vocab_size=len(qwen), **small)), qwen),
        "llama3": (LlamaForCausalLM(LlamaConfig(vocab_size=len(llama), **small)), llama),
        "gpt2": (GPT2LMHeadModel(GPT2Config(vocab_size=len(gpt2), n_embd=32, n_layer=1, n_head=2, n_positions=2048)),
                 gpt2),
    }
    folders = {}
    for name, (model, tokenizer) in models.items():
        folders[name] = root / name
        model.save_pretrained(folders[name])
        tokenizer.save_pretrained(folders[name])
    assert llama.pad_token is None and gpt2.chat_template is None
    return folders


TEMPLATE = {"qwen2": None, "llama3": None, "gpt2": "chatml"}  # what a user sets: only the base model needs one
TURN_END = {"qwen2": "<|im_end|>", "llama3": "<|eot_id|>", "gpt2": "<|im_end|>"}
USER_MARK = {"qwen2": "<|im_start|>user", "llama3": "<|start_header_id|>user", "gpt2": "<|im_start|>user"}


def _loaded(folder: Path, name: str):
    cfg = OmegaConf.merge(OmegaConf.structured(ModelConfig), {"path": str(folder), "chat_template": TEMPLATE[name]})
    return load_model(str(folder), cfg, str(folder.parent / "cache"), "hf", 1024)


@pytest.fixture(scope="module")
def gsm8k_rows() -> list[dict]:
    return load_rows(str(shared_data("gsm8k") / "test.jsonl"), format="gsm8k").rows[:8]


@pytest.mark.parametrize("name", ["qwen2", "llama3", "gpt2"])
def test_sft_masks_the_prompt_and_trains_the_turn_end(stand_ins, gsm8k_rows, name, tmp_path):
    from trl import SFTConfig, SFTTrainer

    from fine_tune.stages.sft import to_dataset

    model, tokenizer = _loaded(stand_ins[name], name)
    assert tokenizer.eos_token == TURN_END[name]  # the model learns to stop where the template ends a turn
    assert model.get_input_embeddings().num_embeddings >= len(tokenizer)  # added template tokens have rows
    trainer = SFTTrainer(model=model, processing_class=tokenizer,
                         args=SFTConfig(output_dir=str(tmp_path), max_steps=1, report_to=[], max_length=1024,
                                        use_cpu=True, bf16=False),
                         train_dataset=to_dataset(gsm8k_rows, "cot", BUILTIN_INSTRUCTION))
    for example in trainer.train_dataset:
        ids, trained = example["input_ids"], [int(label != -100) for label in example["labels"]]  # TRL folds the mask in
        text = tokenizer.decode(ids)
        assert USER_MARK[name] in text and BUILTIN_INSTRUCTION in text  # template and instruction applied
        first = trained.index(1)
        assert not any(trained[:first]) and USER_MARK[name] in tokenizer.decode(ids[:first])  # prompt masked
        completion = [i for i, t in zip(ids, trained) if t]
        end = tokenizer.convert_tokens_to_ids(TURN_END[name])
        assert end in completion and not tokenizer.decode(completion[completion.index(end) + 1:]).strip()  # eos trained
        assert "Answer:" in tokenizer.decode(ids[first:])  # the reasoning and its answer line are what is trained


def test_grpo_rewards_vary_when_some_answers_are_right(gsm8k_rows):
    from fine_tune.stages.rewards import answer_format, correctness

    completions = [[{"role": "assistant", "content": f"{r['cot']}\nAnswer: {r['answer']}" if i % 2 else
                     f"{r['cot']}\nAnswer: {int(float(r['answer'])) + 1}"}] for i, r in enumerate(gsm8k_rows)]
    checks = [r["check"] for r in gsm8k_rows]
    rewards = correctness(completions, checks)
    assert rewards == [float(i % 2) for i in range(len(gsm8k_rows))]  # right ones earn 1: not constant
    assert answer_format(completions) == [0.5] * len(gsm8k_rows)


def _train(stand_ins, name: str, method: str, tmp_path: Path, cache: Path) -> Path:
    run_dir = tmp_path / f"{name}-run"
    template = [f"model.chat_template={TEMPLATE[name]}"] if TEMPLATE[name] else []
    lora = ["model.finetune=full"] if name == "gpt2" else ["model.finetune=lora"]  # GPT-2: LoRA on c_attn below
    run_module(run_dir, cache, "debug=smoke", "logger=none", "model=local", f"model.path={stand_ins[name]}",
         *template, *lora, "data=gsm8k", "data.source.name=null", f"data.source.path={shared_data('gsm8k')}",
         f"method={method}", "eval.deepeval=false", f"hydra.run.dir={run_dir}")
    return run_dir


@pytest.mark.parametrize("name", ["qwen2", "llama3", "gpt2"])
def test_sft_cot_then_dpo_on_gsm8k_and_the_export_chats(stand_ins, name, tmp_path, cache_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = _train(stand_ins, name, "[sft_cot,dpo]", tmp_path, cache_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["stages"]) == {"sft_cot", "dpo"}
    tuned = [json.loads(line) for line in (run_dir / "generations" / "tuned.jsonl").read_text().splitlines()]
    assert len(tuned) == 8 and all("correct" in g for g in tuned)  # every GSM8K prompt scored by its checker
    run_module(run_dir, cache_dir, str(run_dir), "--out", str(tmp_path / "export"), module="fine_tune.export")
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "export"))
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "export"))
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)["input_ids"]
    assert USER_MARK[name] in tokenizer.decode(ids[0])
    assert model.get_input_embeddings().num_embeddings >= len(tokenizer)
    assert model.generate(ids, max_new_tokens=3, do_sample=False).shape[1] > ids.shape[1]


@pytest.mark.parametrize("targets", [[], ["method.sft_cot.lora.target_modules=[c_attn]"]], ids=["default", "named"])
def test_gpt2_lora_targets_its_conv1d_layers(stand_ins, tmp_path, cache_dir, targets):
    """GPT-2's attention and MLP are transformers' Conv1D, which PEFT adapts: the default (all-linear) finds
    them without naming any, and c_attn is a valid target by name."""
    run_dir = tmp_path / "gpt2-lora"
    run_module(run_dir, cache_dir, "debug=smoke", "logger=none", "model=local", f"model.path={stand_ins['gpt2']}",
         "model.chat_template=chatml", "model.finetune=lora", "method=sft_cot", *targets,
         "data=gsm8k", "data.source.name=null", f"data.source.path={shared_data('gsm8k')}", "eval.enabled=false",
         f"hydra.run.dir={run_dir}")
    adapter = json.loads((run_dir / "01-sft_cot" / "adapter" / "adapter_config.json").read_text())
    expected = {"c_attn"} if targets else {"c_attn", "c_proj", "c_fc"}
    assert set(adapter["target_modules"]) == expected


def test_grpo_on_gsm8k_runs_from_a_chat_model(stand_ins, tmp_path, cache_dir):
    run_dir = _train(stand_ins, "llama3", "grpo", tmp_path, cache_dir)  # no pad token: generation pads with eos
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "grpo" in metrics["stages"]


def test_weights_quantised_without_training_support_stop_in_one_line(stand_ins, tmp_path, cache_dir):
    """A folder whose config.json keeps a GGUF quantization_config (a GGUF model saved by hand) loads, but
    no trainer takes it: the run says so before any stage, not with the Trainer's traceback."""
    import shutil

    folder = tmp_path / "quantised"
    shutil.copytree(stand_ins["llama3"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gguf"}
    (folder / "config.json").write_text(json.dumps(config))
    run_dir = tmp_path / "run"
    result = run_module(run_dir, cache_dir, "debug=smoke", "logger=none", "model=local", f"model.path={folder}",
                  "data=gsm8k", "data.source.name=null", f"data.source.path={shared_data('gsm8k')}",
                  "method=sft_cot", f"hydra.run.dir={run_dir}", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("fine-tune: error:")]
    assert len(errors) == 1 and "is quantised with gguf" in errors[0] and "model.gguf_file" in errors[0], errors
