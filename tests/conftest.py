"""Shared fixtures: composing configs, a per-session model cache, the shared data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# Nothing in the suite may reach a hub or a tracking server.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "YES")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One model cache for the whole session: the smoke tiny model is built once."""
    return tmp_path_factory.mktemp("cache")


def shared_data(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"../shared/data/{name} is absent: the public data sets live beside the checkout")
    return folder


def run_module(run_dir: Path, cache: Path, *args: str, module: str = "fine_tune", check: bool = True,
               timeout: float = 600, unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` as a user runs it, beside `run_dir`, on the test session's cache.

    `unset`: variables of this environment the command must not see (HYDRA_FULL_ERROR would turn a
    user's one-line config error into Hydra's traceback; WANDB_MODE would override logger.mode).
    """
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(FINE_TUNE_CACHE=str(cache), PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env,
                            timeout=timeout, cwd=run_dir.parent, check=False)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def run_in_process(command: str, args: list[str], monkeypatch) -> tuple[int, str]:
    """Run console script `command` (pyproject's [project.scripts]) in this process: (exit status, stderr).

    In-process, a config mistake costs what it costs a user minus the interpreter's start; the
    heavy imports are paid once per test session.
    """
    import contextlib
    import importlib
    import io
    import logging
    import sys

    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts[command].partition(":")
    main = getattr(importlib.import_module(module), name)
    # run_reporting_errors sets it to "1" for Hydra: setenv (not delenv) has it removed again afterwards
    monkeypatch.setenv("HYDRA_FULL_ERROR", "")
    monkeypatch.setattr(sys, "argv", [command, *args])
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    # a buffer of its own, never closed: a library that binds a log handler to sys.stderr during the
    # run (Hydra, transformers) keeps a stream it can write to after the test
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            main()
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        for handler in root.handlers:  # Hydra's console and log-file handlers: not the next test's
            if handler not in handlers:
                handler.close()
        root.handlers[:], root.level = handlers, level
    return status, stderr.getvalue()
