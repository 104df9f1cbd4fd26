"""The dashboard page: one self-contained HTML file (charts inline as SVG, pictures as data URIs), so it
opens from disk, offline, and can be copied anywhere."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from hrm.dashboard.charts import line_chart, scatter_chart
from hrm.dashboard.runs import Run
from hrm.training import headline_metrics

STAGES = ("train", "val", "test")
MAX_TASK_PICTURES = 16
STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; }
section { margin-bottom: 40px; } .charts { display: flex; flex-wrap: wrap; gap: 12px; }
table { border-collapse: collapse; font-size: 13px; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
td.num { text-align: right; font-family: monospace; } .dir { color: #777; font-size: 12px; }
img.picture { max-width: 520px; margin: 6px; border: 1px solid #ddd; image-rendering: pixelated; }
"""


# Marks a page this tool wrote: the only kind of existing file --out may replace.
GENERATOR_TAG = '<meta name="generator" content="hrm.dashboard">'

def curve_groups(history: dict[str, list]) -> dict[str, dict[str, list]]:
    """The loss and accuracy curves, one chart per quantity: train/loss and val/loss share "loss"."""
    groups: dict[str, dict[str, list]] = {}
    for key, points in history.items():
        stage, _, rest = key.partition("/")
        quantity = rest if stage in STAGES and rest else key
        if "loss" in quantity or "accuracy" in quantity:
            groups.setdefault(quantity, {})[key] = points
    # a quantity measured once (an evaluation's figure) is a number, not a curve: the table shows it
    groups = {name: series for name, series in groups.items() if max(map(len, series.values())) > 1}
    # the loss, then the accuracies, then the loss's parts; train before val before test within a chart
    order = lambda item: (0 if item[0] == "loss" else 1 if "accuracy" in item[0] else 2, item[0])  # noqa: E731
    return {name: dict(sorted(series.items(), key=lambda kv: [s in kv[0] for s in STAGES][::-1]))
            for name, series in sorted(groups.items(), key=order)}


def metrics_table(metrics: dict[str, float]) -> str:
    rows = "".join(f'<tr><td>{escape(k)}</td><td class="num">{v:.4g}</td></tr>' for k, v in metrics.items())
    return f'<table class="metrics"><tr><th>metric</th><th>final</th></tr>{rows}</table>'


def picture(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img class="picture" alt="{escape(path.name)}" title="{escape(path.name)}" src="data:image/png;base64,{data}">'


def run_section(run: Run) -> str:
    parts = [f'<section class="run" data-dir="{escape(str(run.dir))}">', f"<h2>{escape(run.name)}</h2>",
             f'<p class="dir">{escape(str(run.dir))}</p>']
    groups = curve_groups(run.history)
    if groups:
        parts.append('<div class="charts">' + "".join(line_chart(name, series) for name, series in groups.items())
                     + "</div>")
    else:
        parts.append("<p>No curves: this run has no csv/metrics.csv (it ran with logger=none, or did not log yet).</p>")
    if run.final:
        parts.append(metrics_table(headline_metrics(run.final) or run.final))
    if run.pictures:
        tasks = [p for p in run.pictures if p.parent.name == "tasks"][:MAX_TASK_PICTURES]
        shown = [p for p in run.pictures if p.parent.name != "tasks"] + tasks
        parts.append('<h3>ARC evaluation</h3><div class="pictures">' + "".join(map(picture, shown)) + "</div>")
    parts.append("</section>")
    return "\n".join(parts)


def sweep_metric(jobs: list[dict], preferred: str | None) -> str | None:
    """The metric a sweep is judged by: the search's optimized_metric, else the first validation metric
    (else headline metric) every finished job reported, preferring one that differs between jobs."""
    finished = [job["metrics"] for job in jobs if job["metrics"]]
    if not finished:
        return None
    common = set.intersection(*(set(headline_metrics(m)) for m in finished))
    if preferred in common:
        return preferred
    return min(common, key=lambda k: (not k.startswith("val/"), len({m[k] for m in finished}) == 1, k), default=None)


def sweep_section(jobs: list[dict], metric: str | None) -> str:
    keys = sorted({k for job in jobs for k in job["overrides"]})
    varied = [k for k in keys if len({job["overrides"].get(k) for job in jobs}) > 1]
    parts = ['<section class="sweep">', f"<h2>Sweep: {len(jobs)} jobs" + (f", {escape(metric)}" if metric else "")
             + "</h2>"]
    if metric:
        charts = [scatter_chart(f"{metric} against {key}", [(job["overrides"].get(key, ""), job["metrics"][metric])
                                                            for job in jobs if job["metrics"]], key) for key in varied]
        parts.append('<div class="charts">' + "".join(charts) + "</div>")
    header = "".join(f"<th>{escape(c)}</th>" for c in ["job", *varied] + ([metric] if metric else []))
    rows = []
    for job in jobs:
        cells = [str(job["job"]), *(job["overrides"].get(k, "") for k in varied)]
        html = "".join(f"<td>{escape(c)}</td>" for c in cells)
        if metric:
            value = (job["metrics"] or {}).get(metric)
            html += f'<td class="num">{"no metrics (failed?)" if value is None else f"{value:.4g}"}</td>'
        rows.append(f"<tr>{html}</tr>")
    parts.append(f'<table class="jobs"><tr>{header}</tr>{"".join(rows)}</table></section>')
    return "\n".join(parts)


def render_page(title: str, runs: list[Run], sweep: str = "") -> str:
    body = "\n".join([sweep, *(run_section(run) for run in runs)])
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">{GENERATOR_TAG}<title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body><h1>{escape(title)}</h1>\n{body}\n</body></html>\n")
