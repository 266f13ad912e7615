"""`fine-tune-export <run folder>`: the run's final model, adapters merged, as plain safetensors.

The base model is rebuilt from the run's manifest, each finished stage's
adapter (or full model) is applied in order, exactly as the run did, and the
result is saved with its tokenizer so that `transformers` loads it with no
project code:

    fine-tune-export outputs/2026-11-26/10-00-00_curated_sft_cot+dpo
    AutoModelForCausalLM.from_pretrained("outputs/.../export")

`--gguf [TYPE]` also writes GGUF (q8_0 unless a type such as f16 or q4_k_m is
given) through Unsloth's save_pretrained_gguf, which runs llama.cpp's converter
and llama-quantize: a GPU machine with the [gpu] extra, and llama.cpp where
UNSLOTH_LLAMA_CPP_PATH says (Unsloth clones and builds it when it can reach GitHub).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

from fine_tune.backends import activate, unsloth_missing
from fine_tune.config import ModelConfig
from fine_tune.errors import UserError, exit_on_error
from fine_tune.outputs import write_folder_atomic
from fine_tune.run_folder import RunFolder, StageFolder
from fine_tune.stages.chain import apply_saved


def _stage_folders(run_dir: Path, metrics: dict) -> list[Path]:
    folders = []
    for name, folder in zip(metrics["stages_order"], RunFolder(run_dir).stages(metrics["stages_order"])):
        if not StageFolder(folder).done.is_file():
            raise UserError(f"stage {name} of {run_dir} did not finish ({folder} has no done.json): "
                            "run the same command again to finish it, then export")
        folders.append(folder)
    return folders


def load_run_model(run_dir: Path, with_stages: bool = True):
    """(model, tokenizer) of a run: its base model, then each finished stage applied in order.

    Args:
        with_stages: False gives the base model the run started from.

    Raises:
        UserError: `run_dir` is not a run folder, or a stage of it did not finish.
    """
    from omegaconf import OmegaConf

    from fine_tune.models.load import load_model  # heavy: transformers; a wrong folder answers before it loads

    folder = RunFolder(run_dir)
    missing = folder.missing(folder.manifest, folder.metrics, folder.config)
    if missing:
        raise UserError(f"{run_dir} is not a fine-tune run folder: it has no {', '.join(missing)}")
    manifest = json.loads(folder.manifest.read_text())
    metrics = folder.read_metrics()
    folders = _stage_folders(run_dir, metrics) if with_stages else []
    # the base as the run loaded it: its revision, remote-code choice, chat template, dtype and device
    config = OmegaConf.load(folder.config)
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
    if gguf:
        _activate_unsloth()  # first: it must patch transformers/PEFT before they load the model
    model, tokenizer = load_run_model(run_dir)
    out = out or RunFolder(run_dir).export

    def write(staging: Path) -> None:
        model.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))

    write_folder_atomic(out, write)
    if gguf:
        _gguf(out, gguf)
    return out


def _activate_unsloth() -> None:

    missing = unsloth_missing()
    if missing:
        raise UserError(f"--gguf writes GGUF through Unsloth, which needs {missing}: without --gguf, "
                        "fine-tune-export writes the safetensors export on any machine")
    activate("unsloth")


def _gguf(folder: Path, quantization: str) -> None:
    """GGUF of the exported model into `<folder>/gguf`, all or nothing."""
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(model_name=str(folder))

    def write(staging: Path) -> None:
        produced = Path(f"{staging}_gguf")  # where Unsloth puts the files: beside the folder it was given
        try:
            model.save_pretrained_gguf(str(staging), tokenizer, quantization_method=quantization)
            staging.mkdir(exist_ok=True)
            for file in produced.glob("*") if produced.is_dir() else []:
                shutil.move(str(file), staging / file.name)
        finally:  # a failed conversion leaves no half-written folder of Unsloth's beside the export either
            shutil.rmtree(produced, ignore_errors=True)
        if not any(staging.glob("*.gguf")):
            raise RuntimeError(f"Unsloth reported a finished GGUF conversion but wrote no .gguf file in {produced}")

    try:
        write_folder_atomic(folder / "gguf", write)
    except (RuntimeError, NotImplementedError) as err:
        raise _gguf_error(err, folder) from None


def _gguf_error(err: Exception, folder: Path) -> Exception:
    """The user's way out of a failed conversion, in one line; anything unforeseen stays a traceback."""
    text = str(err)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)[:200]
    done = f"the safetensors export in {folder} is complete"
    unknown = re.search(r"Quant method = \[(.+?)\] not supported", text)
    if unknown:
        return UserError(f"--gguf {unknown.group(1)} is not a GGUF type Unsloth writes: "
                         f"use q8_0, f16, bf16 or q4_k_m (see Unsloth's ALLOWED_QUANTS); {done}")
    if "pre-tokenizer was not recognized" in text:
        return UserError("llama.cpp's converter does not know this model's tokenizer (the embedded tiny model's "
                         "byte-level BPE is not one it lists): GGUF export needs a hub model's tokenizer or a "
                         f"SentencePiece-style one; {done}")
    if "llama.cpp" in text or "quantizer" in text:
        # Unsloth converts with llama.cpp, which it clones and builds on first use (seen: no internet)
        return UserError(f"GGUF conversion needs llama.cpp, which Unsloth fetches from GitHub on first use and "
                         f"could not ({first[:160]}); run once with the internet, or set UNSLOTH_LLAMA_CPP_PATH to "
                         f"a llama.cpp folder with its converter and a built llama-quantize; {done}")
    return err


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fine-tune-export", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder (outputs/... or a sweep job folder)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <run_dir>/export)")
    parser.add_argument("--gguf", nargs="?", const="q8_0", default=None, metavar="TYPE",
                        help="also write GGUF of TYPE (default q8_0; f16, bf16, q4_k_m...): needs Unsloth on a GPU")
    args = parser.parse_args(argv)
    out = exit_on_error("fine-tune-export", lambda: export(args.run_dir, args.out, args.gguf))
    print(f"exported to {out}")


if __name__ == "__main__":
    main()
