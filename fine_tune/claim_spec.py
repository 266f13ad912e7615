"""Claims as data: the file that says which two cells of a sweep each claim compares, and how.

A claims file (fine_tune/claim_sets/reference_study.yaml is the study's) is a list of claims, each
naming two cells (stages in order, data, training budget), a measure and what is expected:
A better, A worse, or the two equivalent within a margin (TOST). Users write their own and
test it on their sweep the same way (`fine-tune-compare <sweep> --claims my_claims.yaml`, or
`claims=<path>` in the sweep). The file is checked against the dataclasses below: a misspelt
key, a wrong measure or a missing margin is one line naming the file, the line and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import List, Optional

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fine_tune.errors import UserError, describe

CLAIM_SETS = Path(__file__).resolve().parent / "claim_sets"  # the packaged claims files
DEFAULT_BUDGET = "epochs"  # budget.name of a run that trains each stage its own epochs


class Measure(str, Enum):
    accuracy = "accuracy"  # checker accuracy, every scored prompt
    multi_step_accuracy = "multi_step_accuracy"  # checker accuracy on the multi-step skills
    answer_loss = "answer_loss"  # the final answer's loss given the prompt alone; lower is better
    winrate = "winrate"  # A's head-to-head against B (correctness judge, both orders); 0 = 50%


class Expect(str, Enum):
    a_better = "a_better"
    a_worse = "a_worse"
    equivalent = "equivalent"  # within +-margin, by two one-sided tests


@dataclass
class CellSpec:
    method: List[str]  # the stages in order, e.g. [sft_cot, dpo]
    data: str  # data.name: raw, curated, gsm8k, ...
    budget: str = DEFAULT_BUDGET  # budget.name

    @property
    def label(self) -> str:
        budget = "" if self.budget == DEFAULT_BUDGET else f", {self.budget}"
        return f"{' → '.join(self.method)} on {self.data}{budget}"


@dataclass
class ClaimSpec:
    key: str
    text: str
    a: CellSpec
    b: CellSpec
    measure: Measure
    expect: Expect
    factor: str = ""  # what differs between A and B: what an effect is attributed to
    margin: Optional[float] = None  # equivalent: the margin in the measure's units
    unstable_confirms: bool = False  # "worse, or unstable": an unstable A confirms


def resolve(name_or_path: str) -> Path:
    """A claims file: a path to a YAML file, else a name in fine_tune/claim_sets/ (`reference_study`).

    Raises:
        UserError: neither exists; the message lists the packaged names.
    """
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if path.is_file():
            return path
        raise UserError(f"claims file {path} does not exist")
    packaged = CLAIM_SETS / f"{name_or_path}.yaml"
    if packaged.is_file():
        return packaged
    names = ", ".join(sorted(p.stem for p in CLAIM_SETS.glob("*.yaml")))
    raise UserError(f"no claims file '{name_or_path}': give a path to a .yaml file or one of: {names}")


def _line_of(text: str, index: int, dotted: str | None) -> str:
    """':<line>' of claim `index`'s key `dotted` (e.g. "a.method") in the file, else of the claim itself."""
    node = yaml.compose(text)
    claims = next((v for k, v in node.value if k.value == "claims"), None) if isinstance(node, yaml.MappingNode) else None
    if not isinstance(claims, yaml.SequenceNode) or index >= len(claims.value):
        return ""
    found = claims.value[index]
    for part in (dotted or "").split("."):
        inner = next((v for k, v in found.value if k.value == part), None) if isinstance(found, yaml.MappingNode) else None
        if inner is None:
            key_node = next((k for k, _ in found.value if k.value == part), None) if isinstance(found, yaml.MappingNode) else None
            found = key_node or found
            break
        found = inner
    return f":{found.start_mark.line + 1}"


def _claim(raw, index: int, path: Path, text: str) -> ClaimSpec:
    """One claim checked against ClaimSpec; a mistake names the file, its line and claims.<index>.<key>."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ClaimSpec), raw))
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or getattr(err, "key", None)
        message = describe(err).replace(f"'{key}'", f"'claims.{index}.{key}'", 1).replace(
            "valid keys of the top level", f"valid keys of claims.{index}")
        raise UserError(f"{path}{_line_of(text, index, key)}: {message}") from err


def load_claims(path: Path) -> list[ClaimSpec]:
    """The claims of a file, checked.

    Raises:
        UserError: unreadable YAML, an unknown key or value, or an equivalence claim without a
            positive margin; one line with the file, the line where it can be found, and the key.
    """
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: not valid YAML: {getattr(err, 'problem', err)}") from err
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise UserError(f"{path}: a claims file holds `claims:`, a list of claims (see fine_tune/claim_sets/reference_study.yaml)")
    claims = [_claim(raw, index, path, text) for index, raw in enumerate(data["claims"])]
    for index, claim in enumerate(claims):
        if claim.expect is Expect.equivalent and not (claim.margin and claim.margin > 0):
            raise UserError(f"{path}{_line_of(text, index, 'expect')}: claims.{index} ({claim.key}) expects "
                            "equivalence and needs margin: <positive number in the measure's units>")
    keys = [c.key for c in claims]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise UserError(f"{path}: claim key {', '.join(twice)} is used twice: each claim needs its own key")
    return claims
