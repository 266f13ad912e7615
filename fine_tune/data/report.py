"""The data report: rows in and out of every step, as JSON and markdown, and the rejects file."""

from __future__ import annotations

import json
from pathlib import Path

from fine_tune.outputs import write_json_atomic, write_text_atomic


def markdown(report: dict) -> str:
    """The report as a markdown table with a few examples of each removal."""
    lines = [
        f"# Data report: {report['name']}",
        "",
        f"source: `{report['source']}`, format `{report['format']}`; "
        f"{report['rows_read']} rows read, {report['load_rejects']} rejected while loading",
        "",
        "| step | rows in | rows out | removed |",
        "|---|---:|---:|---:|",
    ]
    for step in report["steps"]:
        lines.append(f"| {step['step']} | {step['rows_in']} | {step['rows_out']} | {step['rows_in'] - step['rows_out']} |")
    lines += ["", f"**train {report['train_rows']} rows, eval {report['eval_rows']} rows**", ""]
    leak = report.get("contaminated_eval")
    if leak is not None:
        lines += [f"Eval prompts found in the train rows (same prompt, or half their word {leak['ngram']}-grams): "
                  f"{leak['count']} of {report['eval_rows']}", ""]
    if report.get("uses_checkers"):
        lines += [f"Curation read the rows' own checkers (data.curation.noise.check_answers): "
                  f"{report.get('checker_removed', 0)} rows failed theirs and were removed. A scraped set has no "
                  "such oracle; set data.curation.noise.check_answers=false to curate as one would without it.", ""]
    for step in report["steps"]:
        for ex in step.get("examples", []):
            lines.append(f"- {step['step']}: `{ex['id']}` {ex['reason']}: {ex['prompt']!r}")
    return "\n".join(lines) + "\n"


def write_report(report: dict, rejects: list[dict], folder: Path) -> None:
    """data_report.json, data_report.md and rejects.jsonl (one line per removed row, with its reason)."""
    write_json_atomic(folder / "data_report.json", report)
    write_text_atomic(folder / "data_report.md", markdown(report))
    write_text_atomic(folder / "rejects.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejects))
