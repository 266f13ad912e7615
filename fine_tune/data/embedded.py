"""The embedded world: clean, eval and raw (defective) instruction sets, plus a corpus.

Built from the skills in `skills.py`, fully deterministic (local `random.Random`
seeded by strings, `hashlib` for ranking; never Python's salted `hash()`):

    from fine_tune.data.embedded import build_world, build_corpus, cot_response
    world = build_world(seed=0)        # ~8961 train_clean, ~474 eval, ~12545 raw, < 1 s
    corpus = build_corpus(seed=1)      # 20,000 plain-text documents for pre-training

Rows are plain dicts of str/None (see `ROW_KEYS`), ready for `Dataset.from_list`.
Every stage formats targets with `direct_response` / `cot_response` /
`thinking_response` and scores generations with `check_answer`, so they agree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from dataclasses import dataclass

from tqdm.auto import tqdm

from fine_tune.data.skills import SKILLS, check, plausible_wrong

log = logging.getLogger(__name__)

ROW_KEYS = ("id", "skill", "prompt", "answer", "cot", "check", "defect", "source_id", "split")
DEFECTS = ("exact_duplicate", "near_duplicate", "wrong_answer", "truncated", "garbled", "contamination")
# Contamination is a paraphrase of an eval row; ~5% of the eval rows' count keeps it a
# leak to detect, not a second copy of the eval set (474 eval rows -> 24 leaked).
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
    return f"Answer: {row['answer']}"


def cot_response(row: dict) -> str:
    """Reasoning lines, then the answer line."""
    return f"{row['cot']}\nAnswer: {row['answer']}"


def thinking_response(row: dict) -> str:
    """Reasoning inside `<think>` tags, then the answer line."""
    return f"<think>\n{row['cot']}\n</think>\nAnswer: {row['answer']}"


def extract_answer(text: object) -> str | None:
    """The answer in a response, or None when it has no `Answer:`.

    Reads after the last `</think>` if there is one, then after the last `Answer:`,
    up to the end of that line (a model that keeps generating past its answer is
    still scored on the answer), stripped.
    """
    if not isinstance(text, str):
        return None
    text = text.rpartition("</think>")[2]
    head, sep, tail = text.rpartition("Answer:")
    if not sep:
        return None
    tail = tail.lstrip()
    return tail.split("\n", 1)[0].strip() if tail else ""


def check_answer(row_or_check: dict | str, response_text: object) -> bool:
    """True if the response's answer satisfies the row's `check`; False (never raises) on garbage.

    Args:
        row_or_check: a row (with a `check` key), a check dict, or a check JSON string.
        response_text: the model's response, in any of the three formats above.
    """
    try:
        spec = row_or_check
        if isinstance(spec, dict) and "check" in spec:
            spec = spec["check"]
        if isinstance(spec, str):
            spec = json.loads(spec)
        answer = extract_answer(response_text)
        return answer is not None and check(spec, answer)
    except Exception:  # a malformed row or check spec is a failed check, not a crash
        return False


# --- clean rows and the split --------------------------------------------------------------
def normalize_prompt(prompt: str) -> str:
    """Lower-case and collapse whitespace: two prompts that differ only there are the same."""
    return " ".join(prompt.lower().split())


def stable_hash(*parts: object) -> str:
    """sha256 of the parts joined by '|': the same on every run and machine."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def _clean_rows(seed: int, clean_size: int, show_progress: bool) -> list[dict]:
    """`clean_size` problems unique by normalised prompt, split evenly across the skills."""
    rows: list[dict] = []
    seen: set[str] = set()
    bar = tqdm(total=clean_size, desc="clean problems", disable=not show_progress)
    for k, skill in enumerate(SKILLS):
        quota = clean_size // len(SKILLS) + (k < clean_size % len(SKILLS))
        rng = random.Random(f"{seed}:{skill.name}")  # one stream per skill: adding a skill moves no other
        made, tries = 0, 0
        while made < quota:
            tries += 1
            if tries > 50 * quota + 1000:
                raise RuntimeError(f"skill {skill.name!r} cannot make {quota} unique prompts")
            p = skill.generate(rng)
            key = normalize_prompt(p.prompt)
            if key in seen:
                continue
            seen.add(key)
            rows.append({"id": f"{skill.name}-{made:06d}", "skill": skill.name, "prompt": p.prompt,
                         "answer": p.answer, "cot": p.cot, "check": json.dumps(p.check, sort_keys=True),
                         "defect": None, "source_id": None, "split": "train"})
            made += 1
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
_WRAPS = ["Quick question: {p}", "Please help me with this. {p}", "{p} Please answer carefully.",
          "Here is a small problem. {p}", "{p} Show your steps."]
# Same meaning, other filler words; numbers, names and the asked-for word never change.
_SWAPS = [("How many", "What number of"), ("What is", "What's"), ("What day is", "Which day is"),
          ("buys", "picks up"), ("gives away", "hands out"), ("starts with", "begins with"), ("Sort", "Order"),
          ("Reverse", "Flip"), ("Find", "Tell me"), ("Convert", "Change"), ("Write", "Print")]
_MOJIBAKE = ["Ã©", "â€™", "Ã¼", "ï¿½", "â€œ", "Â"]
_CONTROL = ["\x00", "\x07", "\x1b", "\x01", "\ufffd", "\u200b"]  # none is whitespace: normalising must not undo them


def reword(prompt: str, rng: random.Random) -> str:
    """A paraphrase with the same numbers and answer: filler-word swaps inside a wrapper template."""
    for old, new in _SWAPS:
        if rng.random() < 0.7:
            prompt = re.sub(rf"\b{re.escape(old)}\b", new, prompt)
    return rng.choice(_WRAPS).format(p=prompt)  # the wrapper guarantees a different prompt


def garble(text: str, rng: random.Random) -> str:
    """Inject mojibake or control characters, or shuffle letters inside a few words."""
    style = rng.randrange(3)
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 4 and len(set(w)) > 1]
    if style == 2 and long_words:
        for i in rng.sample(long_words, min(3, len(long_words))):
            letters = list(words[i])
            while "".join(letters) == words[i]:
                rng.shuffle(letters)
            words[i] = "".join(letters)
        return " ".join(words)
    junk = _MOJIBAKE if style == 0 else _CONTROL
    chars = list(text)
    for _ in range(rng.randint(2, 4)):
        chars.insert(rng.randint(0, len(chars)), rng.choice(junk))
    return "".join(chars)


def _damage(label: str, row: dict, rng: random.Random) -> dict:
    """The fields a defect of kind `label` replaces in `row` (exact duplicates replace none)."""
    if label in ("near_duplicate", "contamination"):
        return {"prompt": reword(row["prompt"], rng)}
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


def _defect_counts(n_defects: int, n_eval: int) -> dict[str, int]:
    """Contamination ~5% of eval's count; the rest shared evenly by the other five labels."""
    n_contam = min(n_eval, max(1, round(CONTAMINATION_SHARE * n_eval))) if n_eval else 0
    others = [d for d in DEFECTS if d != "contamination"]
    rest = max(0, n_defects - n_contam)
    counts = {d: rest // len(others) + (i < rest % len(others)) for i, d in enumerate(others)}
    return {**counts, "contamination": n_contam}


def _defect_rows(train: list[dict], held: list[dict], n_defects: int, seed: int,
                 show_progress: bool) -> list[dict]:
    """Defect rows, each derived from a distinct clean row (eval rows only for contamination)."""
    rng = random.Random(f"{seed}:defects")
    out = []
    counts = _defect_counts(n_defects, len(held))
    bar = tqdm(total=sum(counts.values()), desc="defect rows", disable=not show_progress)
    for label, n in counts.items():
        pool = held if label == "contamination" else train
        for src in rng.sample(pool, min(n, len(pool))):
            fields = _damage(label, src, rng)
            out.append({**src, **fields, "id": f"{src['id']}:{label}", "defect": label,
                        "source_id": src["id"], "split": "train"})
            bar.update(1)
    bar.close()
    return out


def build_world(seed: int = 0, clean_size: int = 9435, eval_fraction: float = 0.05,
                defect_rate: float = 0.40, show_progress: bool = True) -> World:
    """Build the clean, eval and raw instruction sets.

    Args:
        seed: same seed -> byte-identical rows; another seed -> other problems and split.
        clean_size: unique clean problems, split evenly across the six skills.
        eval_fraction: share of each skill held out for eval (9435 -> 474 eval, 8961 train).
        defect_rate: defect rows added to raw, as a share of the clean train rows (~3584).
        show_progress: show tqdm bars.

    Returns:
        A `World`; `raw` is train_clean plus the defect rows, shuffled, with no eval row in it.
    """
    train, held = stratified_split(_clean_rows(seed, clean_size, show_progress), eval_fraction, seed)
    defects = _defect_rows(train, held, round(defect_rate * len(train)), seed, show_progress)
    raw = train + defects
    random.Random(f"{seed}:raw").shuffle(raw)
    log.info("embedded world seed=%d: %d train_clean, %d eval, %d raw (%d defects)",
             seed, len(train), len(held), len(raw), len(defects))
    return World(train_clean=train, eval=held, raw=raw)


def build_corpus(seed: int = 1, size: int = 20000) -> list[str]:
    """`size` plain-text pre-training documents: each skill's facts in prose, no chat format.

    The documents teach the vocabulary and facts (sums, unit factors, weekday order,
    sorted lists, JSON and capitals) but never use a prompt template or `Answer:`.
    """
    rng = random.Random(f"corpus:{seed}")
    docs = []
    for _ in range(size):
        skill = rng.choice(SKILLS)
        # Two facts of one skill per document: ~2-6 sentences, a few hundred characters.
        docs.append(" ".join(skill.facts(rng) for _ in range(rng.randint(1, 2))))
    return docs
