"""data=raw and data=curated over the embedded world: same eval set, curation removes what it claims."""

from __future__ import annotations

from collections import Counter

from conftest import compose
from fine_tune.data.pipeline import exact_dedup, load_splits


def test_raw_and_curated_share_the_eval_set_and_curated_drops_exact_duplicates():
    raw = load_splits(compose(["data=raw"]).data, show_progress=False)
    curated = load_splits(compose(["data=curated"]).data, show_progress=False)
    assert [r["id"] for r in raw.eval] == [r["id"] for r in curated.eval]
    assert 470 <= len(curated.eval) <= 476  # the reference study's 472, stratified per skill
    # Whichever copy comes first is kept, so count content, not labels: exactly one
    # row per injected exact duplicate goes, and each removed row has a kept twin.
    n_duplicates = Counter(r["defect"] for r in raw.train)["exact_duplicate"]
    kept_ids = {r["id"] for r in curated.train}
    removed = [r for r in raw.train if r["id"] not in kept_ids]
    assert len(removed) == n_duplicates > 0
    content = lambda r: (r["prompt"], r["cot"], r["answer"])  # noqa: E731
    kept_content = {content(r) for r in curated.train}
    assert all(content(r) in kept_content for r in removed)
    step = curated.report["steps"][0]
    assert step["rows_in"] - step["rows_out"] == n_duplicates
    assert len(raw.train) > 12000 > len(curated.train) > 11000


def test_exact_dedup_keeps_first_and_reports_the_rest():
    row = {"prompt": "What is 2 + 2?", "answer": "4", "cot": "2 + 2 = 4."}
    twin = dict(row, prompt="  what is 2 + 2? ")  # same after normalisation
    other = dict(row, answer="5")
    kept, removed = exact_dedup([row, twin, other])
    assert kept == [row, other] and removed == [twin]


def test_max_samples_caps_train_rows():
    splits = load_splits(compose(["data.max_samples=50"]).data, show_progress=False)
    assert len(splits.train) == 50 and splits.report["train_rows"] == 50
