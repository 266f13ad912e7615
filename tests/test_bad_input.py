"""One table of bad inputs, every command: each ends in one line that says what, where and how to fix it.

Each case runs the console script in this process (see conftest.run_in_process) and asserts
exit status 2, exactly one `<command>: error:` line holding the case's words, no traceback,
and that every file the target folder held before (a previous run's metrics, a data report,
a comparison) is unchanged.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import run_in_process

FT, DATA, EVAL, CMP, EXPORT, BASE = ("fine-tune", "fine-tune-data", "fine-tune-eval", "fine-tune-compare",
                                     "fine-tune-export", "fine-tune-base")
SMOKE = ["debug=smoke", "logger=none"]


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def write_inputs(folder: Path) -> None:
    """The bad (and the few good) files the cases read."""
    alpaca = [{"instruction": f"What is {i} + 1?", "output": f"{i} + 1 = {i + 1}.\nAnswer: {i + 1}"} for i in range(40)]
    (folder / "good.jsonl").write_text(_jsonl(alpaca))
    (folder / "malformed.jsonl").write_text(_jsonl(alpaca[:2]) + '{"instruction": "x", "output": "y",,}\n')
    (folder / "missing_field.jsonl").write_text(_jsonl([{"instruction": "q"}] * 3))
    (folder / "unknown_format.jsonl").write_text(_jsonl([{"foo": 1, "bar": 2}]))
    (folder / "not_an_object.jsonl").write_text(_jsonl(alpaca[:2]) + "[1, 2, 3]\n")
    whole = gzip.compress(_jsonl(alpaca * 50).encode())
    (folder / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "empty.jsonl").write_text("")
    (folder / "latin1.jsonl").write_bytes('{"instruction": "caf\xe9", "output": "x"}\n'.encode("latin-1"))
    (folder / "nan.jsonl").write_text('{"instruction": "a", "output": NaN}\n')
    (folder / "one_row.jsonl").write_text(_jsonl(alpaca[:1]))
    (folder / "same_pairs.jsonl").write_text(_jsonl(
        [{"prompt": f"What is {i} + 1?", "chosen": f"Answer: {i + 1}", "rejected": f"Answer: {i + 1}"} for i in range(40)]))
    (folder / "not_jinja.txt").write_text("User: {question}\nAssistant:")
    (folder / "broken.jinja").write_text("{% for m in messages %}{{ m['content'] }")
    (folder / "a_file").write_text("not a folder")
    (folder / "not_a_run").mkdir()
    (folder / "not_a_run" / "notes.txt").write_text("mine")
    (folder / "empty_sweep").mkdir()
    (folder / "empty_sweep" / "comparison.md").write_text("an earlier comparison")
    for name in ("unfinished_run",):
        run = folder / name
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "config.yaml").write_text("seed: 0\n")
        (run / "metrics.json").write_text(json.dumps({"status": "running", "stages": {}}))
    (folder / "preset" / "experiment").mkdir(parents=True)
    (folder / "preset" / "experiment" / "key_typo.yaml").write_text("# @package _global_\ndata:\n  max_sampless: 5\n")
    (folder / "preset" / "experiment" / "bad_type.yaml").write_text("# @package _global_\nseed: many\n")


# (case id, command, arguments ({d}: the inputs folder, {run}: the target folder), words the line must hold)
CASES = [
    # an unknown option, in every group; the optional ones Hydra would skip silently
    ("method-typo", FT, ["method=sftt"], ["'sftt'", "did you mean 'sft'", "sft_cot"]),
    ("method-list-typo", FT, ["method=[sft_cot,dpoo]"], ["'dpoo'", "did you mean 'dpo'", "grpo"]),
    ("data-typo", FT, ["data=curatd"], ["'curatd'", "did you mean 'curated'"]),
    ("model-typo", FT, ["model=tiy"], ["'tiy'", "did you mean 'tiny'"]),
    ("backend-typo", FT, ["backend=unslot"], ["'unslot'", "did you mean 'unsloth'"]),
    ("eval-typo", FT, ["eval=defalt"], ["'defalt'", "did you mean 'default'"]),
    ("logger-typo", FT, ["logger=wandbb"], ["'wandbb'", "did you mean 'wandb'"]),
    ("debug-typo", FT, ["debug=smok"], ["debug=smok", "did you mean debug=smoke?"]),
    ("experiment-typo", FT, ["experiment=sft_cot_curatd"], ["did you mean experiment=sft_cot_curated?"]),
    ("ablate-typo", FT, ["ablate=no_nois"], ["did you mean ablate=no_noise?"]),
    ("hparams-search-typo", FT, ["hparams_search=optna"], ["did you mean hparams_search=optuna?"]),
    # keys and types
    ("key-typo", FT, ["method=sft", "method.sft.lrr=1"], ["method.sft.lrr", "did you mean 'learning_rate'"]),
    ("key-of-unselected-stage", FT, ["method.grpo.beta=0.2"], ["method.grpo", "method=grpo"]),
    ("top-level-key-typo", FT, ["sed=1"], ["'sed'", "did you mean 'seed'"]),
    ("data-key-typo", FT, ["data.max_sampels=10"], ["data.max_sampels", "did you mean 'max_samples'"]),
    ("wrong-type-int", FT, ["seed=abc"], ["config key 'seed'", "abc"]),
    ("wrong-type-float", FT, ["method=sft", "method.sft.learning_rate=high"], ["method.sft.learning_rate", "high"]),
    ("wrong-enum", FT, ["method.sft_cot.finetune=half"], ["finetune", "lora, full"]),
    ("wrong-type-bool", FT, ["eval.enabled=maybe"], ["eval.enabled", "maybe"]),
    ("wrong-type-model-shape", FT, ["model.tiny.hidden_size=big"], ["model.tiny.hidden_size", "big"]),
    ("override-parse", FT, ["method=[sft,"], ["cannot parse command-line override"]),
    ("missing-equals-value", FT, ["model.path"], ["model.path"]),
    # stages
    ("repeated-stage", FT, ["method=[sft,sft]"], ["method names sft twice", "num_train_epochs"]),
    ("repeated-stage-later", FT, ["method=[sft_cot,dpo,sft_cot]"], ["method names sft_cot twice"]),
    # ranges, before anything loads
    ("max-samples-negative", FT, ["data.max_samples=-5"], ["data.max_samples=-5", "at least 1"]),
    ("max-samples-zero", FT, ["data.max_samples=0"], ["data.max_samples=0", "at least 1"]),
    ("fraction-zero", FT, ["data.fraction=0"], ["data.fraction=0.0", "(0, 1]"]),
    ("eval-fraction-one", FT, ["data.eval_fraction=1"], ["data.eval_fraction=1.0", "between 0 and 1"]),
    ("learning-rate-negative", FT, ["model.learning_rate=-1e-4"], ["model.learning_rate", "positive"]),
    ("batch-size-zero", FT, ["model.per_device_train_batch_size=0"], ["per_device_train_batch_size=0", "at least 1"]),
    ("debug-steps-zero", FT, ["debug.max_steps=0"], ["debug.max_steps=0", "at least 1"]),
    ("stage-steps-zero", FT, ["method.sft_cot.max_steps=0"], ["method.sft_cot.max_steps=0", "-1 (whole epochs)"]),
    ("dpo-beta-zero", FT, ["method.dpo.beta=0"], ["method.dpo.beta=0.0", "positive"]),
    ("seed-negative", FT, ["seed=-1"], ["seed=-1", "2**32"]),
    ("objective-unknown", FT, ["objective=tuned.acuracy"], ["objective=tuned.acuracy", "did you mean 'tuned.accuracy'"]),
    ("claims-unknown", FT, ["claims=no_such_claims"], ["no claims file 'no_such_claims'", "reference_study"]),
    ("max-new-tokens-zero", FT, ["eval.max_new_tokens=0"], ["eval.max_new_tokens=0", "at least 1"]),
    ("max-prompts-zero", FT, ["eval.max_prompts=0"], ["eval.max_prompts"]),
    ("max-loss-rows-zero", FT, ["eval.max_loss_rows=0"], ["eval.max_loss_rows"]),
    ("lora-rank-zero", FT, ["model.finetune=lora", "method.sft_cot.lora.r=0"], ["method.sft_cot.lora", "r=0"]),
    ("lora-dropout-one", FT, ["model.finetune=lora", "method.dpo.lora.dropout=1"], ["method.dpo.lora", "dropout"]),
    ("lora-under-full", FT, ["model.finetune=full", "method.sft_cot.lora.r=8"],
     ["method.sft_cot.lora.r is set", "finetune is full", "finetune=lora"]),
    # chat templates
    ("template-unknown-name", FT, ["model.chat_template=chatmlx"], ["model.chat_template='chatmlx'", "chatml, llama3"]),
    ("template-file-not-jinja", FT, ["model.chat_template={d}/not_jinja.txt"], ["not_jinja.txt", "holds no Jinja"]),
    ("template-file-broken", FT, ["model.chat_template={d}/broken.jinja"], ["broken.jinja", "not valid Jinja", "line 1"]),
    # presets a user wrote
    ("preset-key-typo", FT, ["experiment=key_typo", "hydra.searchpath=[file://{d}/preset]"],
     ["in preset 'experiment/key_typo'", "data.max_sampless", "did you mean 'max_samples'"]),
    ("preset-bad-type", FT, ["experiment=bad_type", "hydra.searchpath=[file://{d}/preset]"],
     ["in preset 'experiment/bad_type'", "seed", "many"]),
    # models, backends, folders
    ("model-path-missing", FT, [*SMOKE, "model=local", "model.path=/no/such/model"], ["/no/such/model", "model.path"]),
    ("model-path-a-file", FT, [*SMOKE, "model=local", "model.path={d}/a_file"], ["a_file", "model.path"]),
    ("unsloth-without-gpu", FT, [*SMOKE, "backend=unsloth"], ["backend=unsloth needs a CUDA GPU"]),
    ("run-dir-under-a-file", FT, [*SMOKE, "hydra.run.dir={d}/a_file/run"], ["a_file"]),
    # data a run cannot train on
    ("data-path-missing", FT, [*SMOKE, "data.source.path={d}/nope.jsonl"], ["nope.jsonl", "does not exist"]),
    ("data-malformed-line", FT, [*SMOKE, "data.source.path={d}/malformed.jsonl"],
     ["malformed.jsonl:3", "malformed JSON", "data.on_error=skip"]),
    ("data-one-row", FT, [*SMOKE, "data.source.path={d}/one_row.jsonl"], ["no eval rows", "data.eval_fraction"]),
    ("data-same-pairs", FT, [*SMOKE, "method=dpo", "data.source.path={d}/same_pairs.jsonl"],
     ["chosen equal to", "rejected"]),
    ("data-unknown-format-name", FT, [*SMOKE, "data.source.path={d}/good.jsonl", "data.source.format=chatml"],
     ["unknown data.source.format 'chatml'", "known formats"]),
    # fine-tune-data: the readers
    ("reader-no-format-fits", DATA, ["data.source.path={d}/missing_field.jsonl"],
     ["missing_field.jsonl", "found fields [instruction]", "alpaca needs instruction+output"]),
    ("reader-missing-field", DATA, ["data.source.path={d}/missing_field.jsonl", "data.source.format=alpaca"],
     ["missing_field.jsonl:1", "misses field 'output'", "data.on_error=skip"]),
    ("reader-unknown-format", DATA, ["data.source.path={d}/unknown_format.jsonl"],
     ["no known format", "found fields [foo, bar]", "data.source.format=<name>"]),
    ("reader-not-an-object", DATA, ["data.source.path={d}/not_an_object.jsonl"],
     ["not_an_object.jsonl:3", "not a JSON object", "data.on_error=skip"]),
    ("reader-truncated-gzip", DATA, ["data.source.path={d}/cut.jsonl.gz"], ["cut.jsonl.gz", "cannot read"]),
    ("reader-deep-nesting", DATA, ["data.source.path={d}/deep.json"], ["deep.json", "nested deeper"]),
    ("reader-empty-file", DATA, ["data.source.path={d}/empty.jsonl"], ["empty.jsonl"]),
    ("reader-not-utf8", DATA, ["data.source.path={d}/latin1.jsonl"], ["latin1.jsonl", "not UTF-8", "iconv"]),
    ("reader-nan-answer", DATA, ["data.source.path={d}/nan.jsonl"], ["nan.jsonl:1", "not a finite number"]),
    ("reader-on-error-value", DATA, ["data.source.path={d}/good.jsonl", "data.on_error=ignore"],
     ["data.on_error", "raise, skip"]),
    ("data-cli-typo", DATA, ["data=rawx"], ["'rawx'", "did you mean 'raw'"]),
    # fine-tune-eval on a finished run
    ("eval-not-a-run", EVAL, ["{d}/not_a_run"], ["not_a_run", "not a fine-tune run"]),
    ("eval-missing-folder", EVAL, ["{d}/nowhere"], ["nowhere"]),
    ("eval-unfinished-run", EVAL, ["{d}/unfinished_run"], ["unfinished_run"]),
    ("eval-override-outside-eval", EVAL, ["{d}/unfinished_run", "model.learning_rate=1"],
     ["model.learning_rate", "eval."]),
    # fine-tune-compare and fine-tune-export
    ("compare-missing-folder", CMP, ["{d}/no_sweep"], ["no_sweep"]),
    ("compare-no-jobs", CMP, ["{d}/empty_sweep"], ["empty_sweep"]),
    ("export-not-a-run", EXPORT, ["{d}/not_a_run"], ["not_a_run", "not a fine-tune run"]),
    ("export-unfinished-run", EXPORT, ["{d}/unfinished_run"], ["unfinished_run"]),
    # fine-tune-base
    ("base-foreign-override", BASE, ["method.sft.learning_rate=1"], ["model.tiny.<key>=<value> only"]),
    ("base-wrong-type", BASE, ["model.tiny.hidden_size=big"], ["model.tiny.hidden_size", "big"]),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad_inputs")
    write_inputs(folder)
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_table_is_long_and_its_ids_unique():
    assert len(CASES) >= 60 and len({case[0] for case in CASES}) == len(CASES)
    assert {case[1] for case in CASES} == {FT, DATA, EVAL, CMP, EXPORT, BASE}


@pytest.mark.parametrize("case,command,args,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(case, command, args, words, inputs, tmp_path, cache_dir,
                                                  monkeypatch):
    monkeypatch.setenv("FINE_TUNE_CACHE", str(cache_dir))
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text('{"status": "finished", "from": "an earlier run"}')  # must survive
    before = _files(inputs), _files(run)
    args = [a.format(d=inputs, run=run) for a in args]
    if command in (FT, DATA) and not any(a.startswith("hydra.run.dir=") for a in args):
        args.append(f"hydra.run.dir={run}")
    status, stderr = run_in_process(command, args, monkeypatch)
    assert status == 2, f"exit status {status}: {stderr[-2000:]}"
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith(f"{command}: error: ")]
    assert len(lines) == 1, stderr[-2000:]
    missing = [w for w in words if w not in lines[0]]
    assert not missing, f"{lines[0]!r} lacks {missing}"
    after = _files(inputs), {k: v for k, v in _files(run).items() if k in before[1]}
    assert after == before  # the inputs and what the folder held are untouched


def test_export_gguf_to_a_folder_that_is_not_a_run_says_so_before_it_looks_for_the_converter(inputs, monkeypatch):
    """A wrong folder is the cheapest mistake: named before llama.cpp's converter is searched for (or fetched)."""
    monkeypatch.setenv("LLAMA_CPP_PATH", str(inputs / "no_llama_cpp_here"))  # would be an error of its own
    status, stderr = run_in_process(EXPORT, [str(inputs / "not_a_run"), "--gguf"], monkeypatch)
    assert status == 2 and "not a fine-tune run folder" in stderr and "LLAMA_CPP_PATH" not in stderr, stderr[-2000:]
