"""Which library trains: `backend=auto|hf|unsloth`.

- hf: transformers + PEFT, on any device.
- unsloth: Unsloth's FastLanguageModel (fused kernels, its own gradient
  checkpointing, optional 4-bit loading) under the same TRL trainers. It needs
  a CUDA GPU and the `[gpu]` extra, and patches transformers, TRL and PEFT when
  imported, so it is imported here only, and only once it has been chosen.
- auto: unsloth when a CUDA GPU is visible and the package is installed, else hf.

Unsloth's CPU fallback (LoRA/full SFT only, slow) is refused unless
FINE_TUNE_UNSLOTH_ON_CPU=1: the wiring tests use it to train through the real
Unsloth code path on a machine without a GPU.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys

from fine_tune.config import BackendName
from fine_tune.errors import UserError

log = logging.getLogger(__name__)

CPU_OPT_IN = "FINE_TUNE_UNSLOTH_ON_CPU"  # "1": let backend=unsloth use Unsloth's CPU fallback (tests)
PATCHED_BY_UNSLOTH = ("transformers", "trl", "peft")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


NEEDS_GPU = "a CUDA GPU"
NEEDS_EXTRA = "the [gpu] extra (pip install -e '.[gpu]')"


def unsloth_missing() -> str | None:
    """What this machine lacks to run Unsloth (NEEDS_GPU or NEEDS_EXTRA), or None."""
    if not _cuda() and os.environ.get(CPU_OPT_IN) != "1":
        return NEEDS_GPU
    if not _unsloth_installed():
        return NEEDS_EXTRA
    return None


def resolve_backend(name) -> str:
    """The backend that will actually run for `backend.name`."""
    name = BackendName(name).value
    if name == "hf":
        return "hf"
    if name == "unsloth":
        missing = unsloth_missing()
        if missing == NEEDS_GPU:
            raise UserError("backend=unsloth needs a CUDA GPU and this machine has none: use backend=hf or backend=auto")
        if missing == NEEDS_EXTRA:
            raise UserError("backend=unsloth needs Unsloth: pip install -e '.[gpu]' on the GPU machine, or use backend=hf")
        return "unsloth"
    if _cuda() and _unsloth_installed():
        return "unsloth"
    return "hf"


def activate(name) -> str:
    """Resolve the backend and, for unsloth, import it now: before transformers, TRL and PEFT.

    Unsloth patches those libraries when imported; a class bound before that
    (`from trl import SFTTrainer`) stays unpatched and trains without its
    padding-free batching and fused kernels. The entrypoint calls this first.
    """
    backend = resolve_backend(name)
    if backend == "unsloth" and "unsloth" not in sys.modules:
        early = [lib for lib in PATCHED_BY_UNSLOTH if lib in sys.modules]
        if early:
            log.warning("%s imported before Unsloth: some of Unsloth's patches may not apply", ", ".join(early))
        import unsloth  # noqa: F401 - imported for its patches
    return backend


def load_unsloth(source: str, model_cfg, max_seq_length: int):
    """(model, tokenizer) through Unsloth's FastLanguageModel."""
    from unsloth import FastLanguageModel  # patches transformers/TRL/PEFT: only on this path

    # heavy: transformers; the entrypoint imports this module before any check
    from fine_tune.models.templates import apply_chat_template

    dtype = None if model_cfg.dtype == "auto" else getattr(__import__("torch"), model_cfg.dtype)
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=source,
        max_seq_length=max_seq_length,
        dtype=dtype,  # None: Unsloth picks bf16 where the GPU has it
        load_in_4bit=model_cfg.load_in_4bit,
        trust_remote_code=model_cfg.trust_remote_code,
        revision=model_cfg.revision,
    )
    apply_chat_template(model, tokenizer, model_cfg.chat_template, source)
    return model, tokenizer


def unsloth_lora(model, lora, seed: int, targets: list[str]):
    """A LoRA adapter through Unsloth's get_peft_model, with its gradient checkpointing, on `targets`."""
    from unsloth import FastLanguageModel

    return FastLanguageModel.get_peft_model(
        model,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(targets),
        bias="none",
        use_gradient_checkpointing="unsloth",  # offloads activations: the memory saving Unsloth is known for
        random_state=seed,
    )
