"""Where an llm judge's words come from: an OpenAI-compatible endpoint or a local Hugging Face model.

The endpoint's key is read from the environment variable the config names, at the
moment the client is built, and is held only by the HTTP client: it never enters
the config, the logs, metrics.json or W&B.
"""

from __future__ import annotations

import math
import os

import torch

from fine_tune.errors import UserError


class EndpointClient:
    """Chat completions from any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, TGI, Ollama...)."""

    def __init__(self, judge_cfg):
        import openai

        self.url, self.model = judge_cfg.url, judge_cfg.model
        if not self.model:
            raise UserError(f"eval.judge.url={self.url} needs eval.judge.model: the endpoint's model name")
        key = "EMPTY"  # local servers (vLLM, llama.cpp) accept any key
        if judge_cfg.api_key_env:
            key = os.environ.get(judge_cfg.api_key_env)
            if not key:
                raise UserError(f"eval.judge.api_key_env names ${judge_cfg.api_key_env}, which is not set: "
                                f"export {judge_cfg.api_key_env}=<your key> and run again")
        self._client = openai.OpenAI(base_url=self.url, api_key=key, timeout=judge_cfg.timeout_s,
                                     max_retries=judge_cfg.max_retries)
        self.max_new_tokens = judge_cfg.max_new_tokens

    @property
    def name(self) -> str:
        return f"endpoint:{self.url}:{self.model}"

    def complete(self, prompt: str) -> str:
        """The endpoint's answer to one user message (temperature 0, so reruns agree).

        Raises:
            UserError: the endpoint cannot be reached or refuses the request.
        """
        import openai

        try:
            reply = self._client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}],
                temperature=0.0, max_tokens=self.max_new_tokens)
        except (openai.APIConnectionError, openai.APITimeoutError) as err:
            raise UserError(f"judge endpoint {self.url} is unreachable ({type(err).__name__}): "
                            "start it or fix eval.judge.url; judgments made so far are cached") from None
        except openai.APIStatusError as err:
            raise UserError(f"judge endpoint {self.url} refused the request (HTTP {err.status_code}): "
                            "check eval.judge.model and the key in eval.judge.api_key_env") from None
        return reply.choices[0].message.content or ""


class LocalClient:
    """A local causal LM as judge: greedy completions, and scoring of fixed choices."""

    def __init__(self, judge_cfg):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name = judge_cfg.model
        if not self.model_name:
            raise UserError("eval.judge.kind=llm needs eval.judge.model (a local folder or hub name) "
                            "or eval.judge.url (an OpenAI-compatible endpoint)")
        on_gpu = torch.cuda.is_available()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_name)
            # on a GPU, in the dtype the checkpoint was saved in (bf16 for most judges), placed there;
            # fp32 on a CPU, where half precision is slow
            self.model = AutoModelForCausalLM.from_pretrained(
                self.model_name, dtype="auto" if on_gpu else torch.float32, device_map="auto" if on_gpu else None)
        except OSError as err:
            raise UserError(f"eval.judge.model={self.model_name} cannot be loaded: {str(err).splitlines()[0]}") from None
        self.model.eval()
        self.max_new_tokens = judge_cfg.max_new_tokens

    @property
    def name(self) -> str:
        return f"local:{self.model_name}"

    def _prompt_ids(self, prompt: str):
        chat = [{"role": "user", "content": prompt}]
        text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) \
            if self.tokenizer.chat_template else prompt
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def complete(self, prompt: str) -> str:
        ids = self._prompt_ids(prompt).to(self.model.device)
        out = self.model.generate(ids, max_new_tokens=self.max_new_tokens, do_sample=False,
                                  pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        return self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    @torch.no_grad()
    def choose(self, prompt: str, prefix: str, choices: list[str]) -> tuple[str, dict[str, float]]:
        """The choice the model finds likeliest after `prefix`, with every choice's log-probability.

        Small judges rarely keep to an output format; scoring the fixed verdicts gives
        every prompt a verdict, deterministically.
        """
        ids = self._prompt_ids(prompt)[0].tolist() + self.tokenizer(prefix, add_special_tokens=False)["input_ids"]
        scores = {}
        for choice in choices:
            tail = self.tokenizer(choice, add_special_tokens=False)["input_ids"]
            full = torch.tensor([ids + tail], device=self.model.device)
            logprobs = torch.log_softmax(self.model(full).logits[0, len(ids) - 1 : -1].float(), dim=-1)
            scores[choice] = sum(logprobs[i, t].item() for i, t in enumerate(tail))
        best = max(scores, key=lambda c: (scores[c], -choices.index(c)))
        return best, {c: s if math.isfinite(s) else -1e9 for c, s in scores.items()}


def make_client(judge_cfg):
    """The endpoint client when eval.judge.url is set, else the local model."""
    return EndpointClient(judge_cfg) if judge_cfg.url else LocalClient(judge_cfg)
