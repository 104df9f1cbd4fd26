"""The end of a sweep (`python train.py -m ...`): one table of every job's final metrics.

A Hydra callback (configs/hydra/default.yaml): when the last job is done it reads each job's
`metrics.json` and the overrides it ran with, prints a table of what differs between the jobs beside
their headline metrics, and writes the same to `<sweep dir>/summary.json`. A job that wrote no
metrics (it failed) is listed as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from hrm.training import headline_metrics
from hrm.utils.files import read_json, read_yaml
from hrm.utils.io import atomic_write_json

MAX_METRIC_COLUMNS = 8  # the table stays readable; summary.json holds every metric


def read_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Each job dir's number, overrides and metrics (None where it wrote none), in job order."""
    jobs = []
    for job_dir in sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
        overrides_file, metrics_file = job_dir / ".hydra" / "overrides.yaml", job_dir / "metrics.json"
        overrides = read_yaml(overrides_file, list) if overrides_file.is_file() else []
        metrics = read_json(metrics_file, "metrics file") if metrics_file.is_file() else None
        overrides = [o for o in overrides if isinstance(o, str)]
        metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)} \
            if isinstance(metrics, dict) else None
        jobs.append({"job": int(job_dir.name), "dir": str(job_dir),
                     "overrides": dict(o.split("=", 1) for o in overrides if "=" in o), "metrics": metrics})
    return jobs


def summary_table(jobs: list[dict[str, Any]], first: str | None = None) -> str:
    """Markdown: the overrides that differ between jobs, then the headline metrics every finished job has
    (`first`, a search's optimized metric, leading)."""
    keys = sorted({k for job in jobs for k in job["overrides"]})
    varied = [k for k in keys if len({job["overrides"].get(k) for job in jobs}) > 1]
    finished = [job["metrics"] for job in jobs if job["metrics"] is not None]
    common = sorted(set.intersection(*(set(headline_metrics(m)) for m in finished))) if finished else []
    # the optimized metric, then those the sweep moved
    common.sort(key=lambda key: (key != first, len({m[key] for m in finished}) == 1))
    columns = common[:MAX_METRIC_COLUMNS]
    lines = ["| job | " + " | ".join([*varied, *columns]) + " |", "|---" * (1 + len(varied) + len(columns)) + "|"]
    for job in jobs:
        cells = [job["overrides"].get(k, "") for k in varied]
        if job["metrics"] is None:
            cells += ["no metrics.json (failed?)"] + [""] * (len(columns) - 1) if columns else []
        else:
            cells += [f"{job['metrics'][c]:.4g}" for c in columns]
        lines.append(f"| {job['job']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        jobs = read_jobs(sweep_dir)
        if not jobs:
            return
        table = summary_table(jobs, config.get("optimized_metric"))
        atomic_write_json(sweep_dir / "summary.json", {"jobs": jobs, "table": table})
        print(f"\nsweep of {len(jobs)} jobs: {sweep_dir}  (summary.json)\n{table}")
