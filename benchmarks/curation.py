"""Curation quality against the generator's labels, and speed against a plain datasketch script.

Quality (embedded raw world, default data=curated settings):
- share of injected duplicates and noise removed       (target >= 95%)
- each defect kind's share removed                      (target >= 95% each)
- clean rows lost: the generator's clean unique problems
  of which no copy survives curation                    (target <= 0.2%)

Speed, on ~100k rows of a larger embedded world, in the same run:
- the project's near-duplicate step                     (target <= 30 s on 2 cores)
- a plain datasketch MinHashLSH script on the same rows (the project must be at least as fast)
- the whole pipeline's rows/s

    .venv/bin/python benchmarks/curation.py [--rows 100000]   # --rows 0: quality only
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasketch import MinHash, MinHashLSH  # noqa: E402

from fine_tune.config import compose  # noqa: E402
from fine_tune.data.curation import curate  # noqa: E402
from fine_tune.data.curation.dedup import near_dedup  # noqa: E402
from fine_tune.data.curation.labels import label_scores  # noqa: E402
from fine_tune.data.curation.text import row_text, shingles  # noqa: E402
from fine_tune.data.embedded import build_world  # noqa: E402
from fine_tune.data.schema import canonical  # noqa: E402


def plain_datasketch(rows: list[dict], threshold: float, size: int, num_perm: int) -> int:
    """The textbook loop: one MinHash per row, update per shingle, query then insert."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept = 0
    for index, row in enumerate(rows):
        sig = MinHash(num_perm=num_perm)
        for shingle in shingles(row_text(row), size):
            sig.update(shingle)
        if not lsh.query(sig):
            lsh.insert(index, sig)
            kept += 1
    return kept


def world_rows(seed: int = 0):
    world = build_world(seed=seed, show_progress=False)
    raw = [canonical({**r, "id": f"s{seed}-{r['id']}"}, "embedded") for r in world.raw]
    return raw, [canonical(r, "embedded") for r in world.eval]


def many_rows(n_rows: int):
    """~n_rows raw rows from worlds of successive seeds (their problem spaces overlap, as scraped sets do)."""
    raw, eval_rows, seed = [], None, 0
    while len(raw) < n_rows:
        rows, held = world_rows(seed)
        raw += rows
        eval_rows = eval_rows or held
        seed += 1
    return raw[:n_rows], eval_rows


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def quality(cfg) -> None:
    raw, eval_rows = world_rows()
    result = curate(raw, eval_rows, cfg, show_progress=False)
    scores = label_scores(raw, {r["id"] for r in result.rows})
    lost = scores["clean_lost"] / scores["clean_problems"]
    print(f"quality on {len(raw)} raw rows -> {len(result.rows)} kept")
    print(f"  defects removed  {scores['defects_removed']:7.2%}  (target >= 95%) "
          f"{_verdict(scores['defects_removed'] >= 0.95)}")
    print(f"  clean rows lost  {lost:7.2%}  ({scores['clean_lost']} of {scores['clean_problems']} clean problems; "
          f"target <= 0.2%) {_verdict(lost <= 0.002)}")
    for label, share in scores["per_defect"].items():
        print(f"    {label:16s} {share:7.2%} removed  (target >= 95%) {_verdict(share >= 0.95)}")


def speed(cfg, n_rows: int) -> None:
    raw, eval_rows = many_rows(n_rows)
    near = cfg.near_dedup
    started = time.perf_counter()
    kept, _ = near_dedup(raw, near.threshold, near.shingle_size, near.num_perm, show_progress=False)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    plain_kept = plain_datasketch(raw, near.threshold, near.shingle_size, near.num_perm)
    plain = time.perf_counter() - started
    started = time.perf_counter()
    curate(raw, eval_rows, cfg, show_progress=False)
    full = time.perf_counter() - started
    print(f"speed on {len(raw)} rows")
    print(f"  near-dedup (project)          {ours:7.2f} s  (target <= 30 s), kept {len(kept)}")
    print(f"  plain datasketch script       {plain:7.2f} s, kept {plain_kept}")
    print(f"  ratio plain / project         {plain / ours:7.2f}x  (target >= 1.0)")
    print(f"  full pipeline                 {full:7.2f} s = {len(raw) / full:,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the speed part; 0 skips it")
    args = parser.parse_args()
    cfg = compose(["data=curated"]).data.curation
    quality(cfg)
    if args.rows > 0:
        speed(cfg, args.rows)


if __name__ == "__main__":
    main()
