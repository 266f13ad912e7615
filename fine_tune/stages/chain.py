"""Running the stages in order: each from the last one's weights, skipped when already done.

Every stage has a key: a hash of what decides its result (the base model, the
data, the seed, the backend, the debug caps, and the settings of this stage and
every stage before it, with what the run's budget sets for each: fine_tune.budget).
A stage always works in its own run's `NN-<stage>/`,
which records its key in `stage.json`; the folders holding a key's work are
registered under `<cache_dir>/stages/<key>.json`. Running the same stage again:

- finished elsewhere (`done.json` there): its saved adapter or model and done.json
  are hard-linked (copied across disks) into this run's folder, so deleting either
  run never breaks the other; the stage is skipped and its metrics reused;
- unfinished elsewhere (a killed attempt): its latest checkpoint is linked in the
  same way and training resumes from it;
- this folder holds another key's work (the config changed since a killed
  attempt): that work is moved aside to `.stale/`, never resumed from.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
from pathlib import Path

from omegaconf import OmegaConf

from fine_tune.budget import StageBudget, stage_budget
from fine_tune.cache import cache_path
from fine_tune.distributed import barrier, is_main, world_size
from fine_tune.outputs import content_key, file_lock, link_tree, write_json_atomic
from fine_tune.run_folder import RunFolder, StageFolder

log = logging.getLogger(__name__)
REMEMBERED = 8  # folders registered per key: the newest that still exists is adopted from


def stage_keys(cfg, stages: list[str], source: str, fingerprints: dict) -> list[str]:
    """One key per stage, each covering every stage up to it."""
    fixed = {
        "model": OmegaConf.to_container(cfg.model, resolve=True), "source": source, "data": fingerprints,
        "instruction": cfg.data.answer_instruction,  # the prompts the stages train on
        "seed": cfg.seed, "backend": str(cfg.backend.name), "debug": OmegaConf.to_container(cfg.debug, resolve=True),
        "processes": world_size(),  # more processes, larger effective batch: another result
    }
    keys, chain = [], []
    for name in stages:
        entry = [name, OmegaConf.to_container(cfg.method[name], resolve=True)]
        budget = stage_budget(cfg, name)
        if budget != StageBudget():  # budget=epochs leaves the key as it was: earlier work stays reusable
            entry.append(dataclasses.asdict(budget))
        chain.append(entry)
        keys.append(content_key({**fixed, "chain": chain}))
    return keys


def stage_lock(cache_dir: str, key: str, name: str):
    """Held while a stage of `key` trains: a parallel job with the same stage waits, then skips it.

    Without it, that job would adopt the unfinished folder and train in it at the same time.
    A multi-process job's processes train the stage together, so they take no lock.
    """
    if world_size() > 1:
        return contextlib.nullcontext()
    return file_lock(cache_path(cache_dir, "stages", f"{key}.lock"),
                     waiting=f"stage {name}: another job is training the same stage; waiting to reuse it")


def stage_dir(run_dir: Path, index: int, name: str, key: str, cache_dir: str) -> Path:
    """This run's own folder for stage `index`, holding only `key`'s work (see the module docstring)."""
    here = RunFolder(run_dir).stage(index, name)
    if is_main():  # a multi-process job's other processes wait for the folder, then read it
        _set_aside_other_work(here, key)
        here.mkdir(parents=True, exist_ok=True)
        for leftover in here.glob(".*.partial-*"):  # a save killed midway; the lock says no one else writes
            shutil.rmtree(leftover, ignore_errors=True)
        if not StageFolder(here).owner.is_file():
            write_json_atomic(StageFolder(here).owner, {"key": key})
        if finished_metrics(here, key) is None:
            _adopt_earlier(here, key, _registered(cache_dir, key))
        _register(cache_dir, key, here)
    barrier()
    return here


def _owner(folder: Path) -> str | None:
    for marker in (StageFolder(Path()).owner.name, StageFolder(Path()).done.name):
        try:
            return json.loads((folder / marker).read_text())["key"]
        except (OSError, ValueError, KeyError):
            continue
    return None


def _set_aside_other_work(here: Path, key: str) -> None:
    """Move a folder holding another config's work out of the way: resuming it would train the wrong run."""
    if here.is_symlink():  # an older version's link into another run: that run keeps its folder
        here.unlink()
        return
    if not here.is_dir() or not any(here.iterdir()):
        return
    owner = _owner(here)
    if owner == key:
        return
    aside = RunFolder(here.parent).stale / f"{here.name}-{owner or 'unknown'}"
    aside.parent.mkdir(exist_ok=True)
    shutil.rmtree(aside, ignore_errors=True)
    here.rename(aside)
    log.warning("stage folder %s held the work of another config (key %s, this one is %s): moved aside to %s; "
                "the stage starts anew", here, owner or "unknown", key, aside)


def _registry(cache_dir: str, key: str) -> Path:
    return cache_path(cache_dir, "stages", f"{key}.json")


def _registered(cache_dir: str, key: str) -> list[Path]:
    try:
        entry = json.loads(_registry(cache_dir, key).read_text())
    except (OSError, ValueError):
        return []
    return [Path(d) for d in entry.get("dirs", [entry["dir"]] if "dir" in entry else [])]


def _register(cache_dir: str, key: str, here: Path) -> None:
    folders = [str(here.resolve())] + [str(d) for d in _registered(cache_dir, key) if d.is_dir()]
    write_json_atomic(_registry(cache_dir, key), {"key": key, "dirs": list(dict.fromkeys(folders))[:REMEMBERED]})


def _adopt_earlier(here: Path, key: str, earlier: list[Path]) -> None:
    """Link in the finished work of `key` from another folder, else its latest checkpoint if newer than ours."""
    others = [d for d in earlier if d.is_dir() and d.resolve() != here.resolve() and _owner(d) == key]
    for other in others:
        if finished_metrics(other, key) is not None:
            link_finished(other, here)
            write_json_atomic(StageFolder(here).owner, {"key": key, "adopted_from": str(other)})
            log.info("stage %s: finished before in %s; its saved weights are linked in", here.name, other)
            return
    checkpoints = [(c, o) for c, o in ((last_checkpoint(o), o) for o in others) if c]
    best, source = max(checkpoints, key=lambda c: _step(c[0]), default=(None, None))
    if best and _step(best) > _step(last_checkpoint(here)):
        link_tree(Path(best), StageFolder(here).checkpoints / Path(best).name)
        log.info("stage %s: a killed attempt in %s reached %s; resuming from it", here.name, source, Path(best).name)


def link_finished(source: Path, target: Path) -> None:
    """A finished stage's saved adapter or model (hard links) and its done.json, from `source` into `target`:
    the stage reuse here and a sweep job's copy (fine_tune.jobs) both go through it."""
    for saved, into in zip(StageFolder(source).saved, StageFolder(target).saved):
        if saved.is_dir():
            shutil.rmtree(into, ignore_errors=True)
            link_tree(saved, into)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(StageFolder(source).done, StageFolder(target).done)


def _step(checkpoint: str | None) -> int:
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else -1


def adopted_from(folder: Path) -> str:
    """Where the folder's finished work was made: another run's stage folder, or this one."""
    try:
        return json.loads(StageFolder(folder).owner.read_text())["adopted_from"]
    except (OSError, ValueError, KeyError):
        return str(folder.resolve())


def finished_metrics(folder: Path, key: str) -> dict | None:
    """The metrics of a finished stage of this key, or None."""
    try:
        done = json.loads(StageFolder(folder).done.read_text())
    except (OSError, ValueError):
        return None
    return done["metrics"] if done.get("key") == key else None


def mark_done(folder: Path, key: str, metrics: dict) -> None:
    write_json_atomic(StageFolder(folder).done, {"key": key, "metrics": metrics})


def last_checkpoint(folder: Path) -> str | None:
    """The latest complete checkpoint: a kill while saving leaves one without trainer_state.json."""
    complete = [p for p in StageFolder(folder).checkpoints.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return str(max(complete, key=lambda p: _step(p.name))) if complete else None


def apply_saved(model, folder: Path):
    """The model after a finished stage: its adapter merged in, or its saved full model."""
    if StageFolder(folder).adapter.is_dir():
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(StageFolder(folder).adapter)).merge_and_unload()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(StageFolder(folder).model), dtype=model.dtype).to(model.device)
