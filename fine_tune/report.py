"""The end-of-run summary printed to the terminal: accuracy before and after tuning, WinRate, DeepEval."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table


def print_summary(metrics: dict, run_dir: Path) -> None:
    console = Console()
    if "tuned" in metrics:
        console.print(_accuracy_table(metrics))
    eval_loss = f"{metrics['eval_loss']:.4f}" if metrics.get("eval_loss") is not None else "n/a"
    console.print(
        f"final train loss {metrics['final_train_loss']:.4f}, eval loss {eval_loss}, "
        f"{metrics['wall_time_s']:.0f} s; results in {run_dir}"
    )
    for line in eval_lines(metrics.get("eval") or {}):
        console.print(line)
    if metrics["status"] == "unstable":
        console.print(f"[bold red]run unstable[/bold red]: {metrics['unstable_reason']}")


def _accuracy_table(metrics: dict) -> Table:
    table = Table(title="checker accuracy on the eval prompts")
    table.add_column("skill")
    has_base = "base" in metrics
    if has_base:
        table.add_column("base", justify="right")
    table.add_column("tuned", justify="right")
    tuned = metrics["tuned"]
    for skill, acc in tuned["per_skill"].items():
        cells = [f"{metrics['base']['per_skill'].get(skill, 0):.1%}"] if has_base else []
        table.add_row(skill, *cells, f"{acc:.1%}")
    overall = [f"{metrics['base']['accuracy']:.1%}"] if has_base else []
    table.add_row("[bold]all[/bold]", *overall, f"[bold]{tuned['accuracy']:.1%}[/bold]")
    return table


def eval_lines(results: dict) -> list[str]:
    """One line each for loss, convergence, WinRate and DeepEval (what the evaluation produced)."""
    lines = []
    if results.get("loss"):
        lines.append(f"held-out loss {results['loss']['eval_loss']:.4f} (perplexity {results['loss']['perplexity']:.2f})")
    if results.get("convergence"):
        conv = results["convergence"]
        lines.append(f"convergence: epoch {conv['epoch']} of {conv['stage']}" if conv["epoch"] is not None
                     else "convergence: not converged")
    win = results.get("winrate")
    if win and win["win_rate"] is not None:
        lines.append(
            f"WinRate vs {win['baseline']} ({win['judge']}): {win['win_rate']:.1%} "
            f"[{win['ci_low']:.1%}, {win['ci_high']:.1%}] over {win['judged']} prompts "
            f"({win['wins']} won, {win['losses']} lost, {win['ties']} tied, {win['invalid']} invalid); "
            f"position consistency {win['position_consistency']:.1%}")
    elif win:
        lines.append(f"WinRate vs {win['baseline']}: no valid judgment ({win['invalid']} invalid)")
    deep = results.get("deepeval")
    if deep and deep["accuracy"] is not None:
        lines.append(f"DeepEval accuracy {deep['accuracy']:.1%} ({deep['passed']}/{deep['total']} test cases pass"
                     + (f"; {deep['errored']} not scored: metric errors" if deep["errored"] else "") + ")")
    return lines
