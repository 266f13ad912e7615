"""The one owner of the cache folder (cfg.cache_dir, default ~/.cache/fine-tune; FINE_TUNE_CACHE moves it).

Every cache asks here for its place, so the folder is expanded once (a `~` cache never lands in a
folder literally named `~`) and its layout is readable in one list:

    curated/<key>.json          data=curated's rows, by source and curation config (fine_tune.data.pipeline)
    datasets/<variant>-<key>/   tokenised sets (fine_tune.data.arrow_cache)
    models/tiny-<key>/          built tiny bases (fine_tune.models.tiny)
    generations/<key>.jsonl     a base model's eval generations, shared by a sweep's jobs
    stages/<key>.json|.lock     where a stage's finished work lives (fine_tune.stages.chain)
    jobs/<key>.json             finished sweep jobs, for reuse (fine_tune.jobs)
    judgments.sqlite            every judge verdict (fine_tune.evaluation.judge_cache)
    deepeval/                   deepeval's own cache
    optuna/<study>.sqlite       Optuna studies (conf/hparams_search/optuna.yaml)
"""

from __future__ import annotations

from pathlib import Path


def cache_path(cache_dir: str | Path, *parts: str) -> Path:
    """`<cache_dir>/<parts...>`, with `~` expanded."""
    return Path(cache_dir).expanduser().joinpath(*parts)
