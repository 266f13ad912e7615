"""Data for fine-tuning: the embedded, deterministic instruction world.

`skills` holds the six skills (each a generator of problems and of pre-training
prose); `embedded` builds the clean/eval/raw data sets, the pre-training corpus,
the response formats every stage shares and the answer checker.
"""
