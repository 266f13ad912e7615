"""index.html: the comparison as one self-contained page.

Everything is inline (CSS in a <style> block, the PNGs as base64 data URIs)
and nothing links out, so the file can be mailed, attached to an issue or
opened from a cluster's scratch disk with no server. Every string that comes
from a job (folder names, errors, stage names) passes through html.escape:
an error message may hold `<` or `&` (tracebacks, tensor reprs).
"""

from __future__ import annotations

import base64
import html

from fine_tune.compare.claim_text import CLAIM_HEADERS, VERSUS_HEADERS, claim_cells, claims_preamble, versus_cells
from fine_tune.compare.display import COLUMNS, display_row, headers
from fine_tune.compare.spread import HEADERS as SPREAD_HEADERS
from fine_tune.compare.spread import spread_rows

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.finished td.status { color: #1a7f37; } tr.unstable td.status { color: #9a6700; }
tr.failed td.status { color: #cf222e; } tr.running td.status { color: #0969da; }
tr.confirmed td:last-child { color: #1a7f37; } tr.refuted td:last-child { color: #cf222e; }
tr.not-resolved td:last-child { color: #9a6700; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0; }
.meta { color: #555; }
"""

PLOT_TITLES = {"loss_curves.png": "Train loss", "accuracy.png": "Checker accuracy",
               "winrate.png": "WinRate against the reference pipeline", "deepeval.png": "DeepEval"}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _comparison_table(rows: list[dict]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers(rows))
    body = []
    for row in rows:
        shown = display_row(row)
        cells = "".join(
            f'<td class="{"num" if right else key}">{_e(shown[key])}</td>' for key, _, right in COLUMNS
        )
        body.append(f'<tr class="{_e(row["status"])}" title="{_e(row["folder"])}">{cells}</tr>')
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(body) + "\n</table>"


def _spread_table(groups: list[list[dict]]) -> str:
    if not groups:
        return "<p>No jobs differ only by seed.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in SPREAD_HEADERS)
    body = "\n".join(
        "<tr>" + "".join(f'<td class="{"num" if i > 2 else ""}">{_e(c)}</td>' for i, c in enumerate(r)) + "</tr>"
        for r in spread_rows(groups)
    )
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def _plain_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def _claims_table(claims: list[dict]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in CLAIM_HEADERS)
    body = "\n".join(
        f'<tr class="{_e(c["verdict"].replace(" ", "-"))}">'
        + "".join(f"<td>{_e(cell)}</td>" for cell in claim_cells(c)) + "</tr>" for c in claims)
    return f"<p class=\"meta\">{_e(claims_preamble(claims))}</p>\n<table>\n<tr>{head}</tr>\n{body}\n</table>"


def render_page(sweep_name: str, study: str | None, rows: list[dict], groups: list[list[dict]],
                claims: list[dict], versus: list[dict], pngs: dict[str, bytes]) -> str:
    """The whole page as one HTML string.

    Args:
        sweep_name: the sweep folder as the user gave it; the page's title.
        study: the jobs' `study` value(s), or None.
        rows: raw rows (`table.raw_row`), one per job.
        groups: seed groups (`spread.seed_groups`).
        claims: the study's claims as tested (`claims.evaluate_claims`).
        versus: each job against the reference pipeline (`claims.versus_reference`).
        pngs: file name -> PNG bytes, embedded in this order.

    Returns:
        A complete HTML document.
    """
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    study_line = f"<p class=\"meta\">study: {_e(study)}</p>" if study else ""
    images = "\n".join(
        f'<h3>{_e(PLOT_TITLES.get(name, name))}</h3>\n'
        f'<img alt="{_e(name)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'
        for name, data in pngs.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sweep comparison: {_e(sweep_name)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Sweep comparison: {_e(sweep_name)}</h1>
{study_line}
<p class="meta">{len(rows)} jobs: {_e(summary)}</p>
<h2>Runs</h2>
{_comparison_table(rows)}
<h2>Claims of the reference study</h2>
{_claims_table(claims)}
<h2>Each job against the reference pipeline (paired prompts)</h2>
{_plain_table(VERSUS_HEADERS, [versus_cells(v) for v in versus])}
<h2>Seed spread (mean ± sample std)</h2>
{_spread_table(groups)}
<h2>Plots</h2>
{images}
</body>
</html>
"""
