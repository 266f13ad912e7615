"""The end-of-run summary printed to the terminal: checker accuracy before and after tuning."""

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
