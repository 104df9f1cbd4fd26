"""What the dashboard reads from disk: the runs under a dir, each run's metric history and results.

A run dir is one that train.py wrote (`metrics.json`, `.hydra/`, and with a logger `csv/metrics.csv`,
Lightning's CSVLogger, which every logger config includes: wandb's offline history is a binary log
that only `wandb sync` reads). A sweep dir holds one run dir per job (`0/`, `1/`, ...).
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from hrm.errors import DataFormatError, UserError
from hrm.sweeps import read_jobs
from hrm.utils.files import read_metrics, read_text, read_yaml

HISTORY = Path("csv") / "metrics.csv"
PICTURES = (Path("arc_eval") / "pictures" / "contact_sheet.png", Path("arc_eval") / "halting.png")
TASK_PICTURES = Path("arc_eval") / "pictures" / "tasks"
MAX_PICTURE_BYTES = 20 * 2**20  # a contact sheet of 16 tasks is about 1 MB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Run:
    dir: Path
    name: str  # the experiment, and the overrides it ran with
    history: dict[str, list[tuple[float, float]]]  # metric -> [(step, value)]
    final: dict[str, float]  # metrics.json
    pictures: list[Path] = field(default_factory=list)


def is_run_dir(path: Path) -> bool:
    return (path / "metrics.json").is_file() or (path / HISTORY).is_file()


def find_runs(root: Path) -> list[Path]:
    """`root` itself when it is a run dir, else every run dir beneath it (a sweep's jobs in job order)."""
    if is_run_dir(root):
        return [root]
    found = set()
    for folder, dirs, files in os.walk(root):  # links to dirs are not followed: a loop cannot make it endless
        folder = Path(folder)
        if "metrics.json" in files or (folder.name == "csv" and "metrics.csv" in files):
            found.add(folder.parent if folder.name == "csv" else folder)
    in_order = lambda path: [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in path.parts]  # noqa: E731
    return sorted((path for path in found if ".submitit" not in path.parts), key=in_order)


def read_history(path: Path) -> dict[str, list[tuple[float, float]]]:
    """Lightning's CSVLogger file: one row per logging call, a column per metric, blanks elsewhere."""
    history: dict[str, list[tuple[float, float]]] = {}
    rows = csv.DictReader(io.StringIO(read_text(path, "metrics file"), newline=""))
    try:
        if rows.fieldnames is None or "step" not in rows.fieldnames:
            raise DataFormatError(f"{path}: not a Lightning metrics.csv (no 'step' column)")
        for line, row in enumerate(rows, start=2):
            step = _number(path, line, "step", row["step"])
            for key, text in row.items():
                if key in ("step", "epoch", None) or text in ("", None) or not isinstance(text, str):
                    continue
                value = _number(path, line, key, text)
                if math.isfinite(value):
                    history.setdefault(key, []).append((step, value))
    except csv.Error as error:
        raise DataFormatError(f"{path}: not a CSV file ({error})") from None
    return history


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):  # TypeError: a short row leaves the column empty (None)
        raise DataFormatError(f"{path}: line {line}, column {column}: {text!r} is not a number") from None


def read_run(run_dir: Path) -> Run:
    history = read_history(run_dir / HISTORY) if (run_dir / HISTORY).is_file() else {}
    final = {}
    if (run_dir / "metrics.json").is_file():
        final = read_metrics(run_dir / "metrics.json")
    pictures = [run_dir / p for p in PICTURES] + sorted((run_dir / TASK_PICTURES).glob("*.png"))
    pictures = [p for p in pictures if is_png(p)]
    return Run(run_dir, run_name(run_dir), history, final, pictures)


def is_png(path: Path) -> bool:
    """A regular file of at most MAX_PICTURE_BYTES that starts like a PNG: what the page may embed (a pipe or
    a link to a device named like a picture would block or fill memory)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PICTURE_BYTES:
            return False
        with open(path, "rb") as handle:
            return handle.read(8) == PNG_SIGNATURE
    except OSError:
        return False


def run_name(run_dir: Path) -> str:
    """`<experiment_name>  <overrides>` from what Hydra saved, else the dir's name."""
    config, overrides = run_dir / ".hydra" / "config.yaml", run_dir / ".hydra" / "overrides.yaml"
    name = run_dir.name
    if config.is_file():
        name = str(read_yaml(config, dict).get("experiment_name", name))
    if overrides.is_file():
        name += "  " + " ".join(str(o) for o in read_yaml(overrides, list))
    return name.strip()


def optimized_metric(run_dir: Path) -> str | None:
    config = run_dir / ".hydra" / "config.yaml"
    metric = read_yaml(config, dict).get("optimized_metric") if config.is_file() else None
    return metric if isinstance(metric, str) else None


def read_sweep(sweep_dir: Path) -> list[dict] | None:
    """The jobs of a sweep dir (see hrm.sweeps.read_jobs), or None when `sweep_dir` is not one."""
    if not any(p.is_dir() and p.name.isdigit() and is_run_dir(p) for p in sweep_dir.iterdir()):
        return None
    return read_jobs(sweep_dir)


def check_dir(path: Path) -> Path:
    if not path.is_dir():
        raise UserError(f"{path}: no such dir (give a run dir or a sweep dir, e.g. experiments/multiruns/<time>)")
    return path
