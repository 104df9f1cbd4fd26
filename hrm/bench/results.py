"""docs/results.md from the benchmarks' records: `python -m hrm.bench results` reads every record JSON in
`--records` (docs/results/, where measured records are kept; experiments/bench/ holds new ones) and writes
one page, each table under the date, commit, machine, torch version and command that measured it."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrm.errors import DataFormatError
from hrm.utils.files import read_json
from hrm.utils.io import atomic_write_text

KEYS = ("bench", "title", "date", "commit", "machine", "torch", "command", "columns", "rows")
HEADER = """# Results

Every figure measured by the benchmarks (`python -m hrm.bench <name>`), each table with the date, commit,
machine, torch version and command that measured it. Regenerate this page from the records in
`docs/results/` with `python -m hrm.bench results`; a benchmark run writes its record to
`experiments/bench/<name>.json` (copy it into `docs/results/` to keep it).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", default="docs/results", help="folder of benchmark record JSON files")
    parser.add_argument("--out", default="docs/results.md")


def load_record(path: Path) -> dict:
    record = read_json(path, "benchmark record", 1 << 20)
    if not isinstance(record, dict) or any(key not in record for key in KEYS):
        raise DataFormatError(f"{path}: not a benchmark record (needs {', '.join(KEYS)})")
    rows, columns = record["rows"], record["columns"]
    if not isinstance(rows, list) or not rows or not isinstance(columns, list) or not all(
            isinstance(r, dict) and set(r) == set(columns) for r in rows):
        raise DataFormatError(f"{path}: rows: expected a list of rows with the same columns")
    return record


def cell(value) -> str:
    if value is None:  # not measured for this row
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def markdown_table(columns: list[str], rows: list[dict]) -> list[str]:
    """The rows as the lines of a Markdown table, in the order of `columns`."""
    return (["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            + ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows])


def render(records: list[dict]) -> str:
    parts = [HEADER]
    for record in sorted(records, key=lambda r: (r["bench"], r["date"])):
        parts += [f"## {record['title']}", "",
                  f"{record['date']}, commit {record['commit']}, {record['machine']}, torch {record['torch']}: "
                  f"`{record['command']}`", ""]
        parts += markdown_table(record["columns"], record["rows"])
        if record.get("note"):
            parts += ["", str(record["note"])]
        parts.append("")
    return "\n".join(parts)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.records)
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: no such folder of benchmark records")
    records = [load_record(path) for path in sorted(folder.glob("*.json"))]
    if not records:
        raise DataFormatError(f"{folder}: no benchmark records (*.json) in it")
    atomic_write_text(Path(args.out), render(records))
    print(f"wrote {args.out} from {len(records)} records in {folder}")
    return 0
