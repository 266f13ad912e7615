"""Load the base model and tokenizer a config names: a local folder, a Hub id, or the tiny model.

Precedence is model.path, then model.name, then model.tiny: so
`model=local model.path=/models/qwen` and `model=hub model.name=Qwen/...` work
from any preset. The Hub is only contacted for model.name.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fine_tune.backends import load_unsloth
from fine_tune.config import Dtype
from fine_tune.errors import UserError
from fine_tune.models.gguf import converted_folder
from fine_tune.models.templates import apply_chat_template
from fine_tune.models.tiny import tiny_model_dir

log = logging.getLogger(__name__)



def resolve_source(model_cfg, cache_dir: str) -> str:
    """A folder or Hub id to load from; builds the tiny model, or converts a GGUF file, on first use."""
    if model_cfg.get("gguf_file"):
        return str(converted_folder(model_cfg, cache_dir))
    if model_cfg.path:
        folder = Path(model_cfg.path).expanduser()
        if not (folder / "config.json").is_file():
            what = "does not exist" if not folder.exists() else "has no config.json"
            raise UserError(f"model.path '{folder}' {what}: give a folder saved with save_pretrained (model.path=<folder>)")
        return str(folder)
    if model_cfg.name:
        return str(model_cfg.name)
    if model_cfg.tiny is not None:

        return str(tiny_model_dir(_tiny_spec(model_cfg), cache_dir))
    raise UserError("no model given: set model.path=<folder>, model.name=<hub id>, or use model=tiny")


def model_identity(source: str, model_cfg, backend: str) -> str:
    """What names these base weights for caches of their outputs: a folder and its files' times, or hub id@revision."""
    folder = Path(source)
    if folder.is_dir():
        stamps = sorted(f"{p.name}:{p.stat().st_mtime_ns}:{p.stat().st_size}" for p in folder.iterdir() if p.is_file())
        where = f"{folder.resolve()}|{'|'.join(stamps)}"
    else:
        where = f"{source}@{model_cfg.revision or 'main'}"
    return f"{where}|dtype={Dtype(model_cfg.dtype).value}|4bit={model_cfg.load_in_4bit}|backend={backend}"


def _tiny_spec(model_cfg):
    """model.tiny as its dataclass (a DictConfig when it comes from Hydra)."""
    from omegaconf import DictConfig, OmegaConf

    return OmegaConf.to_object(model_cfg.tiny) if isinstance(model_cfg.tiny, DictConfig) else model_cfg.tiny


def _dtype(model_cfg, on_gpu: bool):
    import torch

    dtype = Dtype(model_cfg.dtype).value  # the schema's enum; a plain string from a caller of the library
    if dtype == "auto":
        return torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    if not on_gpu and dtype != "float32":
        return torch.float32  # half precision training on a CPU is slow and unstable
    return getattr(torch, dtype)  # Dtype's names are torch's


def load_model(source: str, model_cfg, cache_dir: str, backend: str = "hf", max_seq_length: int = 2048):
    """(model, tokenizer) for `source`; a corrupt tiny-model cache is rebuilt once.

    Args:
        backend: "hf" (transformers) or "unsloth" (FastLanguageModel, on a GPU).
        max_seq_length: the longest sequence the stages train on (Unsloth needs it up front).
    """
    if backend == "unsloth":

        return load_unsloth(source, model_cfg, max_seq_length)
    try:
        return _load(source, model_cfg)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - safetensors, OSError, ValueError...: all mean "cannot load"
        if model_cfg.path is None and model_cfg.name is None and model_cfg.tiny is not None:

            log.warning("the cached tiny model failed to load (%s); rebuilding it", err)
            return _load(str(tiny_model_dir(_tiny_spec(model_cfg), cache_dir, rebuild=True)), model_cfg)
        where = "model.path" if model_cfg.path else "model.name"
        raise UserError(f"cannot load the model from {where}='{source}': {str(err).splitlines()[0]}") from err


def check_trainable(model, source: str) -> None:
    """Refuse, in one line, weights whose quantisation transformers cannot train (the Trainer's own test).

    Raises:
        UserError: e.g. a folder whose config.json keeps a GGUF quantization_config.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if getattr(model, "is_quantized", False) and not (quantizer is not None and quantizer.is_trainable):
        method = getattr(model.config.quantization_config, "quant_method", "an unknown method")
        method = getattr(method, "value", method)
        raise UserError(f"the model at '{source}' is quantised with {method} (config.json's quantization_config), "
                        "which transformers cannot train: give a full-precision checkpoint (a GGUF file: "
                        "model.gguf_file, which de-quantises it) or a quantisation that trains with LoRA "
                        "(bitsandbytes 4/8-bit)")


def _load(source: str, model_cfg):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    on_gpu = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(
        source, revision=model_cfg.revision, trust_remote_code=model_cfg.trust_remote_code
    )
    if tokenizer.chat_template is None and not model_cfg.chat_template:  # before the weights load
        apply_chat_template(None, tokenizer, None, source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        source,
        revision=model_cfg.revision,
        dtype=_dtype(model_cfg, on_gpu),
        trust_remote_code=model_cfg.trust_remote_code,
        device_map="auto" if on_gpu else None,
    )
    apply_chat_template(model, tokenizer, model_cfg.chat_template, source)
    return model, tokenizer
