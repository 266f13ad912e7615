"""The `fine-tune` command (also `python -m fine_tune`): one @hydra.main over conf/.

    fine-tune                                  # embedded default: curated data, sft_cot, tiny model
    fine-tune method=[sft_cot,dpo] data=raw    # compose a run from config groups
    fine-tune -m data=raw,curated              # a sweep, one job per combination
    fine-tune experiment=reference_study debug=smoke
    fine-tune -m experiment=method_comparison   # the reference study's comparison, 10 jobs
    fine-tune -m hparams_search=optuna         # Optuna over lr, LoRA rank, DPO beta

User mistakes (an unknown option, key or type, a missing model path, an
output folder that cannot be written) end in one line on stderr and exit
status 2, without a traceback; set HYDRA_FULL_ERROR=1 to see one.
"""

from __future__ import annotations

import os

import hydra
from omegaconf import DictConfig

from fine_tune.backends import activate
from fine_tune.config import conf_dir, register_configs
from fine_tune.config_ranges import check_config
from fine_tune.errors import UserError, exit_on_error
from fine_tune.stage_names import requested_stages


def check_group_choices(choices: dict, options) -> None:
    """Every chosen option of a config group is one the group has.

    Hydra silently skips a missing option of an *optional* group (`debug=smok`,
    `experiment=sft_cot_curatd`), which would run the full default instead.

    Args:
        choices: group -> chosen option (HydraConfig's runtime.choices).
        options: group -> the options it has (its files on every search path, and the ConfigStore's).

    Raises:
        UserError: naming the group, the option, the nearest one and the list.
    """
    import difflib

    for group, option in choices.items():
        if group.startswith("hydra/") or not isinstance(option, str):
            continue
        known = options(group)
        if known and option not in known:
            near = difflib.get_close_matches(option, known, n=1)
            hint = f"did you mean {group}={near[0]}? " if near else ""
            raise UserError(f"{group}={option}: no such option: {hint}choose one of {', '.join(sorted(known))}")


def _group_options(group: str) -> list[str]:
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()  # its overrides carry hydra.searchpath: a user's own config folders count
    overrides = [*hydra_cfg.overrides.hydra, *hydra_cfg.overrides.task]
    return GlobalHydra.instance().config_loader().get_group_options(group, config_name="config", overrides=overrides)


@hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")
def _task(cfg: DictConfig) -> float | None:

    try:
        activate(cfg.backend.name)  # Unsloth, if chosen, must patch transformers/TRL/PEFT before they load
    except UserError:
        pass  # the run reports it (and a sweep records the job as failed)
    from hydra.core.hydra_config import HydraConfig

    def checked_run():
        # before the heavy imports: a mistake on the command line answers in a second, not after TRL loads
        check_group_choices(dict(HydraConfig.get().runtime.choices), _group_options)
        check_config(cfg, requested_stages(HydraConfig.get().overrides.task))
        # heavy: torch, transformers and TRL load only once the config has passed every check (a mistake answers in ~2 s)
        from fine_tune.train import run_job

        return run_job(cfg)

    return exit_on_error("fine-tune", checked_run, job=True)


def run_reporting_errors(task, prog: str) -> None:
    """Run a @hydra.main `task`, turning user mistakes into one line on stderr and exit status 2."""
    register_configs()
    user_wants_traceback = bool(os.environ.get("HYDRA_FULL_ERROR"))
    # Hydra prints its own errors and exits; asking it to raise lets us turn
    # config mistakes into one clear line with a suggestion.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    if user_wants_traceback:
        task()
    else:
        exit_on_error(prog, task)


def main() -> None:
    run_reporting_errors(_task, "fine-tune")


__all__ = ["main", "run_reporting_errors", "UserError"]
