"""A benchmark's figures as a record: what was measured, and where, when and how (date, commit, machine,
torch version, the exact command). Each benchmark writes one JSON record per run into `--out`
(experiments/bench/ by default); `python -m hrm.bench results` turns records into docs/results.md."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

from hrm.bench.results import markdown_table
from hrm.utils.io import atomic_write_json
from hrm.utils.resolvers import cpu_has_bf16

ROOT = Path(__file__).resolve().parents[2]
RECORDS = "experiments/bench"  # where a benchmark writes its record unless --out says otherwise


def add_out_argument(parser, bench: str) -> None:
    parser.add_argument("--out", default=RECORDS, help=f"where the record ({bench}.json) goes (default: {RECORDS})")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    return next((line.partition(":")[2].strip() for line in text.splitlines() if line.startswith("model name")),
                platform.machine())


def machine() -> str:
    """The machine in words, as the results page names it: CPU model, cores, its bf16 support (or the GPU)."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (GPU)"
    flags = cpu_flags()
    bf16 = "AMX" if "amx_bf16" in flags else "avx512_bf16, no AMX" if "avx512_bf16" in flags else "no bf16 units"
    return f"{cpu_model()}, {os.cpu_count()} cores, {bf16}"


def commit() -> str:
    """The commit the code ran at, `+changes` when the working tree differed from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def save_record(out_dir: str | Path, bench: str, title: str, rows: list[dict], note: str = "") -> Path:
    """Write `<out_dir>/<bench>.json`: the table `rows` (one dict per row, the same keys in each) under
    `title`, with the date, commit, machine, torch version and the command that measured them."""
    record = {
        "bench": bench,
        "title": title,
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
        "machine": machine(),
        "bf16_units": cpu_has_bf16(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "command": "python -m hrm.bench " + shlex.join(sys.argv[1:]) if sys.argv[0].endswith("__main__.py")
        else shlex.join(["python", *sys.argv]),
        "columns": list(rows[0]),  # the table's order (the JSON's keys are sorted)
        "rows": rows,
        "note": note,
    }
    path = Path(out_dir) / f"{bench}.json"
    atomic_write_json(path, record)
    return path


def report(out_dir: str | Path, bench: str, title: str, rows: list[dict], note: str = "") -> Path:
    """Print the table `rows` under `title` (and the note), as the results page will show it, and save it as
    the record `<out_dir>/<bench>.json`."""
    print("\n".join(["", title, "", *markdown_table(list(rows[0]), rows), *(["", note] if note else [])]))
    path = save_record(out_dir, bench, title, rows, note)
    print(f"  record {path}")
    return path
