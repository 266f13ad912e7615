"""Decontamination: find the train rows that carry an eval example, exactly or reworded.

A train row carries eval example E when it has E's normalised prompt, or holds at
least MIN_SHARE of E's word n-grams (13-grams by default, the span of GPT-3's and
Llama 2's checks) over prompt and target together, or of E's prompt alone: a reworded
question with the same reasoning is found, and so is E's question under another answer.
A text shorter than n words counts as one n-gram of its own length, so short examples
are compared whole.

Two kinds of shared n-gram are no evidence of a leak:

- template text: an n-gram in two or more eval rows, or in more than TEMPLATE_TRAIN_ROWS
  train rows, is phrasing that many problems share (a generator's template, a data set's
  boilerplate), not one example's;
- a chance overlap: templated reasoning with different numbers shares a few n-grams
  where the numbers happen to agree ("start with 9 add 3 3 9 add 7 ..." of two lists that
  begin alike). Any-overlap at 13 words took 32 clean rows of the embedded world for that.

Measured on the embedded raw world (15,745 train rows, 474 eval rows, 13-grams): the
24 planted paraphrases hold 81-100% of their eval row's n-grams; the 48 other rows that
share any n-gram with an eval row hold at most 23% (1 to 6 n-grams). MIN_SHARE = 0.5
sits in that gap. Train frequency cannot tell the two apart (an n-gram of one eval row
is in 1-3 train rows either way: 516 n-grams in one, 15 in two, 7 in three), so the
train-row bound only catches text most rows share: with the eval set a 3% sample of
the same distribution (474 / 15,745), an n-gram in one eval row and more than 10
train rows is common phrasing that happens to fall in one eval row.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from fine_tune.data.curation.text import ngrams, normalise, row_text, words

MIN_SHARE = 0.5  # of an eval example's evidence n-grams a train row must hold to carry it
TEMPLATE_TRAIN_ROWS = 10  # an n-gram in more train rows than this is common text, not one example's

Gram = tuple[str, ...]


class _EvalIndex:
    """The eval rows' evidence n-grams (template text left out), each with the one eval row that has it."""

    def __init__(self, eval_rows: list[dict], shared: list[set[Gram]], owners: dict[Gram, list[str]], n: int):
        train_rows = Counter(gram for grams in shared for gram in grams)
        self.owner = {gram: ids[0] for gram, ids in owners.items()
                      if len(ids) == 1 and train_rows[gram] <= TEMPLATE_TRAIN_ROWS}
        # per eval row: how many evidence n-grams it has in all, and within its prompt
        self.size = Counter(self.owner.values())
        self.prompt_grams = {g for r in eval_rows for g in ngrams(words(r.get("prompt") or ""), n) if g in self.owner}
        self.prompt_size = Counter(self.owner[g] for g in self.prompt_grams)
        self.by_prompt: dict[str, str] = {}
        for row in eval_rows:
            if normalise(row.get("prompt") or ""):
                self.by_prompt.setdefault(normalise(row["prompt"]), row["id"])

    def carried(self, row: dict, grams: set[Gram], n: int) -> tuple[str, str] | None:
        """(eval id, how) for the eval example `row` carries, or None."""
        exact = self.by_prompt.get(normalise(row.get("prompt") or ""))
        if exact:
            return exact, "the same prompt"
        hits = Counter(self.owner[g] for g in grams if g in self.owner)
        prompt_hits = Counter(self.owner[g] for g in grams if g in self.prompt_grams)
        for eval_id, k in hits.most_common():
            if k >= MIN_SHARE * self.size[eval_id]:
                return eval_id, f"{k} of its {self.size[eval_id]} {n}-grams"
            p = prompt_hits[eval_id]
            if p and p >= MIN_SHARE * self.prompt_size[eval_id]:
                return eval_id, f"{p} of its prompt's {self.prompt_size[eval_id]} {n}-grams"
        return None


def find_leaks(rows: list[dict], eval_rows: list[dict], n: int) -> list[tuple[str, str] | None]:
    """For each of `rows`, (eval id, how it was found) of the eval example it carries, or None.

    One pass over the rows' n-grams, kept only where an eval row has them: about
    0.2 s for the 15,745 raw rows on 2 cores.
    """
    owners: dict[Gram, list[str]] = defaultdict(list)
    for row in eval_rows:
        for gram in ngrams(words(row_text(row)), n):
            owners[gram].append(row["id"])
    shared = [ngrams(words(row_text(row)), n) & owners.keys() for row in rows]
    index = _EvalIndex(eval_rows, shared, owners, n)
    return [index.carried(row, grams, n) for row, grams in zip(rows, shared)]


def decontaminate(rows: list[dict], eval_rows: list[dict], n: int) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Drop the rows that carry an eval example; each rejected row names the example and the evidence."""
    kept, rejected = [], []
    for row, leak in zip(rows, find_leaks(rows, eval_rows, n)):
        if leak is None:
            kept.append(row)
        else:
            rejected.append((row, f"overlaps eval example {leak[0]} ({leak[1]})"))
    return kept, rejected


def contaminated_eval_ids(train_rows: list[dict], eval_rows: list[dict], n: int) -> list[str]:
    """Ids of the eval rows some train row carries (decontamination's rule), in eval order."""
    found = {leak[0] for leak in find_leaks(train_rows, eval_rows, n) if leak}
    return [row["id"] for row in eval_rows if row["id"] in found]
