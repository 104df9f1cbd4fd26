"""python -m hrm.dashboard <run dir or sweep dir> [--out FILE]: a static HTML page of the runs found there:
each run's loss and accuracy curves and final metrics, a sweep's metric against its hyperparameters,
and the ARC evaluation pictures where a run has them. No account, no network, no server: open the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hrm.dashboard.page import GENERATOR_TAG, render_page, sweep_metric, sweep_section
from hrm.dashboard.runs import check_dir, find_runs, optimized_metric, read_run, read_sweep
from hrm.errors import UserError
from hrm.utils.cli import ArgumentParser, one_line_errors
from hrm.utils.io import atomic_write_text


def build(folder: Path, out: Path | None = None) -> Path:
    folder = check_dir(folder)
    run_dirs = find_runs(folder)
    if not run_dirs:
        raise UserError(f"{folder}: no run found (a run dir holds metrics.json or csv/metrics.csv)")
    runs = [read_run(path) for path in run_dirs]
    jobs = read_sweep(folder)
    sweep = sweep_section(jobs, sweep_metric(jobs, optimized_metric(run_dirs[0]))) if jobs else ""
    out = out or folder / "dashboard.html"
    check_replaceable(out)
    return atomic_write_text(out, render_page(f"HRM dashboard: {folder}", runs, sweep))


def check_replaceable(out: Path) -> None:
    """`out` may be new, or a page this tool wrote before; any other file is the user's and stays."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_file():
        raise UserError(f"{out}: exists and is not a dashboard page; not replacing it (give another --out)")
    with open(out, "rb") as handle:
        head = handle.read(4096)
    if GENERATOR_TAG.encode() not in head:
        raise UserError(f"{out}: exists and was not written by hrm.dashboard; not replacing it (give another --out)")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m hrm.dashboard", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="a run dir, a sweep dir, or any dir holding runs")
    parser.add_argument("--out", type=Path, default=None, help="the page to write (default: <dir>/dashboard.html)")

    def body() -> int:
        args = parser.parse_args(argv)
        page = build(args.dir, args.out)
        print(f"dashboard: {page}  (open it in a browser; it needs no network)")
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
