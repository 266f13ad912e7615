"""The curation steps one by one, the pipeline against the generator's labels, caching, reports."""

from __future__ import annotations

import json

import pytest
from conftest import shared_data

from fine_tune.config import compose
from fine_tune.data.curation import curate
from fine_tune.data.curation.balance import balance
from fine_tune.data.curation.decontaminate import contaminated_eval_ids, decontaminate
from fine_tune.data.curation.dedup import exact_dedup, near_dedup
from fine_tune.data.curation.labels import label_scores
from fine_tune.data.curation.noise import filter_noise
from fine_tune.data.curation.text import ngrams, row_text, words
from fine_tune.data.embedded import build_world
from fine_tune.data.pipeline import load_splits
from fine_tune.data.report import write_report
from fine_tune.data.schema import canonical
from fine_tune.errors import UserError


def row(i, prompt, response="Sure, here is a careful answer to that.", **extra):
    return canonical({"id": f"r{i}", "prompt": prompt, "response": response, **extra}, "test")


def curation_cfg(*overrides):
    return compose(["data=curated", *overrides]).data.curation


def test_exact_dedup_normalises_case_and_space_and_keeps_the_first():
    rows = [row(0, "Name three colours."), row(1, "  name THREE   colours. "), row(2, "Name four colours.")]
    kept, rejected = exact_dedup(rows)
    assert [r["id"] for r in kept] == ["r0", "r2"]
    assert rejected[0][0]["id"] == "r1" and "r0" in rejected[0][1]


def _spelled(i, answer):
    """The embedded world's format problem; a wrong copy differs from the right one in case only."""
    cot = f"The word is bed.\nIts letters in capitals are B-E-D.\nJoined: {answer}."
    return row(i, "Spell bed in capital letters.", answer=answer, cot=cot, check='{"kind": "text", "value": "BED"}')


def test_exact_dedup_keeps_the_copy_that_passes_its_checker():
    wrong, other, right = _spelled(0, "bed"), row(1, "Name four colours."), _spelled(2, "BED")
    kept, rejected = exact_dedup([wrong, other, right])
    assert kept == [other, right]  # kept rows keep their order
    assert rejected == [(wrong, "exact duplicate of r2 (the copy that passes its checker)")]
    assert exact_dedup([wrong, right], use_checkers=False)[0] == [wrong]  # no oracle: the first copy
    # the whole pipeline: the problem survives (before, noise then dropped the wrong copy it had kept)
    result = curate([wrong, other, right], [], curation_cfg(), show_progress=False)
    assert [r["id"] for r in result.rows] == ["r1", "r2"]
    assert [(x["step"], x["row"]["id"]) for x in result.rejects] == [("exact_dedup", "r0")]


def test_near_dedup_keeps_problems_with_other_numbers():
    rows = [row(0, "Put the numbers 1, 3, 2 in increasing order.", answer="[1, 2, 3]", cot="Sort: 1, 2, 3."),
            row(1, "Put the numbers 1, 3, 2, 2 in increasing order.", answer="[1, 2, 2, 3]", cot="Sort: 1, 2, 2, 3."),
            row(2, "Hi! Put the numbers 1, 3, 2 in increasing order.", answer="[1, 2, 3]", cot="Sort: 1, 2, 3.")]
    kept, rejected = near_dedup(rows, threshold=0.5, shingle_size=3, num_perm=128, show_progress=False)
    assert [r["id"] for r in kept] == ["r0", "r1"] and rejected[0][0]["id"] == "r2"


def test_near_dedup_catches_light_edits_and_keeps_different_rows():
    base = "Explain why the sky looks blue on a clear day, in two short sentences for a child."
    rows = [row(0, base), row(1, base.replace("short", "brief")), row(2, "List five prime numbers below twenty.")]
    kept, rejected = near_dedup(rows, threshold=0.7, shingle_size=3, num_perm=128, show_progress=False)
    assert [r["id"] for r in kept] == ["r0", "r2"] and "r0" in rejected[0][1]
    kept, _ = near_dedup(rows, threshold=0.95, shingle_size=3, num_perm=128, show_progress=False)
    assert len(kept) == 3  # the threshold is honoured
    with pytest.raises(UserError, match="near_dedup"):
        near_dedup(rows, threshold=0.999, shingle_size=3, num_perm=16, show_progress=False)


@pytest.mark.parametrize(
    "bad,reason",
    [
        (dict(prompt=""), "empty prompt"),
        (dict(response=""), "empty or truncated"),
        (dict(prompt="What is 2 + 2?", answer="", cot="2 + 2 ="), "truncated"),
        (dict(response="Caf\u00c3\u00a9 au lait is a coffee drink with milk."), "mojibake"),
        (dict(response="A zero\u200bwidth space hides here."), "non-printable"),
        (dict(response="spelled " * 20), "repetition"),
        (dict(prompt="What is 2 + 2?", answer="5", cot="2 + 2 = 5.", check='{"kind": "number", "value": 4}'),
         "fails its checker"),
        (dict(prompt="Hi"), "too short"),
    ],
)
def test_noise_filters_name_their_reason(bad, reason):
    good = row(0, "Describe a calm morning at the lake in one sentence.")
    rows = [good, {**row(1, "Describe a busy evening in the city in one sentence."), **bad}]
    kept, rejected = filter_noise(rows, curation_cfg().noise)
    assert kept == [good]
    assert reason in rejected[0][1]


def test_structured_rows_with_correct_answers_pass_the_noise_filter():
    ok = row(0, "What is 2 + 2?", answer="4", cot="2 + 2 = 4.", check='{"kind": "number", "value": 4}')
    assert filter_noise([ok], curation_cfg().noise) == ([ok], [])


def test_decontamination_drops_a_row_holding_an_eval_question():
    question = "a farmer has twelve cows and buys five more at the market on a sunny monday morning"
    eval_rows = [row(100, question.capitalize() + ". How many cows now?")]
    leaked = row(1, "Quick one: " + question + ". Count the cows.")  # half the eval prompt's 13-grams
    clean = row(2, "A baker bakes nine loaves and sells four of them before noon on a rainy day.")
    kept, rejected = decontaminate([leaked, clean], eval_rows, 13)
    assert kept == [clean] and "r100" in rejected[0][1] and "prompt's" in rejected[0][1]


def _sorting(i, numbers, lead=""):
    """A list-sorting row with the embedded world's insertion-sort reasoning."""
    steps, done = [f"Start with {numbers[0]}."], [numbers[0]]
    for x in numbers[1:]:
        done = sorted([*done, x])
        steps.append(f"Add {x}: {', '.join(map(str, done))}.")
    listed = ", ".join(map(str, numbers))
    return row(i, f"{lead}Put the numbers {listed} in increasing order.", answer=str(done),
               cot="\n".join(steps), check=f'{{"kind": "list", "value": {done}}}')


def test_templated_text_with_other_numbers_is_no_leak_a_paraphrase_is():
    eval_rows = [_sorting(100, [9, 3, 7, 1, 5]), _sorting(101, [4, 8, 2, 6, 0])]
    other = _sorting(1, [9, 3, 7, 2, 8])  # another problem that begins alike
    paraphrase = _sorting(2, [9, 3, 7, 1, 5], lead="Quick question: ")
    shared = ngrams(words(row_text(other)), 13) & ngrams(words(row_text(eval_rows[0])), 13)
    assert shared  # any-overlap at 13 words called it a leak
    kept, rejected = decontaminate([other, paraphrase], eval_rows, 13)
    assert kept == [other] and "r100" in rejected[0][1]


def test_boilerplate_many_eval_rows_share_is_no_evidence():
    preamble = "Read the question below with care and answer it in one short sentence of plain English. "
    eval_rows = [row(100 + i, preamble + q) for i, q in enumerate(["Why is snow white?", "Why do cats purr?"])]
    train = [row(1, preamble + "Why do bees buzz?"), row(2, "Hi! " + eval_rows[1]["prompt"])]
    assert contaminated_eval_ids(train, eval_rows, 13) == ["r101"]  # the paraphrase, not the shared preamble


def test_contaminated_eval_ids_finds_exactly_the_planted_leaks():
    world = build_world(clean_size=600, contamination=0.3, show_progress=False)
    raw = [canonical(r, "embedded") for r in world.raw]
    planted = {r["source_id"] for r in raw if r["defect"] == "contamination"}
    found = contaminated_eval_ids(raw, world.eval, 13)
    assert len(planted) == 9 and found == [r["id"] for r in world.eval if r["id"] in planted]
    assert contaminated_eval_ids(world.train_clean, world.eval, 13) == []


def test_balance_caps_a_dominant_skill():
    rows = [row(i, f"q{i} words here", skill="a") for i in range(10)] + \
           [row(10 + i, f"q{10 + i} words here", skill=s) for i, s in enumerate("bbccdd")]
    kept, rejected = balance(rows, max_skill_ratio=2.0)  # median 2 -> cap 4
    assert sum(r["skill"] == "a" for r in kept) == 4 and len(rejected) == 6


def test_pipeline_against_the_generator_labels():
    """benchmarks/curation.py's targets: every defect kind >= 95% removed, clean problems lost <= 0.2%."""
    world = build_world(show_progress=False)
    raw = [canonical(r, "embedded") for r in world.raw]
    result = curate(raw, world.eval, curation_cfg(), show_progress=False)
    assert len(result.rows) + len(result.rejects) == len(raw)  # nothing disappears silently
    scores = label_scores(raw, {r["id"] for r in result.rows})
    assert min(scores["per_defect"].values()) >= 0.95, scores
    assert scores["clean_lost"] <= 0.002 * scores["clean_problems"], scores  # the benchmark's target
    assert [s["step"] for s in result.steps] == ["exact_dedup", "noise", "near_dedup", "decontamination", "balance"]


def test_steps_switch_off_one_at_a_time():
    world = build_world(clean_size=600, show_progress=False)
    raw = [canonical(r, "embedded") for r in world.raw]
    result = curate(raw, world.eval, curation_cfg("data.curation.near_dedup.enabled=false",
                                                  "data.curation.noise.enabled=false"), show_progress=False)
    assert [s["step"] for s in result.steps] == ["exact_dedup", "decontamination", "balance"]


def test_curated_set_is_cached_by_source_and_config(tmp_path, monkeypatch):
    import fine_tune.data.pipeline as pipeline

    calls = []
    real = pipeline.curate
    monkeypatch.setattr(pipeline, "curate", lambda *a, **k: calls.append(1) or real(*a, **k))
    small = ["data.embedded.clean_size=600"]
    first = load_splits(compose(small).data, str(tmp_path), show_progress=False)
    again = load_splits(compose(small).data, str(tmp_path), show_progress=False)
    assert len(calls) == 1 and again.fingerprints == first.fingerprints
    load_splits(compose([*small, "data.curation.near_dedup.threshold=0.9"]).data, str(tmp_path), show_progress=False)
    load_splits(compose([*small, "data.embedded.seed=1"]).data, str(tmp_path), show_progress=False)
    assert len(calls) == 3  # a changed config or source rebuilds


def test_report_and_rejects_files(tmp_path):
    splits = load_splits(compose(["data.embedded.clean_size=600"]).data, show_progress=False)
    write_report(splits.report, splits.rejects, tmp_path)
    report = json.loads((tmp_path / "data_report.json").read_text())
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    removed = sum(s["rows_in"] - s["rows_out"] for s in report["steps"])
    assert removed == len(rejects) > 0 and all(r["reason"] and r["step"] for r in rejects)
    markdown = (tmp_path / "data_report.md").read_text()
    assert "| near_dedup |" in markdown and "Eval prompts found in the train rows" in markdown
    assert report["contaminated_eval"] == {"ngram": 13, "count": 0, "ids": []}


def test_curation_on_gsm8k_and_the_alpaca_demo(tmp_path):
    gsm8k = shared_data("gsm8k")
    alpaca = shared_data("llamafactory_demo") / "alpaca_en_demo.json"
    cfg = compose(["data=curated", f"data.source.path={gsm8k}", "data.source.eval_split=test"]).data
    splits = load_splits(cfg, show_progress=False)
    assert len(splits.eval) == 1319 and 7000 < len(splits.train) <= 7473
    assert len(splits.train) + len(splits.rejects) == 7473
    cfg = compose(["data=curated", f"data.source.path={alpaca}"]).data
    splits = load_splits(cfg, show_progress=False)
    exact = [r for r in splits.rejects if r["step"] == "exact_dedup"]
    assert exact and len(splits.train) + len(splits.eval) + len(splits.rejects) == 999
    assert 40 <= len(splits.eval) <= 60  # a stratified 5% hold-out: the demo file has no eval split


def test_malformed_line_names_file_and_line_and_skip_keeps_it(tmp_path):
    data = tmp_path / "data.jsonl"
    lines = [json.dumps({"instruction": f"Say the number {i} in words, please.", "output": f"It is {i}."})
             for i in range(30)]
    lines[6] = "{not json"
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"data\.jsonl:7"):
        load_splits(compose([f"data.source.path={data}"]).data, show_progress=False)
    splits = load_splits(compose([f"data.source.path={data}", "data.on_error=skip"]).data, show_progress=False)
    loads = [r for r in splits.rejects if r["step"] == "load"]
    assert len(loads) == 1 and "malformed" in loads[0]["reason"]


def test_empty_after_curation_stops_with_step_counts(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"instruction": "Say hi to me now.", "output": "hi " * 40}) + "\n"
                            for _ in range(5)))
    with pytest.raises(UserError, match=r"no train rows left.*exact_dedup 5->1.*noise 1->0"):
        load_splits(compose([f"data.source.path={data}"]).data, show_progress=False)
