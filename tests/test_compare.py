"""fine-tune-compare on fabricated sweep folders: no training, a few seconds in all.

The sweep below has what a real one can hold: two seeds of one chain with the
full evaluation, an unstable job, a job that crashed before metrics.json, one
whose metrics.json is corrupt, a failed job that wrote its error, and the
non-job files Hydra and Optuna leave beside the jobs.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from wandb_offline import run_contents

from fine_tune.compare.cli import compare, main
from fine_tune.compare.collect import load_sweep, wandb_group
from fine_tune.compare.publish import resolve_mode

REPO = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _stage(loss_start: float, loss_end: float, steps: int, epochs: float, eval_loss: float) -> dict:
    points = [{"step": s, "epoch": s / steps * epochs,
               "loss": loss_start + (loss_end - loss_start) * (s - 1) / (steps - 1)} for s in range(1, steps + 1)]
    return {
        "train_loss_steps": points, "train_loss_epochs": [{"epoch": 1, "loss": loss_end}],
        "final_train_loss": loss_end, "eval_loss": eval_loss,
        "eval_loss_epochs": [{"epoch": epochs, "eval_loss": eval_loss}], "global_steps": steps,
        "epochs": epochs, "train_rows": 8901, "runtime_s": 205.5, "tokens_per_s": 4308.9,
    }


def _full_metrics(win: tuple[float, float, float], deepeval: float, tuned: float, eval_block_loss: float | None) -> dict:
    evaluation = {
        "convergence": {"epoch": 2, "stage": "sft_cot", "status": "converged"},
        "winrate": {"baseline": "base", "judge": "verifiable", "wins": 40, "losses": 10, "ties": 5, "invalid": 0,
                    "judged": 55, "win_rate": win[0], "ci_low": win[1], "ci_high": win[2],
                    "position_consistency": 1.0},
        "deepeval": {"accuracy": deepeval, "passed": 44, "total": 50,
                     "metrics": {"checker_correctness": {"mean_score": deepeval, "pass_rate": deepeval, "errors": 0}}},
    }
    if eval_block_loss is not None:
        evaluation["loss"] = {"eval_loss": eval_block_loss, "perplexity": 1.49, "rows": 472}
    return {
        "status": "finished", "stages_order": ["sft_cot", "dpo"],
        "data": {"name": "curated", "train_rows": 8901, "eval_rows": 472},
        "stages": {"sft_cot": _stage(5.5, 0.53, 20, 3.0, 0.57), "dpo": _stage(0.69, 0.43, 10, 1.0, 0.40)},
        "final_train_loss": 0.43, "eval_loss": 0.42, "wall_time_s": 422.0,
        "base": {"accuracy": 0.0}, "tuned": {"accuracy": tuned}, "eval": evaluation,
    }


def _job(sweep: Path, name: str, overrides: list[str], config: dict, metrics: dict | str | None) -> None:
    hydra_dir = sweep / name / ".hydra"
    hydra_dir.mkdir(parents=True)
    (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (hydra_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    hydra = {"hydra": {"sweep": {"dir": "multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}"},
                       "runtime": {"cwd": str(sweep.parent.parent.parent), "output_dir": str(sweep / name)},
                       "job": {"num": int(name.split("_")[0])}, "mode": "MULTIRUN"}}
    (hydra_dir / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    if isinstance(metrics, dict):
        (sweep / name / "metrics.json").write_text(json.dumps(metrics))
    elif isinstance(metrics, str):
        (sweep / name / "metrics.json").write_text(metrics)


def _config(data: str, stages: list[str], seed: int, mode: str = "offline") -> dict:
    return {"data": {"name": data}, "method": {s: {"learning_rate": None} for s in stages}, "seed": seed,
            "logger": {"name": "wandb", "mode": mode, "project": "fine-tune-test", "entity": None, "group": None},
            "study": "reference_study"}


def make_sweep(root: Path, mode: str = "offline") -> Path:
    """multirun/2026-11-26/10-00-00 under `root`, with six jobs and Hydra's and Optuna's extra files."""
    sweep = root / "multirun" / "2026-11-26" / "10-00-00"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    (sweep / "optimization_results.yaml").write_text("best_value: 0.7\n")
    chain = ["sft_cot", "dpo"]
    _job(sweep, "0_curated_sft_cot+dpo", ["data=curated", "method=[sft_cot,dpo]", "seed=1"],
         _config("curated", chain, 1, mode), _full_metrics((0.77, 0.68, 0.85), 0.88, 0.068, 0.4012))
    _job(sweep, "1_curated_sft_cot+dpo", ["data=curated", "method=[sft_cot,dpo]", "seed=2"],
         _config("curated", chain, 2, mode), _full_metrics((0.73, 0.64, 0.81), 0.84, 0.052, None))
    unstable = {"status": "unstable", "unstable_reason": "loss <inf> at step 12 | grad norm 1e9",
                "stages_order": ["sft"], "data": {"name": "raw", "train_rows": 20000, "eval_rows": 500},
                "stages": {"sft": _stage(6.0, 9.5, 12, 0.5, 9.9)}, "final_train_loss": 9.5, "wall_time_s": 61.2,
                "eval": {"convergence": {"epoch": None, "stage": "sft", "status": "not converged"}}}
    _job(sweep, "2_raw_sft", ["data=raw", "method=sft", "seed=1"], _config("raw", ["sft"], 1, mode), unstable)
    _job(sweep, "3_curated_dpo+grpo", ["data=curated", "method=[dpo,grpo]", "seed=1"],
         _config("curated", ["dpo", "grpo"], 1, mode), None)
    _job(sweep, "4_curated_thinking", ["data=curated", "method=thinking", "seed=1"],
         _config("curated", ["thinking"], 1, mode), '{"status": "finished", "stages_or')
    failed = {"status": "failed", "error": "RuntimeError: CUDA out of memory\nTraceback (most recent call last):",
              "stages_order": ["sft_cot"], "data": {"name": "raw", "train_rows": 20000, "eval_rows": 500},
              "stages": {}, "wall_time_s": 3725.0}
    _job(sweep, "10_raw_sft_cot", ["data=raw", "method=sft_cot", "seed=1"], _config("raw", ["sft_cot"], 1, mode), failed)
    return sweep


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> Path:
    """One sweep, compared once with W&B off; the tests below read what it wrote."""
    sweep = make_sweep(tmp_path_factory.mktemp("sweep"))
    compare(sweep, wandb="disabled")
    return sweep


def _md_rows(text: str) -> dict[str, list[str]]:
    """The main table's rows by job number, as lists of cells (escaped pipes kept whole)."""
    rows = {}
    for line in text.split("## Seed spread")[0].splitlines():
        if re.match(r"\| \d+ \|", line):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0]] = cells
    return rows


def test_markdown_table_formats_every_job(compared, capsys):
    text = (compared / "comparison.md").read_text()
    rows = _md_rows(text)
    assert list(rows) == ["0", "1", "2", "3", "4", "10"]  # by job number, not by name ("10" < "2")
    first = rows["0"]
    assert first[1:9] == ["sft_cot → dpo", "curated", "epochs", "1", "8901", "472", "—", "4"]
    # one train-loss column per kind of stage; the WinRate column is the head-to-head against
    # SFT-CoT + DPO on curated data: these two are it
    assert first[9:] == ["0.5300", "0.4300", "—", "0.4012", "—", "2 (sft_cot)", "6.8%", "—", "—", "(reference)",
                         "88.0%", "—", "7m 02s", "finished"]
    assert rows["1"][12] == "0.4200"  # no eval.loss block: top-level eval_loss
    assert rows["2"][9] == "9.5000" and rows["2"][10] == "—"  # an SFT stage's loss, no DPO stage
    assert rows["2"][14] == "not converged" and rows["2"][18] == "—"
    assert rows["2"][-1] == "unstable: loss <inf> at step 12 | grad norm 1e9"
    assert rows["3"][1] == "dpo → grpo" and rows["3"][-1] == "failed: no metrics.json"
    assert rows["4"][-1].startswith("failed: unreadable metrics.json: ")
    assert rows["10"][-1] == "failed: RuntimeError: CUDA out of memory"
    assert rows["10"][21] == "1h 02m 05s"
    assert "study: reference_study" in text and "| DeepEval (checker metric) |" in text


def test_seed_spread_groups_the_two_seeds(compared):
    spread = (compared / "comparison.md").read_text().split("## Seed spread")[1]
    lines = [ln for ln in spread.splitlines() if ln.startswith("| sft_cot")]
    assert len(lines) == 1  # the other jobs have one seed each
    assert "| 1, 2 |" in lines[0]
    assert "6.0% ± 1.1 (n=2)" in lines[0]  # checker accuracy 6.8 and 5.2
    assert "86.0% ± 2.8 (n=2)" in lines[0]  # DeepEval 88 and 84


def test_csv_holds_raw_numbers(compared):
    rows = list(csv.DictReader((compared / "comparison.csv").open()))
    assert [r["job"] for r in rows] == ["0", "1", "2", "3", "4", "10"]
    first = rows[0]
    assert first["win_rate"] == "" and first["winrate_baseline"] == "itself" and float(first["tuned_accuracy"]) == 0.068
    assert float(first["eval_loss"]) == 0.4012 and float(first["wall_time_s"]) == 422.0
    assert float(first["epochs"]) == 4.0 and first["status"] == "finished"
    assert rows[3]["status"] == "failed" and rows[3]["reason"] == "no metrics.json"
    assert rows[3]["eval_loss"] == ""
    assert rows[4]["reason"].startswith("unreadable metrics.json")


def test_pngs_are_written(compared):
    for name in ("loss_curves.png", "accuracy.png", "winrate.png", "deepeval.png"):
        data = (compared / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, name


def test_plots_without_winrate_still_render(tmp_path):
    sweep = tmp_path / "sweep"
    _job(sweep, "0_raw_sft", ["data=raw", "method=sft"], _config("raw", ["sft"], 1), None)
    compare(sweep, wandb="disabled")
    assert (sweep / "winrate.png").read_bytes().startswith(PNG_MAGIC)
    assert "failed: no metrics.json" in (sweep / "comparison.md").read_text()


def test_index_html_is_self_contained(compared):
    page = (compared / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 4
    assert "(reference)" in page and "7m 02s" in page and "Claims of the reference study" in page
    assert "loss &lt;inf&gt; at step 12" in page and "<inf>" not in page  # job strings are escaped
    assert "Seed spread" in page and "86.0% ± 2.8" in page
    without_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert "http" not in without_images and "<link" not in without_images and "<script" not in without_images


@pytest.mark.parametrize("make_path", [lambda t: t / "missing", lambda t: t / "file.txt", lambda t: t])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, make_path):
    (tmp_path / "file.txt").write_text("x")
    path = make_path(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "expected a Hydra sweep folder" in err


def test_module_entry_point_rejects_a_non_sweep(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fine_tune.compare", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and f"{tmp_path}: no job folders" in result.stderr


def test_wandb_offline_logs_a_compare_run(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "elsewhere"))  # the sweep folder must win
    monkeypatch.chdir(tmp_path)
    sweep = make_sweep(tmp_path)
    main([str(sweep), "--wandb", "offline"])
    run_files = list(sweep.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(run_files) == 1
    contents = run_contents(run_files[0])
    assert contents["run"]["job_type"] == "compare"
    assert contents["run"]["group"] == "multirun_2026-11-26_10-00-00"  # what the jobs' runs use
    assert contents["run"]["project"] == "fine-tune-test"
    (logged,) = contents["history"]  # one log call; W&B flattens media into "<key>/<field>"
    assert logged["comparison/_type"] == "table-file" and logged["comparison/nrows"] == 6
    for image in ("loss_curves", "winrate", "deepeval"):
        assert logged[f"{image}/_type"] == "image-file", image
    assert not (tmp_path / "elsewhere" / "wandb").exists()


def test_wandb_group_matches_the_jobs(tmp_path):
    sweep = make_sweep(tmp_path)
    # hydra.yaml keeps sweep.dir as `multirun/${now:...}`: rebuilt from output_dir and cwd
    assert wandb_group(load_sweep(sweep)) == "multirun_2026-11-26_10-00-00"
    metrics_path = sweep / "1_curated_sft_cot+dpo" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics_path.write_text(json.dumps({**metrics, "wandb_group": "as_the_job_logged"}))
    assert wandb_group(load_sweep(sweep)) == "as_the_job_logged"  # what the job recorded wins


def test_wandb_auto_skips_offline_jobs(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    sweep = make_sweep(tmp_path)
    written = compare(sweep, wandb="auto")
    assert "wandb" not in written and not (sweep / "wandb").exists()


def test_wandb_auto_follows_the_jobs_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    offline, online = load_sweep(make_sweep(tmp_path / "a")), load_sweep(make_sweep(tmp_path / "b", mode="online"))
    assert resolve_mode("auto", offline) is None and resolve_mode("auto", online) == "online"
    assert resolve_mode("disabled", online) is None and resolve_mode("offline", offline) == "offline"
    monkeypatch.setenv("WANDB_MODE", "online")
    assert resolve_mode("auto", offline) == "online"
