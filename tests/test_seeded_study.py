"""The seeded study's preset: every claim's two cells are cells of the sweep, each composed as it says."""

from __future__ import annotations

import math

import pytest
import yaml

from fine_tune.claim_spec import load_claims, resolve
from fine_tune.config import compose, conf_dir

STUDY = yaml.safe_load((conf_dir() / "experiment" / "seeded_study.yaml").read_text())
CELLS = STUDY["hydra"]["sweeper"]["params"]["cell"].split(",")


@pytest.fixture(scope="module")
def composed() -> dict[str, tuple]:
    out = {}
    for cell in CELLS:
        cfg = compose(["experiment=seeded_study", f"cell={cell}", "seed=2"])
        assert cfg.seed == 2 and cfg.study == "seeded_study" and cfg.claims == "reference_study"
        assert cfg.model.bf16 is True, cell  # the study trains under bfloat16 autocast (its <= 2 h target)
        out[cell] = (tuple(cfg.method), cfg.data.name, cfg.budget.name)
    return out


def test_every_cell_composes_to_its_data_stages_and_budget(composed):
    assert composed["pipeline_curated_matched"] == (("sft_cot", "dpo"), "curated", "matched_steps")
    assert composed["grpo_curated"] == (("sft_cot", "dpo", "grpo"), "curated", "epochs")
    assert composed["sft_raw"] == (("sft",), "raw", "epochs")
    assert len(set(composed.values())) == len(CELLS)  # no two cells the same


def test_every_claim_of_the_study_names_cells_the_sweep_runs(composed):
    have = set(composed.values())
    for claim in load_claims(resolve("reference_study")):
        for cell in (claim.a, claim.b):
            assert (tuple(cell.method), cell.data, cell.budget) in have, (claim.key, cell.label)


def test_at_least_three_seeds():
    assert len(str(STUDY["hydra"]["sweeper"]["params"]["seed"]).split(",")) >= 3


def test_raw_at_its_own_epoch_is_the_matched_steps_pair():
    """The matched-steps claims pair curated at budget=matched_steps with raw at one epoch: the same steps."""
    matched = compose(["cell=pipeline_curated_matched"])
    raw = compose(["cell=pipeline_raw"])
    from fine_tune.data.pipeline import load_splits

    rows = len(load_splits(raw.data, cache_dir=raw.cache_dir, show_progress=False).train)
    batch = raw.model.per_device_train_batch_size
    assert matched.budget.sft_steps == math.ceil(rows / batch) and raw.model.num_train_epochs == 1
