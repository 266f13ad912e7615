"""Compare the jobs of a sweep: a table, a seed spread, plots, an HTML page, a W&B run.

    fine-tune-compare multirun/2026-11-26/10-00-00      # or: python -m fine_tune.compare ...

Modules, one job each: `collect` reads the sweep folder, `table` builds the
rows (raw for CSV/W&B, formatted for markdown/HTML), `spread` the seed
spread, `plots` the PNGs, `page` the self-contained index.html, `publish`
the W&B run, `cli` ties them together.
"""
