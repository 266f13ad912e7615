"""Base models' chat templates, the one chat builder, and the judges' caches (bounded retries)."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from fine_tune.chat import (
    BUILTIN_INSTRUCTION,
    answer_instruction,
    conversation,
    full_text,
    prompt_text,
    prompts_that_ask_already,
)
from fine_tune.config import ModelConfig
from fine_tune.errors import UserError
from fine_tune.evaluation.judge_cache import CachedCompletions, JudgmentCache
from fine_tune.evaluation.judges import INVALID, CachedJudge, Judgment
from fine_tune.models.load import load_model
from fine_tune.models.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    """A random-weight Llama saved with a tokenizer that has no chat template, as base checkpoints ship."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("base")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer, bpe.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    bpe.train_from_iterator(["The cat sat on the mat. 12 + 3 = 15."] * 50, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert "im_start" not in (folder / "tokenizer_config.json").read_text()
    return folder


def _model_cfg(folder, **settings):
    return OmegaConf.merge(OmegaConf.structured(ModelConfig), {"path": str(folder), **settings})


def test_a_base_model_without_a_template_names_the_key(base_model, tmp_path):
    with pytest.raises(UserError, match="model.chat_template"):
        load_model(str(base_model), _model_cfg(base_model), str(tmp_path))


@pytest.mark.parametrize("name, end", [("chatml", "<|im_end|>"), ("llama3", "<|eot_id|>")])
def test_a_builtin_template_adds_its_tokens_and_ends_turns_with_eos(base_model, tmp_path, name, end):
    model, tokenizer = load_model(str(base_model), _model_cfg(base_model, chat_template=name), str(tmp_path))
    assert tokenizer.eos_token == end and model.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids(end)
    base_vocab = json.loads((base_model / "config.json").read_text())["vocab_size"]
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) > base_vocab  # resized for added tokens
    text = full_text(tokenizer, {"prompt": "hi"}, "ok")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_tokens_to_ids(end) in ids  # one token, not spelled out in pieces


def test_a_template_can_be_a_file_or_text_and_bad_settings_fail(base_model, tmp_path):
    jinja = tmp_path / "t.jinja"
    jinja.write_text("{% for m in messages %}<|turn|>{{ m['content'] }}<|done|>{% endfor %}")
    _, tokenizer = load_model(str(base_model), _model_cfg(base_model, chat_template=str(jinja)), str(tmp_path))
    assert tokenizer.eos_token == "<|done|>"
    with pytest.raises(UserError, match="is not a built-in template"):
        load_model(str(base_model), _model_cfg(base_model, chat_template="chatmll"), str(tmp_path))


def test_one_chat_builder_keeps_earlier_turns_and_the_instruction():
    row = {"prompt": "And now?", "context": json.dumps([{"role": "user", "content": "Hi"},
                                                         {"role": "assistant", "content": "Hello"}])}
    turns = conversation(row, answer_instruction("default"))
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[-1]["content"] == f"And now?\n\n{BUILTIN_INSTRUCTION}"
    assert answer_instruction("off") is None and answer_instruction("End with X.") == "End with X."
    tokenizer = train_tokenizer(["a b c"], 300)
    prompt = prompt_text(tokenizer, row)
    assert "Hello" in prompt and full_text(tokenizer, row, "Fine").startswith(prompt)


class Judge:
    name = "flaky"

    def __init__(self, verdicts):
        self.verdicts, self.calls = list(verdicts), 0

    def judge(self, row, first, second):
        self.calls += 1
        return Judgment(self.verdicts.pop(0), "")


def test_an_invalid_verdict_is_asked_again_on_later_runs_a_bounded_number_of_times(tmp_path):
    cache = JudgmentCache(tmp_path / "j.sqlite")
    row = {"prompt": "q"}
    judge = Judge([INVALID, INVALID, "A"])
    for _ in range(2):
        assert CachedJudge(judge, cache).judge(row, "x", "y").verdict == INVALID
    assert CachedJudge(judge, cache).judge(row, "x", "y").verdict == "A" and judge.calls == 3
    assert CachedJudge(judge, cache).judge(row, "x", "y").verdict == "A" and judge.calls == 3  # valid: kept
    stubborn = Judge([INVALID] * 5)
    for _ in range(5):
        CachedJudge(stubborn, cache, max_attempts=3).judge(row, "p", "q")
    assert stubborn.calls == 3


class Client:
    name = "counting"

    def __init__(self):
        self.calls = 0

    def complete(self, prompt):
        self.calls += 1
        return f"reply {self.calls}"


def test_deepeval_judge_completions_are_cached_and_rejected_ones_retried(tmp_path):
    cache, client = JudgmentCache(tmp_path / "j.sqlite"), Client()
    first = CachedCompletions(client, cache)
    assert first.complete("p") == "reply 1" and first.complete("p") == "reply 1" and client.calls == 1
    first.reject("p")  # no JSON in it: a later run asks again
    assert CachedCompletions(client, cache).complete("p") == "reply 2" and client.calls == 2
    for _ in range(5):
        again = CachedCompletions(client, cache)
        again.complete("p")
        again.reject("p")
    assert client.calls == 3  # three attempts in all


def test_prompts_that_already_ask_for_an_answer_form_are_found():
    rows = [{"id": "a", "prompt": "What is 2 + 3?"},
            {"id": "b", "prompt": "What is 2 + 3? End with 'Answer: <n>'."},
            {"id": "c", "prompt": "Put the result in \\boxed{}."},
            {"id": "d", "prompt": f"What is 1 + 1?\n\n{BUILTIN_INSTRUCTION}"}]
    assert [r["id"] for r in prompts_that_ask_already(rows, BUILTIN_INSTRUCTION)] == ["b", "c", "d"]
    assert prompts_that_ask_already(rows, None) == []  # no instruction: nothing is asked twice


def test_a_zero_cap_is_an_error_naming_its_key():
    """Checked once, by check_config, before anything loads: the sampling itself trusts the config."""
    from fine_tune.config import compose
    from fine_tune.config_ranges import check_config
    from fine_tune.evaluation.sampling import loss_rows

    rows = [{"id": str(i), "skill": "s", "prompt": "p"} for i in range(5)]
    with pytest.raises(UserError, match=r"eval.max_loss_rows=0: must be at least 1"):
        check_config(compose(["eval.max_loss_rows=0"]))
    with pytest.raises(UserError, match=r"eval.max_prompts=-1: must be at least 1"):
        check_config(compose(["eval.max_prompts=-1"]))
    assert len(loss_rows(rows, OmegaConf.create({"max_loss_rows": 2, "max_prompts": None}))) == 2
