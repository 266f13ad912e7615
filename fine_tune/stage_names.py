"""What `method=[...]` asked for on the command line, checked before anything heavy is imported.

Hydra's composition keeps one entry per stage name, so `method=[sft,sft]` would silently
train one stage: the repeat is read from the override itself, in milliseconds, not after
TRL, PEFT and the data have loaded.
"""

from __future__ import annotations

from fine_tune.errors import UserError


def requested_stages(task_overrides: list[str]) -> list[str] | None:
    """The stages a `method=[...]` command-line override lists, repeats included (composition drops them)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(list(task_overrides)):
        if override.key_or_group == "method" and not override.is_sweep_override():
            value = override.value()
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return None


def check_repeats(requested: list[str] | None) -> None:
    """No stage named twice by mistake.

    Raises:
        UserError: naming the repeated stage and how to train it longer instead.
    """
    repeated = sorted({name for name in requested or [] if requested.count(name) > 1})
    if repeated:
        raise UserError(
            f"method names {', '.join(repeated)} twice: a chain runs each stage once; to train a stage longer "
            f"raise method.{repeated[0]}.num_train_epochs, e.g. method=[sft_cot,dpo] method.dpo.num_train_epochs=2"
        )
