"""DeepEval metrics through deepeval's own API: test cases, metrics, `evaluate`.

- `checker_correctness`: a deepeval metric built on the data's checkers (score 1 when
  the checker accepts the answer). The share of test cases that pass every metric is
  the run's "DeepEval accuracy", the reference study's 88% column.
- With an llm judge (eval.judge.kind=llm): G-Eval correctness (against the reference
  answer) and coherence, and answer relevancy, with the judge wrapped as a deepeval model.

Telemetry is off and deepeval's folder lives in the cache: nothing leaves the machine
unless an endpoint judge is configured. A metric that errors (a judge returning
garbage) is reported per metric and its test case is left out of the accuracy.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re

from fine_tune.answers import is_correct
from fine_tune.cache import cache_path
from fine_tune.evaluation.judge_cache import CachedCompletions, JudgmentCache


def _quiet_env(cache_dir: str | None) -> None:
    os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "YES")
    os.environ.setdefault("DEEPEVAL_DISABLE_DOTENV", "1")
    os.environ.setdefault("DEEPEVAL_NO_INSPECT_PROMPT", "1")
    if cache_dir:  # read once, when deepeval is first imported
        os.environ.setdefault("DEEPEVAL_CACHE_FOLDER", str(cache_path(cache_dir, "deepeval")))


def _checker_metric():
    from deepeval.metrics import BaseMetric

    class CheckerCorrectness(BaseMetric):
        """1.0 when the data's checker accepts the test case's answer, else 0.0."""

        def __init__(self):
            self.threshold, self.async_mode, self.include_reason = 1.0, False, True

        def measure(self, test_case, *args, **kwargs) -> float:
            check = (test_case.metadata or {}).get("check")
            self.score = 1.0 if is_correct(test_case.actual_output, {"check": check}) else 0.0
            self.reason = "the checker accepts the answer" if self.score else "the checker rejects the answer"
            self.success = self.score >= self.threshold
            return self.score

        async def a_measure(self, test_case, *args, **kwargs) -> float:
            return self.measure(test_case)

        def is_successful(self) -> bool:
            return bool(self.success)

        @property
        def __name__(self):
            return "checker_correctness"

    return CheckerCorrectness()


def judge_model(client):
    """An llm judge client as a deepeval model: its text, parsed into the schema deepeval asks for."""
    from deepeval.models import DeepEvalBaseLLM

    class JudgeModel(DeepEvalBaseLLM):
        def __init__(self):
            self.client = client
            super().__init__(client.name)

        def load_model(self):
            return self.client

        def generate(self, prompt: str, schema=None):
            text = self.client.complete(prompt)
            if schema is None:
                return text
            found = re.search(r"\{.*\}", text, re.DOTALL)
            try:
                if not found:
                    raise ValueError(f"judge returned no JSON: {text[:120]!r}")
                return schema.model_validate(json.loads(found.group(0)))
            except ValueError:  # pydantic's ValidationError and JSONDecodeError are ValueErrors
                if hasattr(self.client, "reject"):
                    self.client.reject(prompt)  # asked again on a later run, not cached as an error for good
                raise

        async def a_generate(self, prompt: str, schema=None):
            return self.generate(prompt, schema)

        def get_model_name(self) -> str:
            return self.client.name

    return JudgeModel()


def _llm_metrics(model, threshold: float, with_reference: bool) -> list:
    """G-Eval correctness (only where reference answers exist), G-Eval coherence, answer relevancy."""
    from deepeval.metrics import AnswerRelevancyMetric, GEval
    from deepeval.test_case import SingleTurnParams as P

    common = dict(model=model, threshold=threshold, async_mode=False)
    metrics = [
        GEval(name="coherence", criteria="Is the actual output clear, well organised and logically coherent?",
              evaluation_params=[P.INPUT, P.ACTUAL_OUTPUT], **common),
        AnswerRelevancyMetric(include_reason=False, **common),
    ]
    if with_reference:
        metrics.insert(0, GEval(name="correctness", evaluation_params=[P.INPUT, P.ACTUAL_OUTPUT, P.EXPECTED_OUTPUT],
                                criteria="Is the actual output correct, judged against the expected output?", **common))
    return metrics


def _run(cases: list, metrics: list):
    from deepeval import evaluate
    from deepeval.evaluate.configs import AsyncConfig, CacheConfig, DisplayConfig, ErrorConfig

    with contextlib.redirect_stdout(io.StringIO()):  # deepeval prints a results banner
        return evaluate(cases, metrics, async_config=AsyncConfig(run_async=False),
                        display_config=DisplayConfig(show_indicator=False, print_results=False,
                                                     inspect_after_run=False),
                        cache_config=CacheConfig(write_cache=False), error_config=ErrorConfig(ignore_errors=True))


def deepeval_scores(records: list[dict], client, threshold: float, cache_dir: str | None) -> dict | None:
    """Run the deepeval metrics on the tuned generations.

    Args:
        records: generation records (prompt, response, reference, check).
        client: an llm judge client for G-Eval and relevancy, or None (checker metric only).

    Returns:
        {"accuracy", "passed", "total", "errored", "unscored", "metrics": {name: {...}}, "cases": [...]},
        or None when no record can be scored (no checker and no llm judge).
    """
    _quiet_env(cache_dir)
    cache = JudgmentCache(cache_path(cache_dir, "judgments.sqlite") if cache_dir else None)
    try:
        return _scores(records, CachedCompletions(client, cache) if client is not None else None, threshold)
    finally:
        cache.close()


def _scores(records: list[dict], client, threshold: float) -> dict | None:
    from deepeval.test_case import LLMTestCase

    model = judge_model(client) if client is not None else None
    groups = {"checked": [r for r in records if r.get("check")], "free": [r for r in records if not r.get("check")]}
    results = []
    for group, rows in groups.items():
        llm = _llm_metrics(model, threshold, all(r.get("reference") for r in rows)) if model else []
        metrics = ([_checker_metric()] if group == "checked" else []) + llm
        if not rows or not metrics:
            continue
        cases = [LLMTestCase(input=r["prompt"], actual_output=r["response"] or " ",
                             expected_output=r.get("reference") or None, name=str(r["id"]),
                             metadata={"check": r.get("check")}) for r in rows]
        results += _run(cases, metrics).test_results
    if not results:
        return None
    return _summarize(results, unscored=0 if model else len(groups["free"]))


def _summarize(results, unscored: int) -> dict:
    per_metric: dict[str, dict] = {}
    cases, passed, errored = [], 0, 0
    for result in results:
        data = result.metrics_data or []
        failed_to_score = any(m.error for m in data)
        errored += failed_to_score
        passed += (not failed_to_score) and all(m.success for m in data)
        cases.append({"id": result.name, "success": None if failed_to_score else bool(result.success),
                      "metrics": {m.name: m.score for m in data},
                      "errors": {m.name: m.error for m in data if m.error}})
        for m in data:
            entry = per_metric.setdefault(m.name, {"scores": [], "passed": 0, "errors": 0})
            if m.error:
                entry["errors"] += 1
            else:
                entry["scores"].append(m.score)
                entry["passed"] += bool(m.success)
    scored = len(results) - errored
    return {
        "accuracy": passed / scored if scored else None,
        "passed": passed, "total": scored, "errored": errored, "unscored": unscored,
        "metrics": {name: {"mean_score": sum(e["scores"]) / len(e["scores"]) if e["scores"] else None,
                           "pass_rate": e["passed"] / len(e["scores"]) if e["scores"] else None,
                           "scored": len(e["scores"]), "errors": e["errors"]} for name, e in per_metric.items()},
        "cases": cases,
    }
