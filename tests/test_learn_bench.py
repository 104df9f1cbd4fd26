"""`python -m hrm.bench learn`: the three models trained in turn on one task for a wall budget, one table."""

import json

from hrm.bench.__main__ import main


def test_learn_trains_each_model_for_the_budget_and_reports_exact_accuracy_per_segment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HRM_ROOT", str(tmp_path))  # the generated puzzles are cached under it
    out = tmp_path / "bench"
    assert main(["learn", "--task", "sudoku6", "--budget", "2", "--out", str(out), "debug=tiny"]) == 0
    report = json.loads((out / "learn_sudoku6.json").read_text())
    rows = {row["model"]: row for row in report["rows"]}
    assert list(rows) == ["hrm", "trm", "transformer"]
    for name, row in rows.items():
        assert row["steps"] > 0 and row["train_seconds"] >= 2
        assert row["test_puzzles"] == 16  # debug=tiny's test set
        segments = 1 if name == "transformer" else 2  # halt_max_steps: one pass, or debug=tiny's two segments
        assert len(row["exact_after_segments"]) == segments
        assert all(0 <= value <= 1 for value in row["exact_after_segments"] + [row["exact_act"]])
    table = capsys.readouterr().out
    assert "| hrm |" in table and "| trm |" in table and "| transformer |" in table
