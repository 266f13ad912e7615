"""Which library trains: `backend=auto|hf|unsloth`.

- hf: transformers + PEFT, on any device.
- unsloth: Unsloth's FastLanguageModel (fused kernels, its own gradient
  checkpointing, optional 4-bit loading) under the same TRL trainers. It needs
  a CUDA GPU and the `[gpu]` extra, and patches transformers, TRL and PEFT when
  imported, so it is imported here only, and only once it has been chosen.
- auto: unsloth when a CUDA GPU is visible and the package is installed, else hf.
"""

from __future__ import annotations

import importlib.util
import logging

from fine_tune.errors import UserError

log = logging.getLogger(__name__)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def resolve_backend(name) -> str:
    """The backend that will actually run for `backend.name`."""
    name = str(getattr(name, "value", name))
    if name == "hf":
        return "hf"
    if name == "unsloth":
        if not _cuda():
            raise UserError("backend=unsloth needs a CUDA GPU and this machine has none: use backend=hf or backend=auto")
        if not _unsloth_installed():
            raise UserError("backend=unsloth needs Unsloth: pip install -e '.[gpu]' on the GPU machine, or use backend=hf")
        return "unsloth"
    if _cuda() and _unsloth_installed():
        return "unsloth"
    return "hf"


def load_unsloth(source: str, model_cfg, max_seq_length: int):
    """(model, tokenizer) through Unsloth's FastLanguageModel."""
    from unsloth import FastLanguageModel  # patches transformers/TRL/PEFT: only on this path

    dtype = None if model_cfg.dtype == "auto" else getattr(__import__("torch"), model_cfg.dtype)
    return FastLanguageModel.from_pretrained(
        model_name=source,
        max_seq_length=max_seq_length,
        dtype=dtype,  # None: Unsloth picks bf16 where the GPU has it
        load_in_4bit=model_cfg.load_in_4bit,
        trust_remote_code=model_cfg.trust_remote_code,
    )


def unsloth_lora(model, lora, seed: int):
    """A LoRA adapter through Unsloth's get_peft_model, with its gradient checkpointing."""
    from unsloth import FastLanguageModel

    return FastLanguageModel.get_peft_model(
        model,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        bias="none",
        use_gradient_checkpointing="unsloth",  # offloads activations: the memory saving Unsloth is known for
        random_state=seed,
    )
