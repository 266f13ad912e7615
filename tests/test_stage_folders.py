"""A stage folder holds only its own config's work, and no run depends on another run's folder.

A kill during the stage's final save is reproduced by a save that dies (the checkpoint of the
last step is on disk, the adapter is not): exactly the state a kill there leaves, in seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_in_process

SMOKE = ["debug=smoke", "method=sft", "method.sft.save_steps=2", "eval.enabled=false"]


def _run(monkeypatch, run_dir: Path, cache_dir: Path, *extra: str) -> dict:
    extra = ("logger=none", *extra) if not any(e.startswith("logger=") for e in extra) else extra
    status, stderr = run_in_process("fine-tune", [*SMOKE, f"cache_dir={cache_dir}", f"hydra.run.dir={run_dir}",
                                                  *extra], monkeypatch)
    assert status == 0, stderr[-3000:]
    return json.loads((run_dir / "metrics.json").read_text())


def _killed_during_the_final_save(monkeypatch, run_dir: Path, cache_dir: Path, *extra: str) -> None:
    import fine_tune.stages as stages

    def killed(target, write):
        (target.parent / f".{target.name}.partial-999999").mkdir()  # a SIGKILL would leave the staging folder
        raise RuntimeError("killed while saving")

    with monkeypatch.context() as patch:
        patch.setattr(stages, "write_folder_atomic", killed)
        with pytest.raises(RuntimeError, match="killed while saving"):
            run_in_process("fine-tune", [*SMOKE, "logger=none", f"cache_dir={cache_dir}", f"hydra.run.dir={run_dir}",
                                         *extra], patch)
    assert (run_dir / "01-sft" / "checkpoints" / "checkpoint-6" / "trainer_state.json").is_file()
    assert not (run_dir / "01-sft" / "done.json").exists()


def test_a_checkpoint_of_another_config_is_moved_aside_not_resumed(tmp_path, cache_dir, monkeypatch):
    run = tmp_path / "run"
    _killed_during_the_final_save(monkeypatch, run, cache_dir, "seed=201")
    # the user changes a setting and reruns into the same folder
    metrics = _run(monkeypatch, run, cache_dir, "seed=201", "method.sft.learning_rate=3e-4")
    stage = metrics["stages"]["sft"]
    assert stage["resumed_from"] is None and stage["global_steps"] == 6  # trained anew, not past max_steps
    (aside,) = (run / ".stale").glob("01-sft-*")  # kept for the user, out of the run's way
    assert (aside / "checkpoints" / "checkpoint-6").is_dir()
    assert json.loads((run / "01-sft" / "stage.json").read_text())["key"] != aside.name.split("-", 2)[2]
    assert "held the work of another config" in (run / "cli.log").read_text()


def test_a_save_killed_at_the_last_step_is_loaded_and_its_staging_folder_removed(tmp_path, cache_dir, monkeypatch):
    run = tmp_path / "run"
    _killed_during_the_final_save(monkeypatch, run, cache_dir, "seed=202")
    assert list((run / "01-sft").glob(".*.partial-*"))
    metrics = _run(monkeypatch, run, cache_dir, "seed=202")
    stage = metrics["stages"]["sft"]
    assert stage["global_steps"] == 6 and stage["resumed_from"].endswith("checkpoint-6")  # 6 of 6, not 7
    assert not list((run / "01-sft").glob(".*.partial-*"))
    assert (run / "01-sft" / "model" / "model.safetensors").is_file()


def test_deleting_the_run_a_stage_was_reused_from_leaves_the_reusing_run_whole(tmp_path, cache_dir, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    trained = _run(monkeypatch, first, cache_dir, "seed=203")
    reused = _run(monkeypatch, second, cache_dir, "seed=203")
    stage = reused["stages"]["sft"]
    assert stage["skipped"] and stage["reused_from"] == str((first / "01-sft").resolve())
    assert stage["train_loss_steps"] == trained["stages"]["sft"]["train_loss_steps"]
    assert not (second / "01-sft").is_symlink()
    saved = second / "01-sft" / "model" / "model.safetensors"  # stored once: a hard link, not a copy
    assert saved.stat().st_ino == (first / "01-sft" / "model" / "model.safetensors").stat().st_ino

    shutil.rmtree(first)  # an old outputs/ day, cleaned up
    status, stderr = run_in_process("fine-tune-export", [str(second), "--out", str(tmp_path / "exported")],
                                    monkeypatch)
    assert status == 0, stderr[-2000:]
    assert (tmp_path / "exported" / "model.safetensors").is_file()
    third = _run(monkeypatch, tmp_path / "third", cache_dir, "seed=203")  # the registry still finds a copy
    assert third["stages"]["sft"]["skipped"] and third["stages"]["sft"]["reused_from"] == str(
        (second / "01-sft").resolve())



def test_a_resumed_stage_reports_what_an_uninterrupted_one_does(tmp_path, cache_dir, monkeypatch):
    from transformers import Trainer

    # 10 steps, a loss logged every 2 and a checkpoint every 3: the kill falls inside a logging window
    args = ["seed=206", "debug.max_steps=null", "method.sft.max_steps=10", "method.sft.logging_steps=2",
            "method.sft.save_steps=3"]
    whole = _run(monkeypatch, tmp_path / "whole", tmp_path / "cache-whole", *args)["stages"]["sft"]
    # the same base model (copied), but no registered stage: the killed run cannot adopt the finished one
    cache_dir = tmp_path / "cache-killed"
    shutil.copytree(tmp_path / "cache-whole" / "models", cache_dir / "models")

    real_save = Trainer._save_checkpoint

    def killed_after_step_6(self, *a, **kw):
        real_save(self, *a, **kw)
        if self.state.global_step == 6:
            raise RuntimeError("killed after checkpoint-6")

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_save_checkpoint", killed_after_step_6)
        with pytest.raises(RuntimeError, match="killed after checkpoint-6"):
            run_in_process("fine-tune", [*SMOKE, "logger=none", f"cache_dir={cache_dir}",
                                         f"hydra.run.dir={tmp_path / 'run'}", *args], patch)
    resumed = _run(monkeypatch, tmp_path / "run", cache_dir, *args)["stages"]["sft"]
    assert resumed["resumed_from"].endswith("checkpoint-6") and resumed["global_steps"] == 10

    assert resumed["train_tokens"] == whole["train_tokens"] > 0  # every step's tokens, not the last 4 steps'
    assert [s["step"] for s in resumed["train_loss_steps"]] == [s["step"] for s in whole["train_loss_steps"]]
    assert resumed["mean_train_loss"] == pytest.approx(whole["mean_train_loss"], rel=1e-4)
    losses = [s["loss"] for s in whole["train_loss_steps"]]
    assert min(losses) < whole["mean_train_loss"] < max(losses)


def test_every_stage_of_a_job_has_a_wandb_run_reused_ones_naming_the_run_that_trained_them(tmp_path, cache_dir,
                                                                                           monkeypatch):
    from wandb_offline import run_contents

    wandb = ["logger=wandb", "logger.mode=offline", "method=[sft,dpo]", "seed=207", "logger.group=study-207"]
    first, second = tmp_path / "first", tmp_path / "second"
    _run(monkeypatch, first, cache_dir, *wandb)
    _run(monkeypatch, second, cache_dir, *wandb)  # both stages reused

    def runs(folder):
        contents = [run_contents(f) for f in sorted(folder.glob("wandb/offline-run-*/run-*.wandb"))]
        return {c["run"]["job_type"]: c for c in contents}

    trained, reused = runs(first), runs(second)
    assert sorted(trained) == sorted(reused) == ["dpo", "sft"]  # job type: always the stage, never "eval"
    for stage in ("sft", "dpo"):
        assert "reused" in reused[stage]["run"]["tags"] and "reused" not in trained[stage]["run"]["tags"]
        source = reused[stage]["config"]["reused_from_run"]
        assert source and source == json.loads((first / "metrics.json").read_text())["stages"][stage]["wandb_run_id"]
    assert reused["dpo"]["summary"]["stage/global_steps"] == 6
    assert {c["run"]["group"] for c in [*trained.values(), *reused.values()]} == {"study-207"}  # logger.group


def test_the_readme_layout_is_run_folder_s_and_a_finished_run_holds_nothing_outside_it(tmp_path, cache_dir,
                                                                                         monkeypatch):
    import fnmatch
    import re

    from conftest import REPO

    from fine_tune.run_folder import LAYOUT, layout_table

    assert layout_table() in (REPO / "README.md").read_text()
    run = tmp_path / "run"
    _run(monkeypatch, run, cache_dir, "seed=209", "logger=wandb", "eval.enabled=true", "method=[sft,dpo]")
    patterns = []
    for path in LAYOUT:
        top = path.split("/")[0] + ("/" if "/" in path else "")
        top = top.replace("NN-<stage>", "[0-9][0-9]-*")
        patterns += [top.replace("{json,md}", ext) for ext in ("json", "md")] if "{" in top else [top]
    entries = [p.name + ("/" if p.is_dir() else "") for p in run.iterdir()]
    assert [e for e in entries if not any(fnmatch.fnmatch(e, pattern) for pattern in patterns)] == []
    assert {"01-sft/", "02-dpo/", "generations/", "eval/", "wandb/", "metrics.json", "process.json"} <= set(entries)
    assert all(re.fullmatch(r"\d\d-\w+/", e) for e in entries if e[0].isdigit())
