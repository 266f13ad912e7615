"""`fine-tune-export <run folder>`: the run's final model, adapters merged, as plain safetensors.

The base model is rebuilt from the run's manifest, each finished stage's
adapter (or full model) is applied in order, exactly as the run did, and the
result is saved with its tokenizer so that `transformers` loads it with no
project code:

    fine-tune-export outputs/2026-11-26/10-00-00_curated_sft_cot+dpo
    AutoModelForCausalLM.from_pretrained("outputs/.../export")

`--gguf` also writes GGUF through Unsloth (a GPU machine with the [gpu] extra).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fine_tune.errors import UserError, exit_on_error
from fine_tune.outputs import write_folder_atomic

EXPECTED = ("manifest.json", "metrics.json")


def _stage_folders(run_dir: Path, metrics: dict) -> list[Path]:
    folders = []
    for index, name in enumerate(metrics["stages_order"], start=1):
        folder = run_dir / f"{index:02d}-{name}"
        if not (folder / "done.json").is_file():
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
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fine_tune.stages.chain import apply_saved

    missing = [name for name in EXPECTED if not (run_dir / name).is_file()]
    if missing:
        raise UserError(f"{run_dir} is not a fine-tune run folder: it has no {', '.join(missing)}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    folders = _stage_folders(run_dir, metrics) if with_stages else []
    model = AutoModelForCausalLM.from_pretrained(manifest["base_model"])
    tokenizer = AutoTokenizer.from_pretrained(manifest["base_model"])
    for folder in folders:
        model = apply_saved(model, folder)
    return model, tokenizer


def export(run_dir: Path, out: Path | None = None, gguf: bool = False) -> Path:
    """Write the merged final model of `run_dir` to `out` (default `<run_dir>/export`)."""
    model, tokenizer = load_run_model(run_dir)
    out = out or run_dir / "export"

    def write(staging: Path) -> None:
        model.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))

    write_folder_atomic(out, write)
    if gguf:
        _gguf(out)
    return out


def _gguf(folder: Path) -> None:
    from fine_tune.backends import resolve_backend

    resolve_backend("unsloth")  # one-line errors without a GPU or Unsloth
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(model_name=str(folder))
    try:
        model.save_pretrained_gguf(str(folder / "gguf"), tokenizer)
    except RuntimeError as err:
        if "llama.cpp" not in str(err):
            raise
        # Unsloth converts with llama.cpp, which it clones and builds on first use (seen: no internet)
        raise UserError(f"GGUF conversion needs llama.cpp, which Unsloth fetches from GitHub on first use and "
                        f"could not ({str(err).splitlines()[0][:160]}); run once with the internet, or put a "
                        f"built llama.cpp in ~/.unsloth/llama.cpp. The safetensors export in {folder} is complete"
                        ) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fine-tune-export", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder (outputs/... or a sweep job folder)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <run_dir>/export)")
    parser.add_argument("--gguf", action="store_true", help="also write GGUF (needs Unsloth on a GPU)")
    args = parser.parse_args(argv)
    out = exit_on_error("fine-tune-export", lambda: export(args.run_dir, args.out, args.gguf))
    print(f"exported to {out}")


if __name__ == "__main__":
    main()
