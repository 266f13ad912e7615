"""How well fine_tune.answers reads real answers: GSM8K's references, and the same answers rephrased.

Reads ../shared/data/gsm8k/test.jsonl (or --gsm8k). For each problem's gold number:

- the reference as GSM8K writes it (reasoning with `<<calc>>` marks, then `#### N`);
- the same reasoning ended in each convention models write instead of `#### N`
  (`Answer: N`, `**Answer:** N`, `answer: N`, `The answer is N.`, `The final answer is $N.`,
  `\\boxed{N}`, `Answer: $N`, `Answer: N dollars`, thousands separators `1,080`,
  a trailing `.0`, a bare last number);
- near misses that must stay wrong: the answer plus one, and two conflicting final answers.

Prints, per phrasing: the share of answers read (any convention found), the share
judged correct, and which convention found them. The reasoning is GSM8K's own text, so
the `last_number` fallback and the conflict rule meet real intermediate numbers.

    python benchmarks/answer_reader.py [--gsm8k ../shared/data/gsm8k/test.jsonl]
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

from fine_tune.answers import is_correct, read_answer

REPO = Path(__file__).resolve().parent.parent
DEFAULT = REPO.parent / "shared" / "data" / "gsm8k" / "test.jsonl"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def phrasings(reasoning: str, gold: float) -> dict[str, tuple[str, bool]]:
    """name -> (text, whether it is right)."""
    n = _number(gold)
    thousands = f"{int(gold):,}" if gold == int(gold) else n
    return {
        "answer_line": (f"{reasoning}\nAnswer: {n}", True),
        "bold_answer_line": (f"{reasoning}\n**Answer:** {n}", True),
        "lower_case_answer": (f"{reasoning}\nanswer: {n}", True),
        "the_answer_is": (f"{reasoning}\nThe answer is {n}.", True),
        "final_answer_dollars": (f"{reasoning}\nThe final answer is ${n}.", True),
        "boxed": (f"{reasoning}\nSo the result is $\\boxed{{{n}}}$.", True),
        "currency": (f"{reasoning}\nAnswer: ${n}", True),
        "unit_word": (f"{reasoning}\nAnswer: {n} dollars", True),
        "thousands_separator": (f"{reasoning}\nAnswer: {thousands}", True),
        "decimal_zero": (f"{reasoning}\nAnswer: {n}.0" if "." not in n else f"{reasoning}\nAnswer: {n}", True),
        "bare_last_number": (f"{reasoning}\nSo it is {n}", True),
        "wrong_by_one": (f"{reasoning}\nAnswer: {_number(gold + 1)}", False),
        "two_conflicting": (f"{reasoning}\n#### {n}\nAnswer: {_number(gold + 1)}", False),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gsm8k", type=Path, default=DEFAULT)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.gsm8k.read_text().splitlines() if line.strip()]
    read, right, conventions = collections.Counter(), collections.Counter(), collections.defaultdict(collections.Counter)
    for row in rows:
        reasoning, _, final = row["answer"].rpartition("####")
        gold = float(final.strip().replace(",", ""))
        spec = {"kind": "number", "value": gold}
        reasoning = re.sub(r"<<[^>]*>>", "", reasoning).strip()  # the calculator marks a model never writes
        cases = {"gsm8k_reference": (row["answer"], True), **phrasings(reasoning, gold)}
        for name, (text, is_right) in cases.items():
            answer = read_answer(text)
            read[name] += answer.text is not None
            right[name] += is_correct(text, spec) == is_right
            conventions[name][answer.convention or "none"] += 1
    print(f"fine_tune.answers on {len(rows)} GSM8K test problems ({args.gsm8k})\n")
    print("| phrasing | read | judged as it should be | found by |\n|---|---:|---:|---|")
    for name in read:
        found = ", ".join(f"{convention} {count}" for convention, count in conventions[name].most_common())
        print(f"| {name} | {read[name] / len(rows):.1%} | {right[name] / len(rows):.1%} | {found} |")


if __name__ == "__main__":
    main()
