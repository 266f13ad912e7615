"""The embedded world: clean, eval and raw (defective) instruction sets, plus a corpus.

Built from the skills in `skills/`, fully deterministic (local `random.Random`
seeded by strings, `hashlib` for ranking; never Python's salted `hash()`):

    from fine_tune.data.embedded import build_world, build_corpus, cot_response
    world = build_world(seed=0)        # 8961 train_clean, 474 eval, 15745 raw, ~1 s
    corpus = build_corpus(seed=1)      # 20,000 plain-text documents for pre-training

Rows are plain dicts of str/None (see `WORLD_KEYS`; fine_tune.data.schema makes them canonical rows), ready for `Dataset.from_list`.
Every stage formats targets with `direct_response` / `cot_response` /
`thinking_response`; generations are scored by fine_tune.answers, which reads all three.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import unicodedata
from dataclasses import dataclass

from tqdm.auto import tqdm

from fine_tune.answers import answer_line
from fine_tune.data.skills import SKILLS, plausible_wrong

log = logging.getLogger(__name__)

WORLD_KEYS = ("id", "skill", "prompt", "answer", "cot", "check", "defect", "source_id", "split")  # a generated row
DEFECTS = ("exact_duplicate", "near_duplicate", "wrong_answer", "truncated", "garbled", "contamination")
# Shares of the raw set, at rates reported for real scraped and synthetic instruction
# data (the sources are in docs/data.md, "Raw data"): ~10% of sequences repeated (Lee et al.
# 2022), wrong answers common in generated sets (AlpacaDataCleaned; AlpaGasus kept 9k of
# Alpaca's 52k), empty/cut responses and control characters (AlpacaDataCleaned).
DEFECT_RATES = {"exact_duplicate": 0.10, "near_duplicate": 0.10, "wrong_answer": 0.15, "truncated": 0.05,
                "garbled": 0.03}
# Contamination is a paraphrase of an eval row, as a share of the eval set: Lee et al. found
# over 4% of standard validation sets overlapping their training sets (474 eval -> 24 leaked).
CONTAMINATION_SHARE = 0.05


@dataclass
class World:
    """The three instruction sets: clean train rows, held-out eval rows, and raw = clean + defects."""

    train_clean: list[dict]
    eval: list[dict]
    raw: list[dict]


# --- response formats and checking: the contract every stage shares -------------------
def direct_response(row: dict) -> str:
    """The answer alone: `Answer: 7`."""
    return answer_line(row["answer"])


def cot_response(row: dict) -> str:
    """Reasoning lines, then the answer line."""
    return f"{row['cot']}\n{answer_line(row['answer'])}"


def thinking_response(row: dict) -> str:
    """Reasoning inside `<think>` tags, then the answer line."""
    return f"<think>\n{row['cot']}\n</think>\n{answer_line(row['answer'])}"


# --- clean rows and the split --------------------------------------------------------------
def normalize_prompt(text: str) -> str:
    """NFKC, lower case, whitespace collapsed: two texts that differ only there are the same.

    The one normalisation of the project: the split hashes it, curation dedups on it.
    """
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def stable_hash(*parts: object) -> str:
    """sha256 of the parts joined by '|': the same on every run and machine."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def _quotas(clean_size: int) -> list[int]:
    """Rows per skill in proportion to the skills' weights, summing to exactly `clean_size`.

    Rounding down loses a few rows; they go to the skills with the largest remainders
    (ties in skill order), so 9,435 rows split 2051/1094/2051/1094/2051/1094.
    """
    total = sum(skill.weight for skill in SKILLS)
    exact = [clean_size * skill.weight / total for skill in SKILLS]
    quotas = [int(x) for x in exact]
    by_remainder = sorted(range(len(SKILLS)), key=lambda k: quotas[k] - exact[k])
    for k in by_remainder[: clean_size - sum(quotas)]:
        quotas[k] += 1
    return quotas


def _clean_rows(seed: int, clean_size: int, show_progress: bool) -> list[dict]:
    """`clean_size` distinct problems, unique by the skill's problem key, shared by skill weight.

    Unique by key, not by prompt: two prompts that differ only in a name or an object
    are one problem, and a near-duplicate detector would rightly drop one of them.
    """
    rows: list[dict] = []
    bar = tqdm(total=clean_size, desc="clean problems", disable=not show_progress)
    for skill, quota in zip(SKILLS, _quotas(clean_size)):
        rng = random.Random(f"{seed}:{skill.name}")  # one stream per skill: adding a skill moves no other
        seen: set[tuple] = set()
        tries = 0
        while len(seen) < quota:
            tries += 1
            if tries > 50 * quota + 1000:
                raise RuntimeError(f"skill {skill.name!r} cannot make {quota} distinct problems")
            p = skill.generate(rng)
            if p.key in seen:
                continue
            rows.append({"id": f"{skill.name}-{len(seen):06d}", "skill": skill.name, "prompt": p.prompt,
                         "answer": p.answer, "cot": p.cot, "check": json.dumps(p.check, sort_keys=True),
                         "defect": None, "source_id": None, "split": "train"})
            seen.add(p.key)
            bar.update(1)
    bar.close()
    return rows


def stratified_split(rows: list[dict], eval_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Split into (train, eval): per skill, the round(n * fraction) rows of lowest stable hash.

    Ranking by a hash of (seed, normalised prompt) rather than by position makes the
    split independent of generation order. Both lists keep the input order and get
    their `split` field set.
    """
    by_skill: dict[str, list[dict]] = {}
    for row in rows:
        by_skill.setdefault(row["skill"], []).append(row)
    eval_ids = set()
    for group in by_skill.values():
        ranked = sorted(group, key=lambda r: stable_hash(seed, normalize_prompt(r["prompt"])))
        eval_ids.update(r["id"] for r in ranked[: round(len(group) * eval_fraction)])
    train = [{**r, "split": "train"} for r in rows if r["id"] not in eval_ids]
    held = [{**r, "split": "eval"} for r in rows if r["id"] in eval_ids]
    return train, held


# --- defects: each takes a clean row and returns the damaged fields ---------------------------
# A near-duplicate in scraped data is the same question typed again: a greeting or a
# thank-you, other punctuation or case, one word for another. Numbers, names, the
# asked-for word and the response never change.
_LEADS = ["Hi! ", "Hello, ", "Question: ", "Quick question: "]
_TAILS = [" Please answer.", " Thanks!", " Thank you.", " Please help."]
_SYNONYMS = {"Find": "Give", "Write": "Print", "Spell": "Write", "Sort": "Order", "Arrange": "Order",
             "Reverse": "Flip", "Convert": "Change", "Compute": "Calculate", "Respond": "Reply", "Put": "Place",
             "largest": "biggest", "biggest": "largest", "smallest": "lowest", "least": "lowest",
             "maximum": "max", "minimum": "min", "numbers": "values", "list": "sequence", "appear": "occur",
             "increasing": "ascending", "ascending": "increasing", "backwards": "reversed", "caps": "capitals",
             "uppercase": "capitals", "result": "answer", "buys": "gets", "finds": "gets", "loses": "drops",
             "keeps": "has", "starts": "begins", "cuts": "has", "total": "all", "walks": "hikes"}
# A copy is light when it keeps >= 85% of its source's word 3-shingles (prompt plus
# response), the similarity a MinHash near-duplicate detector estimates: one swapped
# word changes 3 shingles, so rows of ~40 words keep ~86%, rows of ~20 only ~70%.
LIGHT_EDIT_OVERLAP = 0.85
# Each alone is enough for ftfy to call a text bad (a lone "Â" inside a word is not).
_MOJIBAKE = ["Ã©", "â€™", "Ã¼", "ï¿½", "â€œ", "Ã¤"]
_CONTROL = ["\x00", "\x07", "\x1b", "\x01", "\ufffd", "\u200b"]  # none is whitespace: normalising must not undo them
_WORD = re.compile(r"\w+")


def _retype_punctuation(prompt: str, rng: random.Random) -> str:
    """The closing mark dropped, doubled, spaced off or swapped: always a different string."""
    body, mark = (prompt[:-1], prompt[-1]) if prompt[-1:] in ".?!" else (prompt, "")
    if not mark:
        return prompt + "."
    return rng.choice([body, body + mark * 2, f"{body} {mark}", body + ("!" if mark == "." else "?!")])


def _lower_case(prompt: str, rng: random.Random) -> str:
    # Case alone is undone by normalising, so the punctuation changes too.
    return _retype_punctuation(prompt.lower(), rng)


def _add_phrase(prompt: str, rng: random.Random) -> str:
    return rng.choice(_LEADS) + prompt if rng.random() < 0.5 else prompt + rng.choice(_TAILS)


def _swap_word(prompt: str, rng: random.Random) -> str:
    """One word for a synonym, and now and then a doubled space; punctuation if none fits."""
    found = [m for m in re.finditer(r"[A-Za-z]+", prompt) if m.group() in _SYNONYMS]
    if not found:
        return _retype_punctuation(prompt, rng)
    m = rng.choice(found)
    out = prompt[: m.start()] + _SYNONYMS[m.group()] + prompt[m.end():]
    if rng.random() < 0.5:
        spaces = [i for i, ch in enumerate(out) if ch == " "]
        at = rng.choice(spaces) if spaces else len(out)
        out = out[:at] + " " + out[at:]
    return out


_EDITS = (_retype_punctuation, _lower_case, _add_phrase, _swap_word)


def reword(prompt: str, rng: random.Random) -> str:
    """A light edit with the same numbers and answer; never equal to `prompt` once normalised."""
    return rng.choice(_EDITS)(prompt, rng)


def _shingles(row: dict) -> set[tuple[str, ...]]:
    """Word 3-shingles of a row's prompt and CoT response, lower-cased as a detector sees them."""
    tokens = _WORD.findall(unicodedata.normalize("NFKC", f"{row['prompt']}\n{cot_response(row)}").lower())
    return {tuple(tokens[i : i + 3]) for i in range(max(1, len(tokens) - 2))}


def _light_copy(row: dict, rng: random.Random) -> str:
    """A reworded prompt whose row keeps >= LIGHT_EDIT_OVERLAP of the source row's shingles.

    A short row loses too much to an added phrase or a swapped word, so after a few
    tries it gets retyped punctuation, which keeps every word.
    """
    source = _shingles(row)
    for _ in range(4):
        prompt = reword(row["prompt"], rng)
        copy = _shingles({**row, "prompt": prompt})
        if len(source & copy) >= LIGHT_EDIT_OVERLAP * len(source | copy):
            return prompt
    return _retype_punctuation(row["prompt"], rng)


def _shuffle_words(text: str, rng: random.Random, n: int) -> str | None:
    """`text` with the letters of `n` of its 4+-letter words shuffled, or None if it has fewer."""
    spans = [m.span() for m in re.finditer(r"[A-Za-z]{4,}", text) if len(set(m.group())) > 1]
    if len(spans) < n:
        return None
    for start, end in rng.sample(spans, n):  # same-length replacements: the other spans stay valid
        word, letters = text[start:end], list(text[start:end])
        while "".join(letters) == word:
            rng.shuffle(letters)
        text = text[:start] + "".join(letters) + text[end:]
    return text


def garble(text: str, rng: random.Random) -> str:
    """Inject 2-4 mojibake or control characters, or shuffle the letters of 3-4 words plus one.

    A scramble alone is ambiguous (rare words, names and typos look the same to a
    filter), so it always comes with one stray mojibake character: every garbled row
    carries something no clean row has. Three or more scrambled words, so a scrambled-
    word filter can ask for several without missing rows whose scramble repeats elsewhere.
    """
    style = rng.randrange(3)
    junk, n_junk = (_CONTROL if style == 1 else _MOJIBAKE), rng.randint(2, 4)
    if style == 2:
        shuffled = _shuffle_words(text, rng, rng.randint(3, 4))
        text, n_junk = (shuffled, 1) if shuffled is not None else (text, n_junk)
    chars = list(text)
    for _ in range(n_junk):
        chars.insert(rng.randint(0, len(chars)), rng.choice(junk))
    return "".join(chars)


def damage(label: str, row: dict, rng: random.Random) -> dict:
    """The fields a defect of kind `label` replaces in `row` (exact duplicates replace none)."""
    if label in ("near_duplicate", "contamination"):
        return {"prompt": _light_copy(row, rng)}
    if label == "garbled":
        field = rng.choice(["prompt", "cot"])
        return {field: garble(row[field], rng)}
    if label == "truncated":
        cot = row["cot"]
        cut = cot.rfind(" ", 0, rng.randint(len(cot) // 4, 3 * len(cot) // 4))
        return {"cot": cot[: max(cut, 1)].rstrip(), "answer": ""}
    if label == "wrong_answer":
        wrong, true_core, bad_core = plausible_wrong(json.loads(row["check"]), rng)
        lines = row["cot"].split("\n")
        head, sep, tail = lines[-1].rpartition(true_core)  # the last step states the result last
        lines[-1] = head + bad_core + tail if sep else lines[-1]
        return {"answer": wrong, "cot": "\n".join(lines)}
    return {}


def defect_counts(n_clean: int, n_eval: int, rates: dict[str, float], contamination: float) -> dict[str, int]:
    """Rows of each defect so that each makes up its `rates` share of the raw set (clean + defects).

    Raw holds n_clean / (1 - sum(rates)) rows; contamination is a share of the eval set.

    Raises:
        ValueError: an unknown defect name, a negative rate, or rates that leave no clean row.
    """
    unknown = sorted(set(rates) - set(DEFECTS) - {"contamination"})
    if unknown:
        raise ValueError(f"unknown defect {', '.join(unknown)}; known: {', '.join(DEFECTS[:-1])}")
    if any(r < 0 for r in rates.values()) or sum(rates.values()) >= 1 or not 0 <= contamination <= 1:
        raise ValueError(f"defect rates must be >= 0 and sum below 1 (got {sum(rates.values()):.2f}), "
                         f"contamination in [0, 1] (got {contamination})")
    raw_size = n_clean / (1 - sum(rates.values()))
    counts = {d: round(rates[d] * raw_size) for d in DEFECTS if d in rates}
    counts["contamination"] = min(n_eval, max(1, round(contamination * n_eval))) if n_eval and contamination else 0
    return counts


def _defect_rows(train: list[dict], held: list[dict], counts: dict[str, int], seed: int,
                 show_progress: bool) -> list[dict]:
    """Defect rows; those of one kind each come from a distinct clean row (eval rows only for contamination)."""
    rng = random.Random(f"{seed}:defects")
    out = []
    bar = tqdm(total=sum(counts.values()), desc="defect rows", disable=not show_progress)
    for label, n in counts.items():
        pool = held if label == "contamination" else train
        for src in rng.sample(pool, min(n, len(pool))):
            fields = damage(label, src, rng)
            out.append({**src, **fields, "id": f"{src['id']}:{label}", "defect": label,
                        "source_id": src["id"], "split": "train"})
            bar.update(1)
    bar.close()
    return out


def build_world(seed: int = 0, clean_size: int = 9435, eval_fraction: float = 0.05,
                defect_rates: dict[str, float] | None = None, contamination: float = CONTAMINATION_SHARE,
                show_progress: bool = True) -> World:
    """Build the clean, eval and raw instruction sets.

    Args:
        seed: same seed -> byte-identical rows; another seed -> other problems and split.
        clean_size: distinct clean problems, shared by the skills' weights (see `skills.SKILLS`).
        eval_fraction: share of each skill held out for eval (9435 -> 474 eval, 8961 train).
        defect_rates: each defect's share of the raw set (DEFECT_RATES when None): 43% defects,
            6,784 rows beside the 8,961 clean ones.
        contamination: eval rows leaked into raw as paraphrases, as a share of the eval set.
        show_progress: show tqdm bars.

    Returns:
        A `World`; `raw` is train_clean plus the defect rows, shuffled, with no eval row in it.
    """
    train, held = stratified_split(_clean_rows(seed, clean_size, show_progress), eval_fraction, seed)
    counts = defect_counts(len(train), len(held), DEFECT_RATES if defect_rates is None else defect_rates,
                           contamination)
    defects = _defect_rows(train, held, counts, seed, show_progress)
    raw = train + defects
    random.Random(f"{seed}:raw").shuffle(raw)
    log.info("embedded world seed=%d: %d train_clean, %d eval, %d raw (%d defects)",
             seed, len(train), len(held), len(raw), len(defects))
    return World(train_clean=train, eval=held, raw=raw)


def build_corpus(seed: int = 1, size: int = 20000) -> list[str]:
    """`size` plain-text pre-training documents: each skill's facts in prose, no chat format.

    A document is a page about one skill (2-4 of its `facts`, ~60-250 tokens), as a
    worksheet or a textbook page states them: sums inside stories, unit factors with the
    product written out, lists sorted step by step, days counted one by one. It never
    uses a prompt template, a question to answer or `Answer:`: instruction tuning has
    that to teach.
    """
    rng = random.Random(f"corpus:{seed}")
    docs = []
    for _ in range(size):
        skill = rng.choice(SKILLS)
        docs.append("\n".join(skill.facts(rng) for _ in range(rng.randint(2, 4))))  # one paragraph a fact
    return docs
