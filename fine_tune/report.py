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
    if (metrics.get("base_loss") or {}).get("eval_loss") is not None and metrics.get("eval_loss") is not None:
        eval_loss += f" (base {metrics['base_loss']['eval_loss']:.4f})"
    console.print(
        f"final train loss {metrics['final_train_loss']:.4f}, eval loss {eval_loss}, "
        f"{metrics['wall_time_s']:.0f} s; results in {run_dir}"
    )
    for line in eval_lines(metrics.get("eval") or {}):
        console.print(line)
    if metrics["status"] == "unstable":
        console.print(f"[bold red]run unstable[/bold red]: {metrics['unstable_reason']}")


def _accuracy_table(metrics: dict) -> Table:
    table = Table(title="checker accuracy on the eval prompts [95% Wilson interval], beside the constant-answer floor")
    table.add_column("skill")
    table.add_column("prompts", justify="right")
    has_base = "base" in metrics
    if has_base:
        table.add_column("base", justify="right")
    table.add_column("tuned", justify="right")
    table.add_column("floor", justify="right")
    table.add_column("tuned / floor", justify="right")
    tuned = metrics["tuned"]
    rows = [(skill, block, (metrics["base"]["per_skill"].get(skill) if has_base else None))
            for skill, block in tuned["per_skill"].items()]
    rows.append(("[bold]all[/bold]", tuned, metrics.get("base")))
    for name, block, base in rows:
        cells = [name, str(block["total"])]
        if has_base:
            cells.append(f"{base['accuracy']:.1%}" if base else "—")
        cells += [_with_interval(block), _percent(block["floor"]), _ratio(block["accuracy"], block["floor"])]
        table.add_row(*cells)
    return table


def _percent(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def _with_interval(block: dict) -> str:
    if block.get("ci_low") is None:
        return _percent(block["accuracy"])
    return f"{block['accuracy']:.1%} [{block['ci_low']:.1%}, {block['ci_high']:.1%}]"


def _ratio(accuracy, floor) -> str:
    if accuracy is None or not floor:
        return "—"
    return f"{accuracy / floor:.1f}x"


def eval_lines(results: dict) -> list[str]:
    """One line each for reasoning, loss, convergence, WinRate and DeepEval (what the evaluation produced)."""
    lines = []
    generation = results.get("generation")
    if generation and generation.get("cut_off") is not None:
        lines.append(f"generations cut off at {generation['max_new_tokens']} new tokens ({generation['budget']}): "
                     f"{generation['cut_off']:.1%}")
    reasoning = results.get("reasoning")
    if reasoning and reasoning["multi_step"]["total"]:
        chains = (f"chains whose steps check out: {_percent(reasoning['valid_chains'])} of the "
                  f"{reasoning['chains_checked']:.0%} with checkable steps" if reasoning["valid_chains"] is not None
                  else "no answer has a checkable step")
        lines.append(f"multi-step skills ({', '.join(reasoning['multi_step_skills'])}) "
                     f"{_percent(reasoning['multi_step']['accuracy'])}, single-step "
                     f"{_percent(reasoning['single_step']['accuracy'])}; {chains}")
    if results.get("loss"):
        loss = results["loss"]
        answer = f", answer-only {loss['answer_loss']:.4f}" if loss.get("answer_loss") is not None else ""
        lines.append(f"held-out loss {loss['eval_loss']:.4f} on {loss.get('response', 'cot')} references "
                     f"(perplexity {loss['perplexity']:.2f}){answer}")
    if results.get("convergence"):
        conv = results["convergence"]
        lines.append(f"convergence: epoch {conv['epoch']} of {conv['stage']}" if conv["epoch"] is not None
                     else "convergence: not converged")
    lines += _winrate_lines(results.get("winrate"))
    deep = results.get("deepeval")
    if deep and deep["accuracy"] is not None:
        lines.append(f"DeepEval ({deepeval_label(deep)}) {deep['accuracy']:.1%} ({deep['passed']}/{deep['total']} "
                     "test cases pass" + (f"; {deep['errored']} not scored: metric errors" if deep["errored"] else "")
                     + ")")
    return lines


def deepeval_label(deep: dict) -> str:
    """What the DeepEval number measured: the checker metric alone offline, else every metric that ran."""
    names = list((deep.get("metrics") or {}).keys())
    if names == ["checker_correctness"]:
        return "checker metric"
    return ", ".join(n.replace("_", " ") for n in names) or "no metric"


def _winrate_lines(win: dict | None) -> list[str]:
    if not win:
        return []
    if win["win_rate"] is None:
        return [f"WinRate vs {win['baseline']}: no valid judgment ({win['invalid']} invalid)"]
    interval = "all tied" if win.get("all_tied") else f"[{win['ci_low']:.1%}, {win['ci_high']:.1%}]"
    lines = [f"WinRate vs {win['baseline']} ({win['judge']}): {win['win_rate']:.1%} {interval} over {win['judged']} "
             f"prompts ({win['wins']} won, {win['losses']} lost, {win['ties']} tied, {win['invalid']} invalid); "
             f"position consistency {win['position_consistency']:.1%}"]
    if win.get("answer_line"):
        lines.append(f"format, apart from the WinRate: an answer line in {win['answer_line']['tuned']:.1%} of the tuned "
                     f"answers vs {win['answer_line']['baseline']:.1%} of the baseline's; mean length "
                     f"{win['mean_length']['tuned']:.0f} vs {win['mean_length']['baseline']:.0f} characters")
    return lines
