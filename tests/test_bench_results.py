"""The results page is made from the benchmarks' records: each table under the date, commit, machine,
torch version and command that measured it; a record that is not one is one line naming the file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hrm.bench.record import save_record
from hrm.bench.results import load_record, render
from hrm.errors import DataFormatError
from tests.conftest import ROOT


def test_a_record_carries_where_and_how_its_figures_were_measured_and_the_page_shows_it(tmp_path):
    path = save_record(tmp_path, "step", "HRM training step", [{"step": "eager", "samples/s": 2.47, "MFU (%)": 14.9},
                                                              {"step": "compiled", "samples/s": 3.1, "MFU (%)": None}])
    record = load_record(path)
    assert record["torch"] and record["machine"] and record["commit"] and record["date"].count("-") == 2
    assert record["command"]  # how to measure it again
    page = render([record])
    assert f"{record['date']}, commit {record['commit']}, {record['machine']}, torch {record['torch']}" in page
    assert "| step | samples/s | MFU (%) |" in page and "| eager | 2.47 | 14.9 |" in page
    assert "| compiled | 3.1 |  |" in page  # a figure not measured for a row is an empty cell


def test_the_results_command_writes_the_page_and_refuses_a_foreign_file_in_one_line(tmp_path):
    records, out = tmp_path / "records", tmp_path / "results.md"
    records.mkdir()
    save_record(records, "eval", "ARC evaluation throughput", [{"tasks": 11, "variants/s": 133.0}])
    command = [sys.executable, "-m", "hrm.bench", "results", "--records", str(records), "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "## ARC evaluation throughput" in out.read_text() and "| 11 | 133 |" in out.read_text()
    (records / "notes.json").write_text(json.dumps({"hello": 1}))
    before = out.read_text()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "notes.json: not a benchmark record" in done.stderr.strip().splitlines()[-1]
    assert out.read_text() == before  # nothing half-written


def test_rows_with_different_columns_are_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"bench": "x", "title": "x", "date": "2026-12-01", "commit": "abc", "machine": "m",
                                "torch": "2.13.0", "command": "c", "columns": ["a"], "rows": [{"a": 1}, {"b": 2}]}))
    with pytest.raises(DataFormatError, match=r"x.json: rows: expected a list of rows with the same columns"):
        load_record(path)
