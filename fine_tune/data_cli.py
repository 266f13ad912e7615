"""`fine-tune-data`: loading and curation alone, with the same config groups, then the report.

Inspect a data set before spending compute on it:

    fine-tune-data                                   # the embedded raw world through data=curated
    fine-tune-data data=curated data.source.path=../shared/data/gsm8k data.source.eval_split=test
    fine-tune-data data.curation.near_dedup.threshold=0.8 data.on_error=skip

Writes data_report.{json,md} and rejects.jsonl (every removed row with its
reason) to outputs/data/<date>/<time>_<data>/ and prints the markdown report.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from fine_tune.cli import run_reporting_errors
from fine_tune.config import conf_dir
from fine_tune.config_ranges import check_config
from fine_tune.data.pipeline import load_splits
from fine_tune.data.report import markdown, write_report
from fine_tune.errors import exit_on_error

RUN_DIR = "hydra.run.dir=outputs/data/${now:%Y-%m-%d}/${now:%H-%M-%S}_${hydra:runtime.choices.data}"


@hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")
def _task(cfg: DictConfig) -> None:
    exit_on_error("fine-tune-data", lambda: _report(cfg), job=True)


def _report(cfg: DictConfig) -> None:
    from rich.console import Console
    from rich.markdown import Markdown


    check_config(cfg)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    splits = load_splits(cfg.data, cfg.cache_dir)
    write_report(splits.report, splits.rejects, run_dir)
    Console().print(Markdown(markdown(splits.report)))
    print(f"report and rejects in {run_dir}")


def main() -> None:
    if not any(arg.startswith("hydra.run.dir=") for arg in sys.argv[1:]):
        sys.argv.insert(1, RUN_DIR)  # its own folder: a data report is not a training run
    run_reporting_errors(_task, "fine-tune-data")


if __name__ == "__main__":
    main()
