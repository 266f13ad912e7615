"""User mistakes, and how a config error becomes one line that says what and where.

`UserError` is raised by the project's own checks (a model path that does not
exist, a stage that is not available yet). `describe` turns it, and the errors
Hydra and OmegaConf raise while composing a config, into a one-line message;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import re
import sys

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from fine_tune.config import conf_dir

KEY_ERRORS = (ConfigKeyError, ConfigAttributeError)


class UserError(Exception):
    """A mistake in the user's config, data or environment; the message says how to fix it."""


def _first_line(text: str) -> str:
    return " ".join(text.strip().splitlines()[0].split()) if text.strip() else text


def _is_abbreviation(short: str, full: str) -> bool:
    """'lrr' abbreviates 'learning_rate': its letters appear in order, first letter first."""
    letters = iter(full)
    return bool(short) and short[0] == full[0] and all(ch in letters for ch in short)


def _closest(word: str, choices: list[str]) -> str:
    # A near-identical spelling first ('sftt' -> 'sft'), then an abbreviation
    # ('lrr' -> 'learning_rate'), then a looser spelling match.
    match = (
        difflib.get_close_matches(word, choices, n=1, cutoff=0.75)
        or [c for c in choices if _is_abbreviation(word, c)]
        or difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    )
    return f" (did you mean '{match[0]}'?)" if match else ""


def _unknown_key(err: OmegaConfBaseException) -> str:
    full_key = err.full_key or str(err.key)
    where = full_key.rsplit(".", 1)[0] if "." in full_key else "the top level"
    if where == "method":  # `method` holds only the selected stages
        return (
            f"unknown config key '{full_key}': stage '{err.key}' is not selected; "
            f"select it first, e.g. method={err.key} or method=[sft_cot,{err.key}], then set {full_key}.<setting>"
        )
    if where.endswith(".trl_args"):  # an open set of TRL's names: Hydra adds a key with a leading +
        return (f"'{full_key}' is a new key: add it with a leading +, e.g. +{full_key}=<value> (any argument "
                "of the stage's TRL config)")
    valid = [f.name for f in dataclasses.fields(err.object_type)] if dataclasses.is_dataclass(err.object_type) else []
    hint = _closest(str(err.key), valid)
    listing = f"; valid keys of {where}: {', '.join(valid)}" if valid else ""
    return f"unknown config key '{full_key}'{hint}{listing}"


def _options_on_disk(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml")) if group else []


def _missing_option(err: MissingConfigException) -> str:
    found = re.search(r"Could not (?:find|load) '([^']+)'", str(err))
    missing = found.group(1) if found else str(err.missing_cfg_file)
    group, _, option = missing.rpartition("/")
    choices = list(err.options or []) or _options_on_disk(group)  # a multi-select's miss comes without them
    if group and choices:
        hint = _closest(option, choices)
        return f"unknown option '{option}' for config group '{group}'{hint}; valid options: {', '.join(choices)}"
    return _first_line(str(err))


def _omegaconf(err: OmegaConfBaseException) -> str:
    if isinstance(err, KEY_ERRORS):
        return _unknown_key(err)
    key = getattr(err, "full_key", None)
    if isinstance(err, MissingMandatoryValue) and key:
        return f"config key '{key}' needs a value: add {key}=<value> to the command line"
    msg = getattr(err, "msg", None) or str(err)
    where = f"bad value for config key '{key}': " if key else ""
    return where + _first_line(msg)


# safetensors' and tokenizers' Rust writers drop the errno: only the OS's words are left
_NO_SPACE_WORDS = ("No space left on device", "Disk quota exceeded")


def is_no_space(err: BaseException) -> bool:
    """Whether `err` is the OS saying the disk (or the user's quota) is full."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(words in str(err) for words in _NO_SPACE_WORDS)


def no_space_line(where: str) -> str:
    """The one line for a full disk; `where` says which disk and what was being written."""
    return (f"no space left on the disk{where}: free some space and rerun the same command; files written "
            "before are kept and finished stages are reused")


def describe(err: BaseException) -> str | None:
    """A one-line message for a user mistake, or None for a bug (keep the traceback)."""
    if isinstance(err, UserError):
        return _first_line(str(err))
    if isinstance(err, MissingConfigException):
        return _missing_option(err)
    if isinstance(err, OverrideParseException):
        return "cannot parse command-line override: " + _first_line(str(err))
    # a mistake inside a preset file: Hydra's message names the file ("In 'experiment/x': ..."), its cause the key
    preset = re.match(r"In '([^']+)'", str(err)) if isinstance(err, ConfigCompositionException) else None
    cause: BaseException | None = err
    while cause is not None:  # Hydra wraps OmegaConf's error (as cause, or raised while handling it)
        if isinstance(cause, (ValidationError, MissingMandatoryValue, *KEY_ERRORS)):
            return (f"in preset '{preset.group(1)}': " if preset else "") + _omegaconf(cause)
        cause = cause.__cause__ or cause.__context__
    if isinstance(err, ConfigCompositionException):
        return _first_line(str(err))
    if is_no_space(err):  # a write no fine_tune.disk.writing block wrapped: still one line, not a traceback
        return no_space_line(f" writing '{err.filename}'" if getattr(err, "filename", None) else "")
    if isinstance(err, PermissionError) or (isinstance(err, OSError) and err.filename):
        return f"cannot write or read '{err.filename}': {err.strerror}"
    return None


def _in_a_sweep_job() -> bool:
    """Whether this is one job of a Hydra multirun: there an error must reach Hydra, which records the job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode != RunMode.RUN


def exit_on_error(prog: str, work, job: bool = False):
    """Return `work()`; a user mistake (see describe) ends the process with one line and status 2.

    Anything describe does not recognise is a bug and keeps its traceback. With `job` (the body of a
    Hydra task) a mistake inside a sweep propagates instead: Hydra's launcher records that job as
    failed and the other jobs go on.
    """
    try:
        return work()
    except Exception as err:  # noqa: BLE001 - sorted into user errors and bugs by describe
        message = describe(err)
        if message is None or (job and _in_a_sweep_job()):
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        sys.exit(2)
