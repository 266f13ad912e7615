"""A run's folder: every path in it, its status, and its result writes. Nothing else knows the layout.

`fine-tune` writes into it, `fine-tune-eval` and `fine-tune-export` read a finished one,
a sweep's job reuse copies one, and `fine-tune-compare` reads many: all through
`RunFolder`. The README's "Outputs" table is this module's LAYOUT, printed by
`python -m fine_tune.run_folder` (a test checks the two agree). Standard library only,
so that the compare command stays light.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fine_tune.outputs import write_json_atomic
from fine_tune.run_status import live_status

# Where each part of a run lives, and what it holds: the README's Outputs table.
LAYOUT = {
    ".hydra/": "the config snapshot: `config.yaml`, `overrides.yaml`, `hydra.yaml`",
    "cli.log": "the run's log (Hydra's job log: data steps, stage starts and resumes, warnings, errors)",
    "manifest.json": "git SHA, package versions, data fingerprint, seed, device, CPU threads, base model",
    "metrics.json": "status; per stage: train loss per logging step and per epoch, eval loss, runtime, tokens/s, "
                    "peak memory; checker accuracy of the base and tuned model (overall and per skill, with Wilson "
                    "intervals and constant-answer floors); `eval`: generation budget and cut-off share, reasoning, "
                    "held-out losses, convergence, WinRate, DeepEval (see [Evaluation](#evaluation))",
    "process.json": "the host and process working on the run, refreshed every 30 s, `ended` on the way out: how "
                    "`fine-tune-compare` tells a running job from a killed one",
    "data_report.{json,md}": "rows in and out of every data step",
    "rejects.jsonl": "every row the data steps removed, with its reason",
    "NN-<stage>/": "one folder per stage (`01-sft_cot/`): `adapter/` (or `model/` with `finetune=full`) and its "
                   "tokenizer, `stage.json` (the stage's key), `done.json` once finished, `checkpoints/` while "
                   "it trains",
    ".stale/": "a stage folder of another config, moved aside rather than resumed (see "
               "[resuming](#stages-chains-resuming))",
    "generations/{base,tuned}.jsonl": "every eval prompt, generation, extracted answer and verdict",
    "eval/tuned_judgments.jsonl": "the WinRate judge's verdicts, prompt by prompt, in both orders",
    "eval/tuned_loss.jsonl": "the held-out loss prompt by prompt (own-format reference and final answer), for "
                             "paired comparisons",
    "wandb/offline-run-*/": "the W&B runs, one per stage",
    "export/": "`fine-tune-export`'s merged model (safetensors and tokenizer; `gguf/` with `--gguf`)",
}
# What a finished job's results are, for a later job of the same config to copy (fine_tune.jobs);
# metrics.json is copied apart, last, marked as reused
RESULT_FILES = ("manifest.json", "data_report.json", "data_report.md", "rejects.jsonl")
RESULT_DIRS = ("generations", "eval")


@dataclass(frozen=True)
class StageFolder:
    """One stage's folder, `NN-<stage>/` of a run: what it holds while it trains and once it is done."""

    root: Path

    @property
    def owner(self) -> Path:
        """stage.json: {"key": ...}, whose work the folder's checkpoints, weights and done.json are."""
        return self.root / "stage.json"

    @property
    def done(self) -> Path:
        """done.json: {"key", "metrics"}, written once the stage's weights are saved."""
        return self.root / "done.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"  # finetune=lora

    @property
    def model(self) -> Path:
        return self.root / "model"  # finetune=full

    @property
    def saved(self) -> tuple[Path, Path]:
        """Where the stage's weights can be: its adapter or its full model."""
        return self.adapter, self.model


@dataclass(frozen=True)
class RunFolder:
    """The folder of one run (or one job of a sweep)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / ".hydra" / "config.yaml"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def generations(self) -> Path:
        return self.root / "generations"

    @property
    def tuned_generations(self) -> Path:
        return self.generations / "tuned.jsonl"

    @property
    def tuned_losses(self) -> Path:
        return self.eval / "tuned_loss.jsonl"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def wandb(self) -> Path:
        return self.root / "wandb"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def stale(self) -> Path:
        return self.root / ".stale"

    def stage(self, index: int, name: str) -> Path:
        """Stage `index` (from 1) of the run's chain."""
        return self.root / f"{index:02d}-{name}"

    def stages(self, order: list[str]) -> list[Path]:
        return [self.stage(index, name) for index, name in enumerate(order, start=1)]

    def stage_folders(self) -> list[Path]:
        """Every stage folder present, in chain order."""
        return sorted(p for p in self.root.glob("[0-9][0-9]-*") if p.is_dir())

    def missing(self, *parts: Path) -> list[str]:
        """Which of `parts` (paths of this folder) are not files: the words of a not-a-run-folder error."""
        return [str(p.relative_to(self.root)) for p in parts if not p.is_file()]

    def read_metrics(self) -> dict:
        return json.loads(self.metrics.read_text(encoding="utf-8"))

    def write_metrics(self, metrics: dict) -> None:

        write_json_atomic(self.metrics, metrics)

    def write_manifest(self, manifest: dict) -> None:

        write_json_atomic(self.manifest, manifest)

    def status(self, metrics: dict | None) -> tuple[str, str | None] | None:
        """Running or killed (fine_tune.run_status) when metrics.json cannot say; else None."""

        return live_status(self.root, metrics)


def layout_table() -> str:
    """LAYOUT as the README's Markdown table."""
    rows = [f"| `{path}` | {what} |" for path, what in LAYOUT.items()]
    return "\n".join(["| path | what |", "|---|---|", *rows])


if __name__ == "__main__":
    print(layout_table())
