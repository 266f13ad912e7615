"""Pairwise judges: given a prompt and two answers, which is better ("A", "B", "tie"), or no verdict.

- `verifiable` (default, offline): the data's checkers decide, by correctness alone.
  The answer the checker accepts wins; equally correct (both right or both wrong) is
  a tie, whatever the format: an `Answer:` line is reported as a criterion of its own
  (winrate.summarize's `answer_line`), never folded into the verdict. It needs no model
  and cannot favour a position. A prompt with no checker gets no verdict (use an llm
  judge for those).
- `llm`: the MT-Bench pairwise prompt to a model, which ends with [[A]], [[B]] or
  [[C]] (tie). An endpoint's free text that holds no such verdict is recorded as
  `invalid` and reported, never counted. A local model scores the three verdicts
  instead of writing them (see judge_clients.LocalClient.choose).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fine_tune.answers import is_correct
from fine_tune.config import JudgeKind
from fine_tune.evaluation.judge_cache import JudgmentCache

A, B, TIE, INVALID = "A", "B", "tie", "invalid"

PAIRWISE_PROMPT = """Please act as an impartial judge and evaluate the quality of the responses provided by two \
AI assistants to the user question displayed below. Choose the assistant that follows the user's instructions and \
answers the user's question better: consider helpfulness, relevance, accuracy, depth and level of detail. Avoid any \
position bias: the order in which the responses are presented must not influence your decision, nor their length. \
After a short explanation, output your final verdict strictly in this format: "[[A]]" if assistant A is better, \
"[[B]]" if assistant B is better, and "[[C]]" for a tie.

[User Question]
{prompt}

[The Start of Assistant A's Answer]
{first}
[The End of Assistant A's Answer]

[The Start of Assistant B's Answer]
{second}
[The End of Assistant B's Answer]"""

_VERDICT = re.compile(r"\[\[([ABC])\]\]")


@dataclass
class Judgment:
    verdict: str  # A, B, tie or invalid
    detail: str  # why: the checker's results, or the judge's words (cut short)


class VerifiableJudge:
    name = "verifiable:correctness"  # the cache keys on it: verdicts of the old format tie-break are not reused

    def judge(self, row: dict, first: str, second: str) -> Judgment:
        if not row.get("check"):
            return Judgment(INVALID, "no checker for this prompt: use eval.judge.kind=llm")
        ok = [is_correct(first, row), is_correct(second, row)]
        if ok[0] != ok[1]:
            return Judgment(A if ok[0] else B, f"correct: A={ok[0]} B={ok[1]}")
        return Judgment(TIE, f"both correct={ok[0]}")


class LLMJudge:
    def __init__(self, client):
        self.client = client
        self.name = f"llm:{client.name}"

    def judge(self, row: dict, first: str, second: str) -> Judgment:
        prompt = PAIRWISE_PROMPT.format(prompt=row["prompt"], first=first, second=second)
        if hasattr(self.client, "choose"):
            best, scores = self.client.choose(prompt, "Final verdict: [[", ["A", "B", "C"])
            return Judgment({"A": A, "B": B, "C": TIE}[best], f"log-probs {scores}")
        text = self.client.complete(prompt)
        found = _VERDICT.findall(text)
        if not found:
            return Judgment(INVALID, f"no [[A]]/[[B]]/[[C]] verdict in: {text[:120]!r}")
        return Judgment({"A": A, "B": B, "C": TIE}[found[-1]], text[-200:])


class CachedJudge:
    """A judge whose every judgment is looked up first and stored once made.

    An invalid verdict (a judge that wrote no [[A]]/[[B]]/[[C]]) is stored with its attempts and
    asked again on a later run, up to `max_attempts` in all: a flaky endpoint does not fix a
    prompt as invalid for good, and a judge that never answers it is not asked forever.
    """

    def __init__(self, judge, cache: JudgmentCache, max_attempts: int = 3):
        self.judge_, self.cache, self.max_attempts = judge, cache, max_attempts
        self.name = judge.name
        self.calls = 0  # judgments actually made (not from the cache)

    def judge(self, row: dict, first: str, second: str) -> Judgment:
        key = JudgmentCache.key(self.name, row["prompt"], first, second)
        hit = self.cache.get(key)
        attempts = (hit or {}).get("attempts", 1)
        if hit is not None and (hit["verdict"] != INVALID or attempts >= self.max_attempts):
            return Judgment(hit["verdict"], hit["detail"])
        result = self.judge_.judge(row, first, second)
        self.calls += 1
        tried = attempts + 1 if hit is not None else 1
        self.cache.put(key, {"verdict": result.verdict, "detail": result.detail, "attempts": tried})
        return result


def make_judge(judge_cfg, client=None):
    """The judge eval.judge describes (an llm judge builds its client unless one is given)."""
    kind = JudgeKind(judge_cfg.kind).value
    if kind == "verifiable":
        return VerifiableJudge()
    from fine_tune.evaluation.judge_clients import make_client  # heavy: openai and a judge model, only for an llm judge

    return LLMJudge(client or make_client(judge_cfg))
