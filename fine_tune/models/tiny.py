"""The embedded base model: a small Llama trained from scratch on the embedded corpus.

Fine-tuning should start from a model that already knows the facts of its world, as a
real base model does, so the build has two parts: a byte-level BPE tokenizer trained
on the corpus, then a causal-LM pre-training pass (TRL's SFTTrainer on packed plain
text). The result is cached under `<cache_dir>/models/tiny-<key>`, the key a hash of the
model's settings, and written to a temporary folder first so an interrupted build
leaves no half-model behind. A folder without its completion marker, or one that fails
to load, is rebuilt.

The default model's pre-training takes hours on 2 CPU cores, so its build ships with
the package (`embedded_base/`: weights, tokenizer and the marker, whose `key` is this
recipe's cache key and whose `weights_sha256` fingerprints the weights). A config whose
key matches uses it as it is; any other config builds its own. `fine-tune-base`
(fine_tune.models.build_cli) rebuilds it, and `--ship` writes it back into the package.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

from fine_tune.cache import cache_path
from fine_tune.config import TinyModelConfig
from fine_tune.data.embedded import build_corpus
from fine_tune.distributed import barrier, is_main, world_size
from fine_tune.outputs import content_key, file_lock, write_folder_atomic

log = logging.getLogger(__name__)

MARKER = "fine_tune_build.json"
WEIGHTS = "model.safetensors"
# Bump when the build recipe changes in a way the settings do not show.
RECIPE_VERSION = 3  # 2: a space joins the digit after it, pages of worked facts, seq 256; 3: weekday offsets as prompts say them
SHIPPED = Path(__file__).resolve().parent / "embedded_base"
TOKENIZER_DOCUMENTS = 20000  # the BPE merges settle long before the corpus ends: train them on its start


def cache_key(spec: TinyModelConfig) -> str:
    settings = dict(dataclasses.asdict(spec), recipe=RECIPE_VERSION)
    return content_key(settings, length=12)  # 12: the shipped base's recorded key (embedded_base/)


def is_complete(folder: Path, key: str) -> bool:
    try:
        return json.loads((folder / MARKER).read_text())["key"] == key
    except (OSError, ValueError, KeyError):
        return False


def weights_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    with open(folder / WEIGHTS, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_build(key: str) -> Path | None:
    """The packaged build when it is this recipe's (same key) and its weights are the ones it recorded."""
    if not is_complete(SHIPPED, key):
        return None
    try:
        recorded = json.loads((SHIPPED / MARKER).read_text()).get("weights_sha256")
        return SHIPPED if recorded == weights_sha256(SHIPPED) else None
    except OSError:
        return None


def _build_lock(folder: Path):
    """Serialise builds of one model: jobs of a parallel sweep share the cache."""
    return file_lock(folder.parent / f".{folder.name}.lock")


def tiny_model_dir(spec: TinyModelConfig, cache_dir: str | Path, rebuild: bool = False,
                   snapshots: dict[int, Path] | None = None) -> Path:
    """The folder of the built tiny model, building it first if needed.

    Args:
        spec: the model's settings (model.tiny); they make the cache key.
        cache_dir: the cache root (cfg.cache_dir).
        rebuild: build again even if a complete folder (or the packaged build) exists.
        snapshots: when it builds, step -> folder for the model part-way (see `build`).
    """
    key = cache_key(spec)
    folder = cache_path(cache_dir, "models", f"tiny-{key}")
    if not rebuild and not is_complete(folder, key) and shipped_build(key) is not None:
        return SHIPPED

    def write(staging: Path) -> None:
        stats = build(spec, staging, snapshots)
        marker = {"key": key, "recipe": RECIPE_VERSION, "settings": dataclasses.asdict(spec),
                  "weights_sha256": weights_sha256(staging), "pretraining": stats}
        (staging / MARKER).write_text(json.dumps(marker, indent=2))

    if world_size() > 1:
        # A multi-process job: every process takes part in the (data-parallel) pre-training,
        # so none may wait on the lock; the main process saves, the others wait for it.
        if not is_complete(folder, key) or rebuild:
            if is_main():
                write_folder_atomic(folder, write)
            else:
                with tempfile.TemporaryDirectory() as scratch:  # the steps are collective; the files are main's
                    build(spec, Path(scratch), snapshots)  # (save_pretrained may write nothing here: no marker)
            barrier()
        return folder
    with _build_lock(folder):
        if is_complete(folder, key) and not rebuild:
            return folder
        log.info("building the tiny model %s (first run only)", folder)
        write_folder_atomic(folder, write)
    return folder


def build(spec: TinyModelConfig, out: Path, snapshots: dict[int, Path] | None = None) -> dict:
    """Train the tokenizer, pre-train the model, save both into `out`; returns the pre-training's figures.

    Args:
        snapshots: step -> folder: the model as it is after that step is saved there too (the
            capacity benchmark reads accuracy against tokens seen off one run this way).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from fine_tune.models.tokenizer import train_tokenizer  # heavy: transformers, only when a base is built

    corpus = build_corpus(seed=spec.seed, size=spec.corpus_size)
    tokenizer = train_tokenizer(corpus[:TOKENIZER_DOCUMENTS], spec.vocab_size)
    torch.manual_seed(spec.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,  # at this size the embedding is a large share of the weights
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    stats = _pretrain(model, tokenizer, corpus, spec, out, snapshots or {})
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {**stats, "parameters": model.num_parameters(), "corpus_documents": len(corpus)}


def _pretrain(model, tokenizer, corpus: list[str], spec: TinyModelConfig, out: Path,
              snapshots: dict[int, Path]) -> dict:
    """Causal-LM pre-training on packed corpus text, through TRL's SFTTrainer; returns its figures."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in snapshots:
                model.save_pretrained(snapshots[state.global_step])
                tokenizer.save_pretrained(snapshots[state.global_step])

    args = SFTConfig(
        output_dir=str(out / "_pretrain"),
        max_steps=spec.pretrain_steps,
        per_device_train_batch_size=spec.pretrain_batch_size,
        learning_rate=spec.pretrain_learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,  # a float below 1 is a share of the steps
        weight_decay=0.01,
        max_length=spec.pretrain_seq_length,
        packing=True,
        packing_strategy="wrapped",  # plain LM pre-training: fixed-length chunks of concatenated text
        dataset_text_field="text",
        logging_steps=max(1, spec.pretrain_steps // 10),
        save_strategy="no",
        report_to="none",
        bf16=False,
        use_cpu=not _cuda(),
        seed=spec.seed,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"text": corpus}),
        processing_class=tokenizer,
        callbacks=[Snapshot()] if snapshots else None,
    )
    result = trainer.train()
    shutil.rmtree(out / "_pretrain", ignore_errors=True)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"steps": trainer.state.global_step, "tokens": trainer.state.num_input_tokens_seen or
            spec.pretrain_steps * spec.pretrain_batch_size * spec.pretrain_seq_length,
            "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
            "runtime_s": result.metrics.get("train_runtime"), "device": "cuda" if _cuda() else "cpu"}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
