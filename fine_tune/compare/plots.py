"""The three comparison plots, rendered to PNG bytes.

We draw on `matplotlib.figure.Figure` objects, never pyplot: no global figure
state and no GUI backend, so this runs on a headless machine and in tests
(savefig on a bare Figure uses the Agg canvas). Each job keeps one colour
across all plots. A plot with nothing to show still renders an axes that says
so, so every PNG exists and the HTML page has no holes.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # before anything else imports pyplot: the compare command never opens a window

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from fine_tune.compare.collect import Job, dig  # noqa: E402
from fine_tune.compare.table import number  # noqa: E402

PLOT_FILES = ("loss_curves.png", "accuracy.png", "winrate.png", "deepeval.png")


def _colour(index: int):
    return matplotlib.colormaps["tab10"](index % 10)


def _to_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" text chunk: it carries matplotlib's URL, and the page must link nowhere.
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _say_nothing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def stage_curves(metrics: dict | None) -> tuple[list[float], list[float], list[tuple[float, str]]]:
    """A job's train loss against global step, stages laid end to end in chain order.

    Each stage's trainer counts steps from 1, so a stage's steps are shifted by
    the steps of the stages before it (its `global_steps` when recorded, else
    its last logged step).

    Args:
        metrics: the job's metrics.json, or None.

    Returns:
        (steps, losses, boundaries): boundaries are (global step, stage name)
        where each stage after the first starts.
    """
    stages = dig(metrics, "stages")
    if not isinstance(stages, dict):
        return [], [], []
    order = [s for s in (dig(metrics, "stages_order") or []) if s in stages]
    order += [s for s in stages if s not in order]
    steps, losses, boundaries, offset = [], [], [], 0.0
    for index, name in enumerate(order):
        points = [p for p in (dig(stages, name, "train_loss_steps") or []) if isinstance(p, dict)]
        points = [(number(p.get("step")), number(p.get("loss"))) for p in points]
        points = [(s, v) for s, v in points if s is not None and v is not None]
        if index:
            boundaries.append((offset, str(name)))
        steps += [offset + s for s, _ in points]
        losses += [v for _, v in points]
        length = number(dig(stages, name, "global_steps")) or max((s for s, _ in points), default=0)
        offset += length
    return steps, losses, boundaries


def loss_curves(jobs: list[Job]) -> bytes:
    """loss_curves.png: every job's train loss against global step, dashed lines at stage boundaries."""
    fig = Figure(figsize=(9, 5))
    ax = fig.add_subplot()
    drawn, marked = 0, set()
    to_data_x = blended_transform_factory(ax.transData, ax.transAxes)
    for index, job in enumerate(jobs):
        steps, losses, boundaries = stage_curves(job.metrics)
        if not steps:
            continue
        drawn += 1
        marker = "o" if len(steps) < 3 else None  # a one-point curve is invisible as a line
        ax.plot(steps, losses, color=_colour(index), label=job.label, linewidth=1.4, marker=marker)
        for step, stage in boundaries:
            ax.axvline(step, color=_colour(index), linestyle="--", linewidth=0.9, alpha=0.6)
            if (step, stage) not in marked:  # one name per boundary that jobs share
                marked.add((step, stage))
                ax.text(step, 0.98, f" {stage}", transform=to_data_x, rotation=90, va="top", fontsize=7, color="0.3")
    if drawn:
        ax.set_xlabel("global step (stages in chain order)")
        ax.set_ylabel("train loss")
        ax.legend(fontsize="small", ncol=1 + drawn // 12)
        ax.grid(alpha=0.3)
    else:
        _say_nothing(ax, "no train loss in these runs")
    ax.set_title("Train loss")
    return _to_png(fig)


def _ci_errors(values: list[float], rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    """Error-bar lengths below and above each value (in points) from `<key>_ci_low/high`; 0 where missing."""
    low = [max(0.0, v - r[f"{key}_ci_low"] * 100) if r[f"{key}_ci_low"] is not None else 0.0
           for v, r in zip(values, rows)]
    high = [max(0.0, r[f"{key}_ci_high"] * 100 - v) if r[f"{key}_ci_high"] is not None else 0.0
            for v, r in zip(values, rows)]
    return low, high


def _bars(jobs: list[Job], rows: list[dict], key: str, title: str, empty: str, ci: bool) -> bytes:
    """One bar per job that has `key`, in percent; with `ci`, error bars from `<key>_ci_low/high`.

    WinRate bars get the 50% line (even with the reference); accuracy bars mark each job's
    constant-answer floor.
    """
    shown = [(i, j, r) for i, (j, r) in enumerate(zip(jobs, rows)) if r[key] is not None]
    fig = Figure(figsize=(max(6.0, 0.9 * len(shown) + 2), 4.5))
    ax = fig.add_subplot()
    ax.set_title(title)
    if not shown:
        _say_nothing(ax, empty)
        return _to_png(fig)
    x = list(range(len(shown)))
    values = [r[key] * 100 for _, _, r in shown]
    bars = ax.bar(x, values, color=[_colour(i) for i, _, _ in shown])
    if ci:
        low, high = _ci_errors(values, [r for _, _, r in shown], key)
        ax.errorbar(x, values, yerr=[low, high], fmt="none", ecolor="black", capsize=4, linewidth=1)
    if key == "win_rate":
        ax.axhline(50, color="0.4", linestyle="--", linewidth=1, label="50% (even with the reference)")
        ax.legend(fontsize="small", loc="lower right")
    floors = [(i, r["accuracy_floor"] * 100) for i, (_, _, r) in enumerate(shown) if r.get("accuracy_floor")]
    if key == "tuned_accuracy" and floors:
        ax.scatter([i for i, _ in floors], [f for _, f in floors], marker="_", s=600, color="red", zorder=3,
                   label="constant-answer floor")
        ax.legend(fontsize="small", loc="upper right")
    # Inside the bar, so the CI whisker above it stays readable.
    ax.bar_label(bars, labels=[f"{v:.1f}%" for v in values], label_type="center", fontsize=9, color="white")
    ax.set_xticks(x, [j.label for _, j, _ in shown], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.grid(axis="y", alpha=0.3)
    return _to_png(fig)


def render_plots(jobs: list[Job], rows: list[dict]) -> dict[str, bytes]:
    """All the plots as PNG bytes.

    Args:
        jobs: the sweep's jobs.
        rows: their raw rows (`table.raw_row`), in the same order.

    Returns:
        File name (PLOT_FILES) -> PNG bytes.
    """
    return {
        "loss_curves.png": loss_curves(jobs),
        "accuracy.png": _bars(jobs, rows, "tuned_accuracy", "Checker accuracy (95% Wilson interval) and its floor",
                              "no checker accuracy in these runs", ci=True),
        "winrate.png": _bars(jobs, rows, "win_rate", "WinRate against SFT-CoT + DPO on curated data (CI)",
                             "no WinRate in these runs", ci=True),
        "deepeval.png": _bars(jobs, rows, "deepeval_accuracy", "DeepEval accuracy (the metrics the table names)",
                              "no DeepEval accuracy in these runs", ci=False),
    }
