"""Tests for loading data files and Hub data sets into canonical rows (fine_tune.data.sources).

Fast and offline: run with `python -m pytest -q tests/test_loaders.py`. The public
files are read in place from ../shared/data (never copied here); every synthetic
file is made up in the test and written to tmp_path.
"""

from __future__ import annotations

import csv
import gzip
import json
import time
from pathlib import Path

import pytest

from fine_tune.answers import is_correct
from fine_tune.data.formats import FORMATS, ROW_KEYS
from fine_tune.data.sources import load_rows
from fine_tune.errors import UserError, describe

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"../shared/data/{name} is absent: the public data sets live beside the checkout")
    return path


def count_lines(path: Path) -> int:
    """Non-blank lines, counted without the loader."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def assert_canonical(rows: list[dict], *required: str) -> None:
    for row in rows:
        assert tuple(row) == ROW_KEYS
        assert all(v is None or isinstance(v, str) for v in row.values()), row
        for key in ("id", "prompt", "source", *required):
            assert isinstance(row[key], str) and row[key].strip(), (key, row)
    assert len({row["id"] for row in rows}) == len(rows), "ids are not unique"


# --- the public files, read in place --------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "test"])
def test_gsm8k(split):
    folder = shared("gsm8k")
    result = load_rows(str(folder), split=split)
    raw = read_jsonl(folder / f"{split}.jsonl")
    assert result.format == "gsm8k" and not result.rejects
    assert len(result.rows) == len(raw) == {"train": 7473, "test": 1319}[split]
    assert_canonical(result.rows, "response", "answer", "cot", "check")
    for row, record in zip(result.rows, raw):
        final = record["answer"].rsplit("####", 1)[1].strip().replace(",", "")
        assert row["prompt"] == record["question"] and row["answer"] == final
        assert row["response"] == f"{row['cot']}\nAnswer: {final}"
        assert "<<" not in row["cot"] and "####" not in row["cot"]
        assert json.loads(row["check"]) == {"kind": "number", "value": int(final)}
        assert is_correct(row["response"], row), row["id"]
        assert not is_correct(f"{row['cot']}\nAnswer: {int(final) + 1}", row), row["id"]


def test_hh_rlhf():
    file = shared("hh_rlhf_harmless_base_test") / "test.jsonl.gz"
    result = load_rows(str(file))
    assert result.format == "hh" and not result.rejects
    assert len(result.rows) == count_lines(file) == 2312
    assert_canonical(result.rows, "rejected")
    with gzip.open(file, "rt", encoding="utf-8") as handle:
        raw = [json.loads(line) for line in handle]
    for row, record in zip(result.rows, raw):
        assert row["chosen"] != row["rejected"]
        assert f"Human: {row['prompt']}" in record["chosen"] and f"Human: {row['prompt']}" in record["rejected"]
        assert record["rejected"].rstrip().endswith(row["rejected"].rsplit("\n\n", 1)[-1])
        # An empty chosen answer is in the data (the preferred reply was to say nothing), not a loader bug.
        assert (row["chosen"] == "") == record["chosen"].rstrip().endswith("Assistant:")
        if row["context"]:
            assert [t["role"] for t in json.loads(row["context"])][0] == "user"


def test_alpaca_en_demo():
    file = shared("llamafactory_demo") / "alpaca_en_demo.json"
    raw = json.loads(file.read_text(encoding="utf-8"))
    result = load_rows(str(file))
    assert result.format == "alpaca" and not result.rejects
    assert len(result.rows) == len(raw) == 999
    assert_canonical(result.rows, "response")
    for row, record in zip(result.rows, raw):
        want = record["instruction"] + (f"\n\n{record['input']}" if record["input"].strip() else "")
        assert (row["prompt"], row["response"], row["context"]) == (want, record["output"], None)


def test_dpo_en_demo():
    file = shared("llamafactory_demo") / "dpo_en_demo.json"
    raw = json.loads(file.read_text(encoding="utf-8"))
    result = load_rows(str(file))
    assert result.format == "preference" and not result.rejects
    assert len(result.rows) == len(raw) == 300
    assert_canonical(result.rows, "chosen", "rejected")
    for row, record in zip(result.rows, raw):
        turns = record["conversations"]
        assert row["chosen"] == record["chosen"]["value"] and row["rejected"] == record["rejected"]["value"]
        assert row["chosen"] != row["rejected"] and row["prompt"] == turns[-1]["value"]
        context = json.loads(row["context"]) if row["context"] else []
        assert [t["content"] for t in context] == [t["value"] for t in turns[:-1]]
        assert ("system" in [t["role"] for t in context]) == (turns[0]["from"] == "system")


def test_mt_bench_questions_and_references():
    folder = shared("mt_bench")
    questions = read_jsonl(folder / "question.jsonl")
    result = load_rows(str(folder / "question.jsonl"))
    assert result.format == "mt_bench" and len(result.rows) == len(questions) == 80
    assert_canonical(result.rows, "skill")
    for row, record in zip(result.rows, questions):
        assert (row["id"], row["prompt"], row["skill"]) == (str(record["question_id"]), record["turns"][0],
                                                             record["category"])
        assert row["response"] == (record["reference"][0] if "reference" in record else None)
    references = read_jsonl(folder / "reference_answer_gpt-4.jsonl")
    refs = load_rows(str(folder / "reference_answer_gpt-4.jsonl"), format="mt_bench_reference")
    assert refs.format == "mt_bench_reference" and len(refs.rows) == len(references) == 30
    assert_canonical(refs.rows, "response", "skill")
    by_id = {q["question_id"]: q for q in questions}
    for row, record in zip(refs.rows, references):
        assert row["response"] == record["choices"][0]["turns"][0]
        assert row["prompt"] == by_id[record["question_id"]]["turns"][0]


@pytest.mark.parametrize("name", ["seed_tasks", "user_oriented_instructions"])
def test_self_instruct(name):
    file = shared("self_instruct") / f"{name}.jsonl"
    raw = read_jsonl(file)
    result = load_rows(str(file))
    assert result.format == "self_instruct" and not result.rejects
    assert len(raw) == count_lines(file) == {"seed_tasks": 175, "user_oriented_instructions": 252}[name]
    assert len(result.rows) == sum(len(r["instances"]) for r in raw)
    assert_canonical(result.rows, "response")
    assert [r["skill"] for r in result.rows] == [r.get("motivation_app") for r in raw]


# --- synthetic files, one sample per format -------------------------------------------------
# (records, what the first canonical rows must hold); every text is made up here.
SAMPLES = {
    "alpaca": ([{"instruction": "Name a primary colour.", "input": "", "output": "Red."},
                {"instruction": "Translate to French.", "input": "cat", "output": "chat"}],
               [{"prompt": "Name a primary colour.", "response": "Red.", "context": None},
                {"prompt": "Translate to French.\n\ncat", "response": "chat"}]),
    "messages": ([{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "2+2?"},
                                {"role": "assistant", "content": "4"}]}],
                 [{"prompt": "2+2?", "response": "4", "context": json.dumps(
                     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello."}])}]),
    "sharegpt": ([{"conversations": [{"from": "human", "value": "Capital of Peru?"},
                                     {"from": "gpt", "value": "Lima."}]}],
                 [{"prompt": "Capital of Peru?", "response": "Lima.", "context": None}]),
    "preference": ([{"prompt": "Greet me.", "chosen": "Hello!", "rejected": "Go away."}],
                   [{"prompt": "Greet me.", "chosen": "Hello!", "rejected": "Go away."}]),
    "hh": ([{"chosen": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: A fruit?\n\nAssistant: Apple.",
             "rejected": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: A fruit?\n\nAssistant: Rock."}],
           [{"prompt": "A fruit?", "chosen": "Apple.", "rejected": "Rock.", "context": json.dumps(
               [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}])}]),
    "prompt_only": ([{"prompt": "What is 6 times 7?", "answer": "42"}, {"prompt": "Write a haiku."},
                     {"prompt": "[INST] Add 1,000 and 80. [/INST]", "solution": "1,080"},
                     {"prompt": "Write one and a half in digits.", "solution": "1,5"}],
                    [{"prompt": "What is 6 times 7?", "answer": "42", "check": '{"kind": "number", "value": 42}'},
                     {"prompt": "Write a haiku.", "answer": None, "check": None},
                     {"prompt": "[INST] Add 1,000 and 80. [/INST]", "answer": "1080",
                      "check": '{"kind": "number", "value": 1080}'},
                     {"answer": "1,5", "check": None}]),
    "gsm8k": ([{"question": "Ada has 3 pens and buys 1,000. How many?",
                "answer": "She has 3 + 1000 = <<3+1000=1003>>1003 pens.\n#### 1,003"}],
              [{"prompt": "Ada has 3 pens and buys 1,000. How many?", "cot": "She has 3 + 1000 = 1003 pens.",
                "answer": "1003", "response": "She has 3 + 1000 = 1003 pens.\nAnswer: 1003",
                "check": '{"kind": "number", "value": 1003}'}]),
    "mt_bench": ([{"question_id": 7, "category": "math", "turns": ["What is 2+3?", "Times 2?"],
                   "reference": ["5", "10"]},
                  {"question_id": 8, "category": "writing", "turns": ["Write a limerick.", "Shorter."]}],
                 [{"id": "7", "prompt": "What is 2+3?", "response": "5", "skill": "math"},
                  {"id": "8", "prompt": "Write a limerick.", "response": None, "skill": "writing"}]),
    "self_instruct": ([{"id": "t1", "instruction": "Reverse the word.", "motivation_app": "Notes",
                        "instances": [{"input": "abc", "output": "cba"}, {"input": "xy", "output": "yx"}]}],
                      [{"id": "t1-0", "prompt": "Reverse the word.\n\nabc", "response": "cba", "skill": "Notes"},
                       {"id": "t1-1", "prompt": "Reverse the word.\n\nxy", "response": "yx"}]),
}
assert set(SAMPLES) == set(FORMATS) - {"mt_bench_reference"}  # a new format needs a sample here


def write(path: Path, records: list[dict]) -> Path:
    """Write records as the file type of `path`'s suffix; CSV cells hold JSON for lists and dicts."""
    fields = list(dict.fromkeys(k for r in records for k in r))
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        # from_pylist takes its columns from the first record alone: give every record every field
        pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in fields} for r in records]), path)
    else:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fields)
            writer.writeheader()
            for r in records:
                writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()})
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet", ".csv"])
@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_format_in_each_file_type(tmp_path, name, suffix):
    records, expected = SAMPLES[name]
    file = write(tmp_path / f"data{suffix}", records)
    result = load_rows(str(file))
    assert result.format == name and not result.rejects
    assert_canonical(result.rows)
    for row, want in zip(result.rows, expected):
        assert {k: row[k] for k in want} == want
    assert all(row["source"] == str(file) for row in result.rows)


def test_alpaca_system_and_history_become_context(tmp_path):
    record = {"instruction": "And 3+3?", "input": "", "output": "6", "system": "Be terse.", "history": [["2+2?", "4"]]}
    row = load_rows(str(write(tmp_path / "a.jsonl", [record]))).rows[0]
    assert json.loads(row["context"]) == [{"role": "system", "content": "Be terse."},
                                          {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]


@pytest.mark.parametrize("record", [
    {"prompt": [{"role": "user", "content": "Greet me."}], "chosen": [{"role": "assistant", "content": "Hello!"}],
     "rejected": [{"role": "assistant", "content": "Go away."}]},
    {"chosen": [{"role": "user", "content": "Greet me."}, {"role": "assistant", "content": "Hello!"}],
     "rejected": [{"role": "user", "content": "Greet me."}, {"role": "assistant", "content": "Go away."}]},
    {"conversations": [{"from": "human", "value": "Greet me."}], "chosen": {"from": "gpt", "value": "Hello!"},
     "rejected": {"from": "gpt", "value": "Go away."}},
], ids=["message-lists", "implicit-prompt", "sharegpt"])
def test_preference_variants(tmp_path, record):
    result = load_rows(str(write(tmp_path / "p.jsonl", [record])))
    assert result.format == "preference"
    row = result.rows[0]
    assert (row["prompt"], row["chosen"], row["rejected"], row["context"]) == ("Greet me.", "Hello!", "Go away.", None)


@pytest.mark.parametrize("chosen, rejected, want", [
    # the chosen answer runs over two Assistant turns (as in a few HH rows): joined, not cut
    ("\n\nHuman: Q?\n\nAssistant: No.\n\nAssistant: Really.", "\n\nHuman: Q?\n\nAssistant: Yes.",
     ("No.\n\nReally.", "Yes.")),
    # both answers start with the same Assistant turn: it belongs to the answers, not to the prompt
    ("\n\nHuman: Q?\n\nAssistant: Well.\n\nAssistant: No.", "\n\nHuman: Q?\n\nAssistant: Well.\n\nAssistant: Yes.",
     ("Well.\n\nNo.", "Well.\n\nYes.")),
], ids=["longer-answer", "shared-first-answer-turn"])
def test_hh_answers_over_several_turns(tmp_path, chosen, rejected, want):
    row = load_rows(str(write(tmp_path / "hh.jsonl", [{"chosen": chosen, "rejected": rejected}]))).rows[0]
    assert (row["prompt"], row["context"], (row["chosen"], row["rejected"])) == ("Q?", None, want)
    diverged = {"chosen": "\n\nHuman: A\n\nAssistant: B\n\nHuman: C\n\nAssistant: D",
                "rejected": "\n\nHuman: A\n\nAssistant: E"}  # the dialogues part before the last answer
    with pytest.raises(UserError, match="differ before their final Assistant turns"):
        load_rows(str(write(tmp_path / "x.jsonl", [diverged])))


def test_json_object_with_data_key_and_jsonl_named_json(tmp_path):
    records = SAMPLES["alpaca"][0]
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": records}), encoding="utf-8")
    (tmp_path / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    for name in ("wrapped.json", "lines.json"):
        assert [r["response"] for r in load_rows(str(tmp_path / name)).rows] == ["Red.", "chat"]


def test_folder_reads_the_split_file(tmp_path):
    write(tmp_path / "train.jsonl", SAMPLES["alpaca"][0])
    write(tmp_path / "test.jsonl", SAMPLES["alpaca"][0][:1])
    (tmp_path / "README.md").write_text("not data", encoding="utf-8")
    assert len(load_rows(str(tmp_path)).rows) == 2
    test = load_rows(str(tmp_path), split="test")
    assert [r["id"] for r in test.rows] == ["test-0"] and test.rows[0]["source"].endswith("test.jsonl")
    with pytest.raises(UserError, match=r"no 'validation' split .*train.jsonl.*one of test, train"):
        load_rows(str(tmp_path), split="validation")


def test_folder_without_split_files_reads_them_all_sorted(tmp_path):
    write(tmp_path / "b.csv", SAMPLES["alpaca"][0][:1])
    write(tmp_path / "a.jsonl", SAMPLES["alpaca"][0])
    result = load_rows(str(tmp_path))
    assert [r["id"] for r in result.rows] == ["a-0", "a-1", "b-0"]
    write(tmp_path / "c.jsonl", SAMPLES["gsm8k"][0])
    with pytest.raises(UserError, match="different formats .*c.jsonl is gsm8k"):
        load_rows(str(tmp_path))


# --- mistakes: one line that says what, where and how to fix it ------------------------------
def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and describe(err.value) == message
    return message


def bad_file(tmp_path: Path) -> Path:
    """Five records: good, malformed JSON, good, not an object, missing a field; plus a blank line."""
    good = SAMPLES["alpaca"][0]
    lines = [json.dumps(good[0]), '{"instruction": "Oops", "output": "x",,}', json.dumps(good[1]), "[1, 2]", "",
             json.dumps({"instruction": "No output here"})]
    file = tmp_path / "data.jsonl"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return file


def test_malformed_line_names_file_and_line(tmp_path):
    file = bad_file(tmp_path)
    with pytest.raises(UserError) as err:
        load_rows(str(file))
    message = one_line(err)
    assert message.startswith(f"{file}:2: malformed JSON (") and message.endswith("set data.on_error=skip")


def test_skip_keeps_the_rest_and_accounts_for_every_record(tmp_path):
    result = load_rows(str(bad_file(tmp_path)), on_error="skip")
    assert result.format == "alpaca"
    assert [r["id"] for r in result.rows] == ["data-0", "data-2"]  # ids keep their record index
    assert [(r["line"], r["reason"].split(" (")[0]) for r in result.rejects] == [
        (2, "malformed JSON"), (4, "not a JSON object but a list"), (6, "misses field 'output' for format alpaca")]
    assert result.rejects[0]["raw"] == '{"instruction": "Oops", "output": "x",,}'
    assert len(result.rows) + len(result.rejects) == count_lines(tmp_path / "data.jsonl") == 5


def test_missing_field_lists_fields_found_and_fitting_formats(tmp_path):
    file = write(tmp_path / "d.jsonl", [{"prompt": "Hi", "output": "Hello"}])
    with pytest.raises(UserError) as err:
        load_rows(str(file), format="alpaca")
    assert one_line(err) == (f"{file}:1: misses field 'instruction' for format alpaca (found fields [prompt, output]; "
                             "they fit prompt_only: declare one with data.source.format=<name>); "
                             "fix the line or set data.on_error=skip")
    file = write(tmp_path / "d.csv", [{"instruction": "Hi", "output": ""}])  # an empty CSV cell is no value
    with pytest.raises(UserError, match=r"d.csv row 1: misses field 'output' .*found fields \[instruction\]"):
        load_rows(str(file), format="alpaca")


def test_unknown_format_lists_the_formats(tmp_path):
    file = write(tmp_path / "data.jsonl", [{"foo": 1, "bar": 2}])
    with pytest.raises(UserError) as err:
        load_rows(str(file))
    message = one_line(err)
    assert message.startswith(f"no known format in {file}: found fields [foo, bar]; hh needs chosen+rejected")
    assert "alpaca needs instruction+output, sharegpt needs conversations, messages needs messages" in message
    assert message.endswith("declare one with data.source.format=<name>")
    with pytest.raises(UserError) as err:
        load_rows(str(file), format="chatml")
    assert one_line(err).startswith("unknown data.source.format 'chatml'; known formats: hh needs")


def test_declared_format_overrides_detection(tmp_path):
    file = write(tmp_path / "p.jsonl", SAMPLES["preference"][0])
    assert load_rows(str(file)).format == "preference"
    result = load_rows(str(file), format="prompt_only")
    assert result.format == "prompt_only"
    assert (result.rows[0]["prompt"], result.rows[0]["chosen"], result.rows[0]["rejected"]) == ("Greet me.", None, None)


def test_bad_paths_and_arguments(tmp_path):
    with pytest.raises(UserError) as err:
        load_rows(str(tmp_path / "nope.jsonl"))
    assert one_line(err).startswith(f"data.source.path '{tmp_path / 'nope.jsonl'}' does not exist")
    with pytest.raises(UserError, match="exactly one of data.source.path"):
        load_rows()
    with pytest.raises(UserError, match="data.on_error must be one of raise, skip"):
        load_rows(str(write(tmp_path / "a.jsonl", SAMPLES["alpaca"][0])), on_error="ignore")


def test_hub_name_offline_is_one_quick_line(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        load_rows(name="no-such-owner/no-such-data-set-4821")
    assert time.monotonic() - start < 20
    message = one_line(err)
    assert message.startswith("cannot load data set 'no-such-owner/no-such-data-set-4821' from the Hugging Face Hub: ")
    assert message.endswith("check the name, your network, or use data.source.path=<local file>")


def test_a_byte_order_mark_is_read_as_nothing(tmp_path):
    rows = [{"instruction": "Say hi", "output": "hi"}, {"instruction": "Say yo", "output": "yo"}]
    (tmp_path / "bom.jsonl").write_text("\ufeff" + "\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "bom.csv").write_text("\ufeffinstruction,output\nSay hi,hi\n", encoding="utf-8")
    assert [r["prompt"] for r in load_rows(str(tmp_path / "bom.jsonl")).rows] == ["Say hi", "Say yo"]
    assert [r["prompt"] for r in load_rows(str(tmp_path / "bom.csv")).rows] == ["Say hi"]


def test_a_json_array_saved_as_jsonl_is_read_as_one(tmp_path):
    rows = [{"instruction": f"Say {w}", "output": w} for w in ("hi", "yo")]
    (tmp_path / "array.jsonl").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    assert [r["prompt"] for r in load_rows(str(tmp_path / "array.jsonl")).rows] == ["Say hi", "Say yo"]


def test_a_truncated_gzip_is_one_line_naming_the_file(tmp_path):
    whole = gzip.compress(b"".join(json.dumps({"instruction": f"q{i}", "output": "a"}).encode() + b"\n"
                                   for i in range(2000)))
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UserError, match=r"cannot read .*cut\.jsonl\.gz: .*check that it is a \.jsonl\.gz file"):
        load_rows(str(tmp_path / "cut.jsonl.gz"))


def test_nesting_deeper_than_the_reader_allows_is_a_rejected_line(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.jsonl").write_text(json.dumps({"instruction": "q", "output": "a"}) + "\n" + deep + "\n")
    result = load_rows(str(tmp_path / "deep.jsonl"), on_error="skip")
    assert len(result.rows) == 1 and result.rejects[0]["line"] == 2 and "nested deeper" in result.rejects[0]["reason"]
    (tmp_path / "deep.json").write_text(deep)
    with pytest.raises(UserError, match=r"deep\.json: nested deeper than the JSON reader allows"):
        load_rows(str(tmp_path / "deep.json"))


def test_a_nan_literal_answer_is_rejected_with_its_reason(tmp_path):
    (tmp_path / "nan.jsonl").write_text('{"instruction": "a", "output": NaN}\n{"instruction": "b", "output": "ok"}\n')
    result = load_rows(str(tmp_path / "nan.jsonl"), on_error="skip")
    assert [r["prompt"] for r in result.rows] == ["b"]
    assert result.rejects[0]["line"] == 1 and "field 'output' is nan, not a finite number" in result.rejects[0]["reason"]
