"""Running the stages in order: each from the last one's weights, skipped when already done.

Every stage has a key: a hash of what decides its result (the base model, the
data, the seed, the backend, the debug caps, and the settings of this stage and
every stage before it). The first run of a key works in its run folder's
`NN-<stage>/` and registers that folder under `<cache_dir>/stages/<key>.json`.
Running the same command again finds it:

- finished (`done.json` there): the stage is skipped, its saved adapter or model
  is applied, its metrics reused;
- unfinished (the process was killed): training resumes from its latest checkpoint.

The new run's `NN-<stage>` is then a link to that folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

from omegaconf import OmegaConf

from fine_tune.distributed import world_size
from fine_tune.outputs import file_lock, write_json_atomic

log = logging.getLogger(__name__)
DONE = "done.json"


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
        chain.append([name, OmegaConf.to_container(cfg.method[name], resolve=True)])
        blob = json.dumps({**fixed, "chain": chain}, sort_keys=True, default=str)
        keys.append(hashlib.sha256(blob.encode()).hexdigest()[:16])
    return keys


def stage_lock(cache_dir: str, key: str, name: str):
    """Held while a stage of `key` trains: a parallel job with the same stage waits, then skips it.

    Without it, that job would adopt the unfinished folder and train in it at the same time.
    A multi-process job's processes train the stage together, so they take no lock.
    """
    if world_size() > 1:
        return contextlib.nullcontext()
    return file_lock(Path(cache_dir).expanduser() / "stages" / f"{key}.lock",
                     waiting=f"stage {name}: another job is training the same stage; waiting to reuse it")


def stage_dir(run_dir: Path, index: int, name: str, key: str, cache_dir: str) -> Path:
    """The folder stage `index` works in: a registered earlier one for `key`, else a new one."""
    here = run_dir / f"{index:02d}-{name}"
    registry = Path(cache_dir).expanduser() / "stages" / f"{key}.json"
    try:
        earlier = Path(json.loads(registry.read_text())["dir"])
    except (OSError, ValueError, KeyError):
        earlier = None
    if earlier is not None and earlier.is_dir() and earlier.resolve() != here.resolve():
        try:
            os.symlink(earlier, here, target_is_directory=True)
        except FileExistsError:  # this job's other process, or an earlier attempt, made it
            pass
        return here
    here.mkdir(parents=True, exist_ok=True)
    write_json_atomic(registry, {"dir": str(here.resolve()), "key": key})
    return here


def finished_metrics(folder: Path, key: str) -> dict | None:
    """The metrics of a finished stage of this key, or None."""
    try:
        done = json.loads((folder / DONE).read_text())
    except (OSError, ValueError):
        return None
    return done["metrics"] if done.get("key") == key else None


def mark_done(folder: Path, key: str, metrics: dict) -> None:
    write_json_atomic(folder / DONE, {"key": key, "metrics": metrics})


def last_checkpoint(folder: Path) -> str | None:
    """The latest complete checkpoint: a kill while saving leaves one without trainer_state.json."""
    complete = [p for p in (folder / "checkpoints").glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return str(max(complete, key=lambda p: int(p.name.rsplit("-", 1)[1]))) if complete else None


def apply_saved(model, folder: Path):
    """The model after a finished stage: its adapter merged in, or its saved full model."""
    if (folder / "adapter").is_dir():
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(folder / "adapter")).merge_and_unload()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder / "model"), dtype=model.dtype).to(model.device)
