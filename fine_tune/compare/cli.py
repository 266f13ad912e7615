"""`fine-tune-compare <sweep folder>`: the table, plots and page that compare a sweep's jobs.

    fine-tune -m data=curated,raw method=[sft_cot,dpo],sft seed=1,2
    fine-tune-compare multirun/2026-11-26/10-00-00
    fine-tune-compare multirun/2026-11-26/10-00-00 --wandb offline   # also log to W&B, on disk

Writes into the sweep folder: comparison.md (also printed), comparison.csv,
loss_curves.png, accuracy.png, winrate.png, deepeval.png and index.html. The WinRate column is each
job's head-to-head against the reference pipeline (SFT-CoT then DPO on curated data,
same seed), and a claims section tests each of the reference study's claims on paired
prompts (fine_tune.compare.claims). Each file is
written atomically, so rerunning while a browser has index.html open, or
while jobs still run, never leaves a half file. Rerun it any time: a
running job shows as "running" with what it has so far.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fine_tune.claim_spec import CLAIM_SETS, ClaimSpec, load_claims, resolve
from fine_tune.compare.claim_text import CLAIM_HEADERS, VERSUS_HEADERS, claim_cells, claims_preamble, versus_cells
from fine_tune.compare.claims import evaluate_claims, versus_reference
from fine_tune.compare.collect import Sweep, load_sweep
from fine_tune.compare.display import comparison_markdown, markdown_table
from fine_tune.compare.page import render_page
from fine_tune.compare.paired import head_to_head, is_reference, prompt_results, reference_for
from fine_tune.compare.plots import render_plots
from fine_tune.compare.publish import MODES, log_comparison, resolve_mode
from fine_tune.compare.spread import seed_groups, spread_markdown
from fine_tune.compare.table import csv_text, raw_row
from fine_tune.errors import UserError
from fine_tune.outputs import write_bytes_atomic, write_text_atomic

PROG = "fine-tune-compare"


def markdown_report(sweep: Sweep, rows: list[dict], groups: list[list[dict]], claims: list[dict],
                    versus: list[dict], claims_name: str = "reference_study") -> str:
    """comparison.md: a title, the table, the claims, each job against the reference, the seed spread."""
    study = f"\nstudy: {sweep.study}\n" if sweep.study else ""
    claim_table = markdown_table(CLAIM_HEADERS, [claim_cells(c) for c in claims])
    versus_table = markdown_table(VERSUS_HEADERS, [versus_cells(v) for v in versus]) if versus else \
        "No finished job to pair with a finished reference pipeline (SFT-CoT + DPO on curated data)."
    return (
        f"# Sweep comparison: {sweep.folder}\n{study}\n"
        f"{comparison_markdown(rows)}\n\n"
        f"## Claims ({claims_name})\n\n{claims_preamble(claims)}\n\n{claim_table}\n\n"
        f"## Each job against the reference pipeline (paired prompts)\n\n{versus_table}\n\n"
        f"## Seed spread (mean ± sample std)\n\n{spread_markdown(groups)}\n"
    )


def add_head_to_head(sweep: Sweep, rows: list[dict], results: dict) -> None:
    """Fill each row's WinRate columns with its head-to-head against the reference pipeline."""
    for job, row in zip(sweep.jobs, rows):
        if is_reference(row):
            row["winrate_baseline"] = "itself"
            continue
        reference = reference_for(row, rows)
        theirs = results.get(reference["folder"]) if reference else None
        seed = row["seed"] if isinstance(row["seed"], int) else 0
        h2h = head_to_head(job, results[job.label], theirs, seed)
        if h2h:
            row.update(win_rate=h2h["win_rate"], win_rate_ci_low=h2h["ci_low"], win_rate_ci_high=h2h["ci_high"],
                       winrate_judged=h2h["judged"], winrate_baseline=h2h["baseline"])


def sweep_claims(sweep: Sweep, claims_file: str | None) -> tuple[str, list[ClaimSpec]]:
    """(its name, the claims to test): `--claims` if given, else the file the jobs name (`claims=`)."""
    named = claims_file or next(iter(sweep.config_values("claims")), None) or "reference_study"
    path = resolve(str(named))
    return (path.stem if path.parent == CLAIM_SETS else str(path)), load_claims(path)


def compare(folder: Path, wandb: str = "auto", claims_file: str | None = None) -> dict[str, Path]:
    """Read the sweep at `folder`, write the comparison files into it, and log to W&B if asked.

    Args:
        folder: the sweep folder (`multirun/<date>/<time>`).
        wandb: one of MODES; "auto" logs only when the jobs logged online.
        claims_file: a claims file (path or name in fine_tune/claim_sets/); None: the one the jobs name.

    Returns:
        What was written: name -> path (plus "wandb" -> run URL or folder when logged).

    Raises:
        UserError: `folder` is not a sweep folder.
    """
    sweep = load_sweep(folder)
    claims_name, specs = sweep_claims(sweep, claims_file)
    rows = [raw_row(job) for job in sweep.jobs]
    results = {job.label: prompt_results(job) for job in sweep.jobs}
    add_head_to_head(sweep, rows, results)
    claims, versus = evaluate_claims(rows, results, specs), versus_reference(rows, results)
    groups = seed_groups(sweep.jobs, rows)
    report = markdown_report(sweep, rows, groups, claims, versus, claims_name)
    written = {"comparison.md": folder / "comparison.md", "comparison.csv": folder / "comparison.csv"}
    write_text_atomic(written["comparison.md"], report)
    write_text_atomic(written["comparison.csv"], csv_text(rows))
    pngs = render_plots(sweep.jobs, rows)
    for name, data in pngs.items():
        written[name] = folder / name
        write_bytes_atomic(written[name], data)
    written["index.html"] = folder / "index.html"
    write_text_atomic(written["index.html"], render_page(str(folder), sweep.study, rows, groups, claims, versus, pngs))
    print(report)
    mode = resolve_mode(wandb, sweep)
    if mode:
        written["wandb"] = Path(log_comparison(sweep, mode, rows, {n: folder / n for n in pngs}))
    return written


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Exit status 2, with one line on stderr, when the folder is not a sweep."""
    parser = argparse.ArgumentParser(prog=PROG, description="Compare the jobs of a Hydra sweep: table, plots, HTML page, optionally W&B.")
    parser.add_argument("sweep", type=Path, help="a sweep folder, e.g. multirun/2026-11-26/10-00-00")
    parser.add_argument(
        "--wandb", choices=MODES, default="auto",
        help="log the table and plots to W&B: auto (default) only when the jobs logged online",
    )
    parser.add_argument("--claims", metavar="FILE",
                        help="a claims file to test (a .yaml path, or a name in fine_tune/claim_sets/); default: the one the "
                             "sweep's jobs name (claims=...), else reference_study")
    args = parser.parse_args(argv)
    try:
        written = compare(args.sweep, args.wandb, args.claims)
    except UserError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:  # e.g. a read-only sweep folder: say which file, no traceback
        print(f"{PROG}: error: cannot write the comparison: {err}", file=sys.stderr)
        sys.exit(1)
    for name, path in written.items():
        print(f"wrote {path}" if name != "wandb" else f"W&B run: {path}")


if __name__ == "__main__":
    main()
