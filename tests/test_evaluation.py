"""Evaluation pieces: loss, convergence, the judges and their cache, DeepEval, on real data sets."""

from __future__ import annotations

import socket

import pytest
from conftest import shared_data
from judge_server import JudgeServer

from fine_tune.answers import is_correct
from fine_tune.config import JudgeConfig, JudgeKind, compose
from fine_tune.data.embedded import build_world
from fine_tune.data.sources import load_rows
from fine_tune.errors import UserError
from fine_tune.evaluation.accuracy import checker_accuracy
from fine_tune.evaluation.deepeval_suite import deepeval_scores
from fine_tune.evaluation.judge_cache import JudgmentCache
from fine_tune.evaluation.judge_clients import EndpointClient, LocalClient
from fine_tune.evaluation.judges import A, CachedJudge, Judgment, LLMJudge, VerifiableJudge
from fine_tune.evaluation.loss import convergence_epoch, eval_loss, shared_loss
from fine_tune.evaluation.winrate import judge_pairs, summarize


@pytest.fixture(scope="module")
def tiny(cache_dir):
    """The smoke tiny model (built once per session) and its folder."""
    from omegaconf import OmegaConf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fine_tune.models.tiny import tiny_model_dir

    folder = tiny_model_dir(OmegaConf.to_object(compose(["debug=smoke"]).model.tiny), cache_dir)
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder), folder


def llm_cfg(**kw) -> JudgeConfig:
    return JudgeConfig(kind=JudgeKind.llm, max_retries=0, timeout_s=5, **kw)


# --- loss and convergence -------------------------------------------------------------------
def test_convergence_is_the_epoch_after_which_loss_stopped_improving():
    losses = [{"epoch": 1.0, "eval_loss": 1.0}, {"epoch": 2.0, "eval_loss": 0.8}, {"epoch": 3.0, "eval_loss": 0.799}]
    assert convergence_epoch(losses, 0.01) == {"epoch": 2, "step": None, "status": "converged", "epochs_seen": 3,
                                               "points": 3}
    assert convergence_epoch(losses[:2], 0.01)["status"] == "not converged"
    assert convergence_epoch(losses[:1], 0.01)["epoch"] is None  # one epoch shows nothing
    rising = [{"epoch": 1.0, "eval_loss": 0.5}, {"epoch": 2.0, "eval_loss": 0.7}]
    assert convergence_epoch(rising, 0.01)["epoch"] == 1


def test_eval_loss_does_not_depend_on_padding(tiny):
    model, tokenizer, _ = tiny
    rows = [{"prompt": f"What is {i} + {i}?", "response": f"Answer: {2 * i}" + " so" * i} for i in range(1, 6)]
    (one, per_row), (five, _) = eval_loss(model, tokenizer, rows, 1), eval_loss(model, tokenizer, rows, 5)
    assert one["eval_loss"] == pytest.approx(five["eval_loss"], rel=1e-4)
    assert one["rows"] == 5 and one["perplexity"] == pytest.approx(2.718281828 ** one["eval_loss"], rel=1e-6)
    assert one["answer_loss"] is None and len(per_row) == 5  # free-form rows: no final answer to score alone


def test_answer_loss_scores_the_same_tokens_in_every_format(tiny):
    model, tokenizer, _ = tiny
    world = build_world(0, clean_size=200, show_progress=False)
    rows = world.eval[:6]
    results = {kind: eval_loss(model, tokenizer, rows, 3, response=kind) for kind in ("direct", "cot", "thinking")}
    answers = {kind: [r["answer_tokens"] for r in per_row] for kind, (_, per_row) in results.items()}
    # the tokens that overlap the answer's characters on its own `Answer:` line (a merged " [" counts)
    lines = [(f"Answer: {r['answer']}", len("Answer: ")) for r in rows]
    expected = [sum(end > start for _, end in tokenizer(line, add_special_tokens=False,
                                                         return_offsets_mapping=True)["offset_mapping"])
                for line, start in lines]
    assert answers["direct"] == answers["cot"] == answers["thinking"] == expected
    assert all(summary["response"] == kind for kind, (summary, _) in results.items())
    # the reference loss counts the whole reference: reasoning adds tokens
    assert results["cot"][0]["tokens"] > results["direct"][0]["tokens"]


def test_answer_loss_is_given_the_prompt_alone(tiny):
    """The run's own reference no longer enters the answer's context: a chain of thought that states the answer
    made the answer's loss a copy task. The summary weighs prompts equally, as the claims do."""
    model, tokenizer, _ = tiny
    rows = build_world(0, clean_size=200, show_progress=False).eval[:6]
    (cot, cot_rows), (direct, direct_rows) = (eval_loss(model, tokenizer, rows, 3, response=kind)
                                              for kind in ("cot", "direct"))
    assert [r["answer_nll"] for r in cot_rows] == pytest.approx([r["answer_nll"] for r in direct_rows], rel=1e-5)
    assert cot["answer_loss"] == pytest.approx(direct["answer_loss"], rel=1e-5)
    assert cot["eval_loss"] != pytest.approx(direct["eval_loss"], rel=1e-3)  # the own-format loss still differs
    # another chain of thought (one that names a wrong answer) moves the reference's loss, not the answer's
    misled = [{**r, "cot": f"{r['cot']}\nSo it is {r['answer']}1, not {r['answer']}."} for r in rows]
    _, misled_rows = eval_loss(model, tokenizer, misled, 3, response="cot")
    assert [r["answer_nll"] for r in misled_rows] == pytest.approx([r["answer_nll"] for r in cot_rows], rel=1e-5)
    assert [r["nll"] for r in misled_rows] != pytest.approx([r["nll"] for r in cot_rows], rel=1e-3)
    assert cot["answer_context"] == "prompt alone" and cot["answer_loss_weighting"] == "mean over prompts"
    per_prompt = [r["answer_nll"] / r["answer_tokens"] for r in cot_rows]
    per_token = sum(r["answer_nll"] for r in cot_rows) / sum(r["answer_tokens"] for r in cot_rows)
    assert cot["answer_loss"] == pytest.approx(sum(per_prompt) / len(per_prompt))
    assert cot["answer_loss"] != pytest.approx(per_token, rel=1e-3)  # the two weightings differ on these rows
    # eval_loss stays token-weighted: the trainers' own measure
    assert cot["eval_loss"] == pytest.approx(sum(r["nll"] for r in cot_rows) / sum(r["tokens"] for r in cot_rows))


# --- the judgment cache ---------------------------------------------------------------------
class CountingJudge:
    name = "counting"

    def __init__(self, fail_after: int | None = None):
        self.calls, self.fail_after = 0, fail_after

    def judge(self, row, first, second):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise UserError("judge endpoint went away")
        self.calls += 1
        return Judgment(A, "first")


def test_judgments_are_cached_and_an_interrupted_run_resumes(tmp_path):
    pairs = [({"id": f"p{i}", "prompt": f"q{i}"}, f"t{i}", f"b{i}") for i in range(5)]
    cache = JudgmentCache(tmp_path / "j.sqlite")
    with pytest.raises(UserError):
        judge_pairs(CachedJudge(CountingJudge(fail_after=3), cache), pairs)
    cache.close()
    cache = JudgmentCache(tmp_path / "j.sqlite")  # a new process, the same file
    resumed = CachedJudge(CountingJudge(), cache)
    first = judge_pairs(resumed, pairs)
    assert resumed.calls == 10 - 3  # both orders of 5 prompts, 3 already judged
    again = CachedJudge(CountingJudge(), cache)
    assert judge_pairs(again, pairs) == first and again.calls == 0


# --- the llm judges -----------------------------------------------------------------------------
def test_endpoint_judge_sends_the_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("FT_TEST_JUDGE_KEY", "sk-test-123")
    with JudgeServer(lambda prompt: "B is better [[B]]") as server:
        judge = LLMJudge(EndpointClient(llm_cfg(url=server.url, model="judge-7b", api_key_env="FT_TEST_JUDGE_KEY")))
        outcome = judge_pairs(judge, [({"id": "p", "prompt": "Say hi"}, "hi", "hello")])[0]
    assert outcome["result"] == "tie" and outcome["consistent"] is False  # "B" in both orders: position bias
    assert server.requests[0]["auth"] == "Bearer sk-test-123"
    assert server.requests[0]["body"]["model"] == "judge-7b" and "Say hi" in server.requests[0]["body"]["messages"][0]["content"]


def test_a_missing_key_or_an_unreachable_endpoint_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("FT_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(UserError, match=r"FT_TEST_NO_SUCH_KEY, which is not set"):
        EndpointClient(llm_cfg(url="http://127.0.0.1:9/v1", model="m", api_key_env="FT_TEST_NO_SUCH_KEY"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    client = EndpointClient(llm_cfg(url=f"http://127.0.0.1:{port}/v1", model="m"))
    with pytest.raises(UserError, match=r"unreachable.*judgments made so far are cached"):
        client.complete("hello")


# --- real data sets ---------------------------------------------------------------------------
def test_gsm8k_generation_and_the_verifiable_judge(tiny):
    from fine_tune.evaluation.generations import Decoding, generations_for

    rows = load_rows(str(shared_data("gsm8k") / "test.jsonl"), format="gsm8k").rows[:6]
    raw = (shared_data("gsm8k") / "test.jsonl").read_text().splitlines()[0]
    assert rows[0]["answer"] == raw.rsplit("####", 1)[1].strip().strip('"}').strip()  # the final answer after ####
    model, tokenizer, _ = tiny
    cfg = compose(["debug=smoke"]).eval
    decoding = Decoding(max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        records = generations_for(lambda: (model, tokenizer), rows, decoding, "tuned", Path(folder))
    assert all(is_correct(r["reference"], r) for r in records)  # the reference solutions pass their checker
    outcomes = judge_pairs(VerifiableJudge(), [(r, r["response"], r["reference"]) for r in records])
    summary = summarize(outcomes, 500, 0.95, seed=0)
    accuracy = checker_accuracy(records)["accuracy"]
    assert summary["judged"] == 6 and summary["invalid"] == 0
    # the reference is always right, so the model wins nothing and ties only where it is right too
    assert summary["wins"] == 0 and summary["win_rate"] <= 0.5 * accuracy + 1e-9


def test_mt_bench_winrate_and_deepeval_with_a_small_local_judge(tiny, cache_dir):
    from fine_tune.evaluation.generations import Decoding, generate

    questions = load_rows(str(shared_data("mt_bench") / "question.jsonl"), format="mt_bench").rows[:4]
    model, tokenizer, folder = tiny
    answers, _ = generate(model, tokenizer, questions, Decoding(max_new_tokens=12, batch_size=4), "mt-bench")
    client = LocalClient(llm_cfg(model=str(folder), max_new_tokens=8))
    outcomes = judge_pairs(LLMJudge(client), [(q, a, "I do not know.") for q, a in zip(questions, answers)])
    summary = summarize(outcomes, 500, 0.95, seed=0)
    assert summary["judged"] + summary["invalid"] == 4 and summary["invalid"] == 0  # scored verdicts: all valid
    assert 0.0 <= summary["ci_low"] <= summary["win_rate"] <= summary["ci_high"] <= 1.0
    records = [{"id": q["id"], "prompt": q["prompt"], "response": a, "reference": None, "check": None}
               for q, a in zip(questions, answers)]
    deep = deepeval_scores(records, client, 0.5, str(cache_dir))
    # a 0.1M-parameter judge cannot write G-Eval's JSON: every case is reported as not scored, none counted
    assert deep["errored"] + deep["total"] == 4
    assert set(deep["metrics"]) == {"coherence [GEval]", "Answer Relevancy"}  # no references: no correctness
    assert all(m["errors"] + m["scored"] == 4 for m in deep["metrics"].values())
    if deep["errored"]:
        assert any(case["errors"] for case in deep["cases"])


def test_deepeval_accuracy_equals_the_checker_accuracy():
    rows = [{"id": f"r{i}", "prompt": f"What is {i} + 1?", "response": f"Answer: {i + 1 if i % 3 else 0}",
             "reference": f"Answer: {i + 1}", "check": {"kind": "number", "value": str(i + 1)}} for i in range(9)]
    for r in rows:
        r["correct"] = is_correct(r["response"], r)
    deep = deepeval_scores(rows, None, 0.5, None)
    assert deep["accuracy"] == pytest.approx(checker_accuracy(rows)["accuracy"]) == pytest.approx(6 / 9)
    assert deep["metrics"]["checker_correctness"]["pass_rate"] == pytest.approx(6 / 9)
    assert deepeval_scores([{**rows[0], "check": None}], None, 0.5, None) is None  # nothing scorable


def test_the_base_models_loss_is_computed_once_per_model_rows_and_settings(tmp_path):
    """Every job of a sweep starts from the same base: the first computes its held-out loss, the rest read it."""
    rows = [{"id": "a", "prompt": "1+1?", "answer": "2"}]
    calls = []

    def compute(value):
        return lambda: calls.append(value) or {"eval_loss": value}

    first = shared_loss(str(tmp_path), "model-x", rows, [512, "cot", None], compute(1.5))
    again = shared_loss(str(tmp_path), "model-x", rows, [512, "cot", None], compute(9.0))
    assert first == again == {"eval_loss": 1.5} and calls == [1.5]
    # another model, other rows or another format: computed, not read
    assert shared_loss(str(tmp_path), "model-y", rows, [512, "cot", None], compute(2.0)) == {"eval_loss": 2.0}
    assert shared_loss(str(tmp_path), "model-x", rows, [512, "direct", None], compute(3.0)) == {"eval_loss": 3.0}
    assert shared_loss(str(tmp_path), "model-x", [{**rows[0], "answer": "3"}], [512, "cot", None],
                       compute(4.0)) == {"eval_loss": 4.0}
    assert shared_loss(None, "model-x", rows, [512, "cot", None], compute(5.0)) == {"eval_loss": 5.0}  # no cache
    assert calls == [1.5, 2.0, 3.0, 4.0, 5.0]
    # a cache file that does not parse is computed again and replaced, not a crash
    (cached,) = [p for p in (tmp_path / "losses").iterdir() if "eval_loss\": 1.5" in p.read_text()]
    cached.write_text('{"loss": {"eval_lo')
    assert shared_loss(str(tmp_path), "model-x", rows, [512, "cot", None], compute(6.0)) == {"eval_loss": 6.0}
    assert shared_loss(str(tmp_path), "model-x", rows, [512, "cot", None], compute(7.0)) == {"eval_loss": 6.0}
    assert calls == [1.5, 2.0, 3.0, 4.0, 5.0, 6.0]
