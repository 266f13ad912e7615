"""Compare the jobs of a sweep: a table, a seed spread, plots, an HTML page, a W&B run.

    fine-tune-compare multirun/2026-11-26/10-00-00      # or: python -m fine_tune.compare ...

Modules, one job each: `collect` reads the sweep folder, `table` builds the
raw rows (CSV/W&B), `display` formats them (markdown/HTML), `paired` reads
each job's per-prompt results, `claims` tests the claims a file names
(fine_tune.claim_spec reads it) (seeds the unit), `claim_text` writes them out, `spread` the seed
spread, `plots` the PNGs, `page` the self-contained index.html, `publish`
the W&B run, `cli` ties them together.
"""
