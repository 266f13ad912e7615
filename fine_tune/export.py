"""`fine-tune-export <run folder>`: the run's final model, adapters merged, as plain safetensors.

The base model is rebuilt from the run's manifest, each finished stage's
adapter (or full model) is applied in order, exactly as the run did, and the
result is saved with its tokenizer so that `transformers` loads it with no
project code:

    fine-tune-export outputs/2026-11-26/10-00-00_curated_sft_cot+dpo
    AutoModelForCausalLM.from_pretrained("outputs/.../export")

`--gguf [TYPE]` also writes GGUF (q8_0 unless a type such as f16 or q4_k_m is
given) with llama.cpp's own converter, on any machine (fine_tune.gguf_export):

    fine-tune-export outputs/... --gguf          # export/gguf/model-q8_0.gguf
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fine_tune.config import ModelConfig
from fine_tune.errors import UserError, exit_on_error
from fine_tune.gguf_export import tools, write_gguf
from fine_tune.outputs import write_folder_atomic
from fine_tune.run_folder import RunFolder, StageFolder
from fine_tune.stages.chain import apply_saved


def _stage_folders(run: RunFolder, metrics: dict) -> list[Path]:
    folders = []
    for name, folder in zip(metrics["stages_order"], run.stages(metrics["stages_order"])):
        if not StageFolder(folder).done.is_file():
            raise UserError(f"stage {name} of {run.root} did not finish ({folder} has no done.json): "
                            "run the same command again to finish it, then export")
        folders.append(folder)
    return folders


def _run_folder(run_dir: Path) -> RunFolder:
    """`run_dir` as a run folder: its manifest, metrics and config are there.

    Raises:
        UserError: `run_dir` is not a run folder.
    """
    folder = RunFolder(run_dir)
    missing = folder.missing(folder.manifest, folder.metrics, folder.config)
    if missing:
        raise UserError(f"{run_dir} is not a fine-tune run folder: it has no {', '.join(missing)}")
    return folder


def load_run_model(run_dir: Path, with_stages: bool = True):
    """(model, tokenizer) of a run: its base model, then each finished stage applied in order.

    Args:
        with_stages: False gives the base model the run started from.

    Raises:
        UserError: `run_dir` is not a run folder, or a stage of it did not finish.
    """
    folder = _run_folder(run_dir)
    return _load(folder, OmegaConf.load(folder.config), with_stages)


def _load(run: RunFolder, config: DictConfig, with_stages: bool = True):
    """load_run_model() of a checked run folder and its loaded config.yaml."""
    from fine_tune.models.load import load_model  # heavy: transformers; a wrong folder answers before it loads

    manifest = json.loads(run.manifest.read_text())
    folders = _stage_folders(run, run.read_metrics()) if with_stages else []
    # the base as the run loaded it: its revision, remote-code choice, chat template, dtype and device
    model_cfg = OmegaConf.merge(OmegaConf.structured(ModelConfig), config.model)
    model, tokenizer = load_model(manifest["base_model"], model_cfg, str(config.get("cache_dir", "")))
    for stage in folders:
        model = apply_saved(model, stage)
    return model, tokenizer


def export(run_dir: Path, out: Path | None = None, gguf: str | None = None) -> Path:
    """Write the merged final model of `run_dir` to `out` (default `<run_dir>/export`).

    Args:
        gguf: also write GGUF of this type (q8_0, f16, bf16, q4_k_m...) into `<out>/gguf`.
    """
    # the cheap mistakes first: not a run, a typo, a type without its tools (which may fetch llama.cpp's
    # converter from PyPI into the run's cache); all before the model loads
    run = _run_folder(run_dir)
    config = OmegaConf.load(run.config)
    # the run's own cache, as its config names it (config.yaml's default, FINE_TUNE_CACHE or ~/.cache/fine-tune)
    found = tools(gguf, str(config.cache_dir)) if gguf else None
    model, tokenizer = _load(run, config)
    out = out or run.export

    def write(staging: Path) -> None:
        model.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))

    write_folder_atomic(out, write)
    if found:
        write_gguf(out, found)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fine-tune-export", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder (outputs/... or a sweep job folder)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <run_dir>/export)")
    parser.add_argument("--gguf", nargs="?", const="q8_0", default=None, metavar="TYPE",
                        help="also write GGUF of TYPE (default q8_0; f32, f16, bf16; q4_k_m... with a built llama-quantize)")
    args = parser.parse_args(argv)
    out = exit_on_error("fine-tune-export", lambda: export(args.run_dir, args.out, args.gguf))
    print(f"exported to {out}")


if __name__ == "__main__":
    main()
