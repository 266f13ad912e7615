"""data=raw and data=curated over the embedded world, and the fine-tune-data command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO, shared_data

from fine_tune.config import compose
from fine_tune.data.pipeline import load_splits


def test_raw_and_curated_share_the_eval_set():
    raw = load_splits(compose(["data=raw"]).data, show_progress=False)
    curated = load_splits(compose(["data=curated"]).data, show_progress=False)
    assert [r["id"] for r in raw.eval] == [r["id"] for r in curated.eval]
    assert 470 <= len(curated.eval) <= 476  # the reference study's 472, stratified per skill
    assert len(raw.train) > 12000 and len(curated.train) < len(raw.train)
    assert raw.report["steps"] == [] and raw.rejects == []
    assert len(curated.train) + len(curated.rejects) == len(raw.train)
    # raw carries the embedded world's 24 planted paraphrases of eval prompts; curation removes them
    planted = {r["source_id"] for r in raw.train if r["defect"] == "contamination"}
    in_eval_order = [r["id"] for r in raw.eval if r["id"] in planted]
    assert len(planted) == 24 and raw.report["contaminated_eval"] == {"ngram": 13, "count": 24, "ids": in_eval_order}
    assert curated.report["contaminated_eval"]["count"] == 0


def test_max_samples_and_fraction_shrink_train_rows():
    splits = load_splits(compose(["data=raw", "data.max_samples=50"]).data, show_progress=False)
    assert len(splits.train) == 50 and splits.report["train_rows"] == 50
    full = len(load_splits(compose(["data=raw"]).data, show_progress=False).train)
    splits = load_splits(compose(["data=raw", "data.fraction=0.1"]).data, show_progress=False)
    assert abs(len(splits.train) - full / 10) <= 2


def test_fine_tune_data_prints_the_report_and_writes_rejects(tmp_path):
    alpaca = shared_data("llamafactory_demo") / "alpaca_en_demo.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), FINE_TUNE_CACHE=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, "-m", "fine_tune.data_cli", f"data.source.path={alpaca}", f"hydra.run.dir={tmp_path / 'out'}"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "exact_dedup" in result.stdout and "train" in result.stdout
    report = json.loads((tmp_path / "out" / "data_report.json").read_text())
    rejects = (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    assert report["rows_read"] == 999 and report["format"] == "alpaca"
    assert report["train_rows"] + report["eval_rows"] + len(rejects) == 999
    assert not list((tmp_path / "out").glob("metrics.json"))  # no training happened


def test_fine_tune_data_bad_path_is_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("HYDRA_FULL_ERROR", None)
    result = subprocess.run(
        [sys.executable, "-m", "fine_tune.data_cli", "data.source.path=/no/such.jsonl", f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "fine-tune-data: error: data.source.path '/no/such.jsonl' does not exist" in result.stderr


def test_a_max_samples_below_one_is_an_error_not_a_slice():
    import pytest

    from fine_tune.config_ranges import check_config
    from fine_tune.errors import UserError

    for bad in (0, -5):  # [:-5] would train on all rows but the last five; [:0] on none
        with pytest.raises(UserError, match=rf"data.max_samples={bad}: must be at least 1"):
            check_config(compose(["data=raw", f"data.max_samples={bad}"]))


def test_preference_pairs_that_prefer_nothing_are_an_error():
    import pytest

    from fine_tune.data.preferences import preference_rows
    from fine_tune.errors import UserError

    rows = [{"id": f"r{i}", "prompt": "p", "chosen": "same", "rejected": "same "} for i in range(3)]
    with pytest.raises(UserError, match="every one of the 3 train preference pairs has chosen equal to rejected"):
        preference_rows(rows, 0, "train")
    rows[0]["rejected"] = "other"
    assert len(preference_rows(rows, 0, "train")) == 3  # some equal pairs: a warning, the rest still teach


def test_data_too_small_to_train_or_measure_is_an_error_naming_the_sizes():
    import types

    import pytest

    from fine_tune.errors import UserError
    from fine_tune.train import check_sizes

    cfg = compose(["debug=smoke"])  # batch 4
    row = {"id": "r", "prompt": "p", "response": "a"}
    with pytest.raises(UserError, match=r"1 train rows and no eval rows: .*data.eval_fraction \(now 0.05\)"):
        check_sizes(cfg, types.SimpleNamespace(train=[row], eval=[]))
    with pytest.raises(UserError, match=r"3 train rows are fewer than one batch of 4 \(sft_cot\): .*batch_size=3 or lower"):
        check_sizes(cfg, types.SimpleNamespace(train=[row] * 3, eval=[row]))
    # a stage's own batch is the one it trains with (resolve_stage), not the model preset's 16
    own = compose(["method=sft_cot", "method.sft_cot.per_device_train_batch_size=2"])
    check_sizes(own, types.SimpleNamespace(train=[row] * 3, eval=[row]))
    pair = {**row, "chosen": "a", "rejected": "b"}
    check_sizes(cfg, types.SimpleNamespace(train=[pair] * 4, eval=[row]))
    with pytest.raises(UserError, match=r"method dpo needs preference pairs"):  # the default chain has dpo
        check_sizes(cfg, types.SimpleNamespace(train=[row] * 4, eval=[row]))
    check_sizes(compose(["debug=smoke", "method=sft"]), types.SimpleNamespace(train=[row] * 4, eval=[row]))
