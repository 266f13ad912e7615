"""Every config group option and every experiment preset composes; schema errors are clear."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from omegaconf import OmegaConf

from fine_tune.config import compose
from fine_tune.errors import UserError, describe

CONF = REPO / "conf"
GROUPS = ["data", "model", "method", "backend", "eval", "logger", "debug", "budget"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def presets() -> list[str]:
    return sorted(p.stem for p in (REPO / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option):
    cfg = compose([f"{group}={option}"])
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    if group == "method":
        assert list(cfg.method.keys()) == [option]


@pytest.mark.parametrize("preset", presets())
@pytest.mark.parametrize("debug", [[], ["debug=smoke"]])
def test_every_preset_composes(preset, debug):
    cfg = compose([f"experiment={preset}", *debug])
    assert cfg.study == preset
    assert len(cfg.method) >= 1
    if debug:
        assert cfg.debug.max_steps is not None


def test_presets_and_groups_exist():
    assert {"reference_study", "sft_cot_curated", "large_sft_raw", "dpo_grpo", "thinking_curated"} <= set(presets())
    assert set(options("method")) == {"sft", "sft_cot", "dpo", "grpo", "thinking"}
    assert {"raw", "curated"} <= set(options("data"))
    assert {"tiny", "qwen2.5-0.5b", "llama-3.2-1b", "smollm2-360m", "local", "hub"} <= set(options("model"))
    assert set(options("budget")) == {"epochs", "matched_steps", "converged"}
    assert compose([]).budget.name == "epochs"  # the stages' own budgets unless a run or preset asks otherwise


def test_method_multi_select_keeps_order_and_settings_apart():
    cfg = compose(["method=[sft_cot,dpo]"])
    assert list(cfg.method.keys()) == ["sft_cot", "dpo"]
    assert cfg.method.sft_cot.response == "cot" and cfg.method.dpo.beta == 0.1
    assert list(compose(["method=[dpo,sft]"]).method.keys()) == ["dpo", "sft"]


def test_defaults_are_the_embedded_world():
    cfg = compose()
    assert cfg.data.name == "curated" and cfg.model.tiny is not None and list(cfg.method) == ["sft_cot", "dpo"]
    assert cfg.logger.name == "wandb" and cfg.logger.mode == "offline"


def _error(overrides: list[str]) -> str:
    with pytest.raises(Exception) as info:
        OmegaConf.to_container(compose(overrides), resolve=True)
    message = describe(info.value)
    assert message is not None, f"{overrides} raised a bug-looking error: {info.value!r}"
    assert "\n" not in message
    return message


def test_wrong_key_names_key_and_closest():
    message = _error(["method=sft", "method.sft.lrr=1"])
    assert "method.sft.lrr" in message and "did you mean 'learning_rate'" in message


def test_key_of_unselected_stage_says_how_to_select_it():
    message = _error(["method.grpo.beta=0.2"])
    assert "method.grpo" in message and "method=grpo" in message


def test_wrong_type_names_key():
    message = _error(["method=sft", "method.sft.learning_rate=high"])
    assert "method.sft.learning_rate" in message and "high" in message
    assert "model.tiny.hidden_size" in _error(["model.tiny.hidden_size=big"])
    assert "lora, full" in _error(["method.sft_cot.finetune=half"])


def test_unknown_option_lists_valid_ones():
    message = _error(["method=sftt"])
    assert "'sftt'" in message and "sft_cot" in message and "did you mean 'sft'" in message


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", "fine_tune", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args,expected",
    [
        (["method=sft", "method.sft.lrr=1"], "did you mean 'learning_rate'"),
        (["method=sftt"], "valid options: dpo, grpo, sft, sft_cot, thinking"),
        (["seed=abc"], "config key 'seed'"),
        (["model=local", "model.path=/no/such/model", "logger=none", "debug=smoke"], "/no/such/model"),
        (["backend=unsloth", "logger=none", "debug=smoke"], "needs a CUDA GPU"),
    ],
)
def test_cli_user_errors_are_one_line_without_traceback(args, expected, tmp_path):
    result = _cli(*args, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("fine-tune: error:")]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_cli_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = _cli("logger=none", "debug=smoke", f"hydra.run.dir={blocker / 'run'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(blocker) in result.stderr


def test_experiment_works_from_any_working_directory(tmp_path):
    result = _cli("experiment=large_sft_raw", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "study: large_sft_raw" in result.stdout and "name: raw" in result.stdout


@pytest.mark.parametrize("group,option,near", [("debug", "smok", "smoke"), ("experiment", "sft_cot_curatd",
                         "sft_cot_curated"), ("ablate", "no_nois", "no_noise"), ("hparams_search", "optna", "optuna")])
def test_a_typo_in_an_optional_group_is_an_error_not_the_default(group, option, near):
    from fine_tune.cli import check_group_choices
    from fine_tune.config import conf_dir

    options = lambda g: sorted(p.stem for p in (conf_dir() / g).glob("*.yaml"))  # noqa: E731
    # Hydra skips a missing option of an optional group silently: the full default would run
    with pytest.raises(UserError, match=rf"{group}={option}: no such option: did you mean {group}={near}\?"):
        check_group_choices({group: option}, options)
    check_group_choices({group: near, "hydra/launcher": "nope", "method": ["sft"]}, options)


def test_the_entrypoint_refuses_a_typo_in_an_optional_group(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fine_tune", "debug=smok", f"hydra.run.dir={tmp_path}"],
                            capture_output=True, text=True, cwd=REPO, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "debug=smok: no such option: did you mean debug=smoke?" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "metrics.json").exists()  # nothing ran


def test_debug_caps_hold_under_a_search_and_an_experiment_and_name_their_study():
    search = compose(["hparams_search=optuna", "debug=smoke"], return_hydra_config=True)
    assert search.debug.max_steps == 6 and search.debug.batch_size == 4  # not the search's own 60 / 8
    assert search.hydra.sweeper.study_name.endswith("_smoke")  # a smoke search never continues a real one
    real = compose(["hparams_search=optuna"], return_hydra_config=True)
    assert real.debug.max_steps == 60 and real.hydra.sweeper.study_name == "hparams_search_curated_sft_cot+dpo"
    assert compose(["experiment=method_comparison", "debug=smoke"]).eval.max_prompts == 8


@pytest.mark.parametrize("body,expected", [
    ("data:\n  max_sampless: 5\n", "in preset 'experiment/mine': unknown config key 'data.max_sampless' (did you mean "
                                   "'max_samples'?)"),
    ("data:\n  max_samples: lots\n", "in preset 'experiment/mine': bad value for config key 'data.max_samples': "
                                     "Value 'lots'"),
])
def test_a_mistake_inside_a_users_preset_names_the_preset_and_the_key(tmp_path, body, expected):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\n" + body)
    result = subprocess.run([sys.executable, "-m", "fine_tune", "experiment=mine", f"hydra.searchpath=[file://{tmp_path}]"],
                            capture_output=True, text=True, cwd=REPO, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"fine-tune: error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert expected in result.stderr


@pytest.mark.parametrize("override,message", [
    ("data.max_samples=-5", "data.max_samples=-5: must be at least 1"),
    ("data.fraction=0", "data.fraction=0.0: must be in (0, 1]"),
    ("data.eval_fraction=1", "data.eval_fraction=1.0: must be between 0 and 1"),
    ("model.learning_rate=-1e-4", "model.learning_rate=-0.0001: must be a positive number"),
    ("model.per_device_train_batch_size=0", "model.per_device_train_batch_size=0: must be at least 1"),
    ("debug.max_steps=0", "debug.max_steps=0: must be at least 1"),
    ("method.sft_cot.max_steps=0", "method.sft_cot.max_steps=0: must be -1 (whole epochs) or at least 1"),
    ("method.dpo.beta=0", "method.dpo.beta=0.0: must be a positive number"),
    ("eval.max_new_tokens=0", "eval.max_new_tokens=0: must be at least 1"),
    ("budget.eval_steps=0", "budget.eval_steps=0: must be at least 1"),
    ("budget.dpo_steps=-1", "budget.dpo_steps=-1: must be at least 1"),
])
def test_values_out_of_range_are_refused_before_anything_loads(override, message):
    from fine_tune.config_ranges import check_ranges

    with pytest.raises(UserError) as err:
        check_ranges(compose([override]))
    assert str(err.value).startswith(message)


def test_grpo_needs_two_generations_and_every_preset_is_in_range():
    from fine_tune.config_ranges import check_ranges

    with pytest.raises(UserError, match=r"method.grpo.num_generations=1: must be at least 2"):
        check_ranges(compose(["method=grpo", "method.grpo.num_generations=1"]))
    presets = sorted(p.stem for p in (REPO / "experiments").glob("*.yaml"))
    for extra in ([], ["debug=smoke"], ["hparams_search=optuna"]):
        for preset in presets:
            check_ranges(compose([f"experiment={preset}", *extra]))
        check_ranges(compose(extra))


def _unread_keys(source: str) -> list[str]:
    """Schema keys that no code reads: `<holder>.<key>`, `<holder>["<key>"]`, `budget("<key>")` or a
    `${...key}` interpolation, where a holder is the key's parent section or a variable holding one."""
    import dataclasses
    import re
    import typing

    from fine_tune import config as schema

    # every read in the source, found once: (holder, key) pairs, and keys read without a holder
    pairs = set(re.findall(r"(?=\b(\w+)\.(\w+)\b(?!\s*\())", source))  # overlapping: a.b.c gives a.b and b.c
    pairs |= set(re.findall(r"(\w+)\[[\"'](\w+)[\"']\]", source))
    # a stage's own key, else the model preset's (stage_settings._own_or_model), and ${...} in YAML
    bare = set(re.findall(r"_own_or_model\([^)]*?[\"'](\w+)[\"']\)", source)) | \
        set(re.findall(r"\$\{[^}]*?\b(\w+)\}", source))
    holders = re.compile(r"\w*cfg|\w*stage|\w*spec|src|emb|near")
    unread = []

    def walk(cls, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        parent = prefix.split(".")[-1] if prefix else "cfg"
        for f in dataclasses.fields(cls):
            path = f"{prefix}.{f.name}" if prefix else f.name
            read = f.name in bare or any(key == f.name and (holder == parent or holders.fullmatch(holder))
                                         for holder, key in pairs)
            if not read:
                unread.append(path)
            for arg in typing.get_args(hints[f.name]) or (hints[f.name],):
                if dataclasses.is_dataclass(arg):
                    walk(arg, path)

    walk(schema.Config, "")
    for name, cls in ((n, m.schema) for n, m in schema.METHODS.items()):
        walk(cls, f"method.{name}")
    return unread


def test_every_declared_config_key_is_read_by_the_code():
    code = [p for p in (REPO / "fine_tune").rglob("*.py") if p.name != "config.py"]
    source = "\n".join(p.read_text() for p in [*code, *(REPO / "conf").rglob("*.yaml")])
    assert _unread_keys(source) == []
    # the check catches a declared key nobody reads, as logger.group once was
    assert _unread_keys(source.replace("logger.group", "logger.grp")) == ["logger.group"]


def test_the_closed_sets_match_what_transformers_and_trl_accept():
    import inspect

    from transformers import SchedulerType
    from trl import DPOConfig

    from fine_tune.config import DPOLoss, LRScheduler

    assert {s.value for s in LRScheduler} <= {s.value for s in SchedulerType}
    documented = inspect.getdoc(DPOConfig).split("loss_type", 1)[1].split("loss_weights", 1)[0]
    assert all(f"'{loss.value}'" in documented for loss in DPOLoss)


@pytest.mark.parametrize("override,words", [
    ("method.dpo.loss_type=sigmod", "'method.dpo.loss_type': Invalid value 'sigmod', expected one of [sigmoid, hinge"),
    ("method.sft_cot.lr_scheduler_type=cosin", "'method.sft_cot.lr_scheduler_type': Invalid value 'cosin', expected "
                                               "one of [linear, cosine,"),
    ("model.dtype=fp16", "'model.dtype': Invalid value 'fp16', expected one of [auto, float32, bfloat16, float16]"),
    ("logger.name=tensorboard", "'logger.name': Invalid value 'tensorboard', expected one of [wandb, none]"),
])
def test_a_wrong_value_of_a_closed_set_fails_at_compose_time_listing_the_values(override, words):
    with pytest.raises(Exception) as err:
        compose(["method=[sft_cot,dpo]", override])
    assert words in describe(err.value)


def test_trl_args_reach_the_trainer_and_a_misspelt_one_names_the_nearest(tmp_path, cache_dir, monkeypatch):
    import json

    from conftest import run_in_process

    base = ["debug=smoke", "logger=none", "method=sft", "eval.enabled=false", f"cache_dir={cache_dir}",
            "seed=208"]
    status, stderr = run_in_process("fine-tune", [*base, f"hydra.run.dir={tmp_path / 'ok'}",
                                                  "+method.sft.trl_args.max_steps=3"], monkeypatch)
    assert status == 0, stderr[-2000:]
    assert json.loads((tmp_path / "ok" / "metrics.json").read_text())["stages"]["sft"]["global_steps"] == 3
    status, stderr = run_in_process("fine-tune", [*base, f"hydra.run.dir={tmp_path / 'bad'}",
                                                  "+method.sft.trl_args.max_grad_nrom=0.5"], monkeypatch)
    assert status == 2 and "Traceback" not in stderr
    assert ("method.sft.trl_args.max_grad_nrom: SFTConfig has no argument 'max_grad_nrom'; did you mean "
            "max_grad_norm") in stderr
    status, stderr = run_in_process("fine-tune", [*base, "method.sft.trl_args.packing=true"], monkeypatch)
    assert status == 2 and "add it with a leading +, e.g. +method.sft.trl_args.packing=<value>" in stderr


def test_the_method_table_is_the_one_place_a_method_is_named():
    """Each row: a YAML file of the same name, a runner that imports, a TRL config class that exists."""
    import trl

    from fine_tune.config import METHODS, conf_dir
    from fine_tune.stages import runner

    assert sorted(METHODS) == sorted(p.stem for p in (conf_dir() / "method").glob("*.yaml"))
    for name, method in METHODS.items():
        assert callable(runner(name)) and isinstance(getattr(trl, method.trl_config), type), name
        extends = re.search(r"/schema/method/(\w+)@_here_", (conf_dir() / "method" / f"{name}.yaml").read_text())
        assert extends and METHODS[extends.group(1)].schema is method.schema, name
