"""GRPO reward functions, by name (method.grpo.rewards=[correctness,format]) or "module:function".

TRL calls each with the completions and every extra data set column as
keyword arguments; conversational completions arrive as message lists.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fine_tune.answers import extract_answer, is_correct
from fine_tune.errors import UserError


def _text(completion) -> str:
    return completion[-1]["content"] if isinstance(completion, list) else str(completion)


def correctness(completions, check, **kwargs) -> list[float]:
    """1 when the data's checker accepts the completion's final answer, else 0."""
    return [1.0 if is_correct(_text(c), spec) else 0.0 for c, spec in zip(completions, check)]


def answer_format(completions, **kwargs) -> list[float]:
    """0.5 for a completion that ends in a readable `Answer:` line: the format every checker reads."""
    return [0.5 if extract_answer(_text(c)) else 0.0 for c in completions]


REWARDS: dict[str, Callable] = {"correctness": correctness, "format": answer_format}
NEEDS_CHECKER = {"correctness"}


def reward_functions(names: list[str], has_checker: bool) -> list[Callable]:
    """The functions `names` refer to; a checker-based reward on data without checkers is an error."""
    functions = []
    for name in names:
        if name in REWARDS:
            if name in NEEDS_CHECKER and not has_checker:
                raise UserError(
                    f"method.grpo.rewards has '{name}', but the data has no checker: use data with final answers "
                    "(embedded, GSM8K), or set method.grpo.rewards=[format] or a reward of your own 'module:function'"
                )
            functions.append(REWARDS[name])
        elif ":" in name:
            module, _, attr = name.partition(":")
            try:
                functions.append(getattr(importlib.import_module(module), attr))
            except (ImportError, AttributeError) as err:
                raise UserError(f"method.grpo.rewards: cannot import '{name}': {err}") from err
        else:
            raise UserError(f"unknown reward '{name}' in method.grpo.rewards; known: {', '.join(REWARDS)} "
                            "or 'module:function'")
    if not functions:
        raise UserError("method.grpo.rewards is empty: GRPO needs at least one reward, e.g. [correctness,format]")
    return functions
