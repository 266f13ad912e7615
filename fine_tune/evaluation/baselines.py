"""The answers the tuned model is compared with: eval.baseline = base | reference | <run folder>."""

from __future__ import annotations

from pathlib import Path

from fine_tune.errors import UserError
from fine_tune.evaluation.generations import load_generations
from fine_tune.run_folder import RunFolder


def baseline_responses(baseline: str, records: list[dict], run_dir: Path, base_records: list[dict] | None
                       ) -> tuple[str, dict[str, str]]:
    """(label, {prompt id: baseline response}) for the tuned `records`.

    Args:
        baseline: "base", "reference", or the folder of another run (its generations/tuned.jsonl).
        base_records: the base model's generations (needed for baseline=base).

    Raises:
        UserError: the baseline is not "base"/"reference" and not a run folder.
    """
    if baseline == "reference":
        return "reference", {r["id"]: r["reference"] for r in records if r.get("reference")}
    if baseline == "base":
        if base_records is None:
            raise UserError("eval.baseline=base needs the base model's generations: set eval.evaluate_base=true")
        return "base", {r["id"]: r["response"] for r in base_records}
    other = Path(baseline).expanduser()
    folder = RunFolder(other)
    expected = [folder.metrics, folder.tuned_generations]
    missing = [str(other / m) for m in folder.missing(*expected)]
    if missing:
        raise UserError(f"eval.baseline={baseline} is not a run folder: expected {' and '.join(map(str, expected))} "
                        f"(missing: {', '.join(missing)}); use base, reference or a finished run's folder")
    if other.resolve() == run_dir.resolve():
        raise UserError(f"eval.baseline={baseline} is this run itself: name another run's folder")
    return f"run:{other.name}", {r["id"]: r["response"] for r in load_generations(expected[1])}
