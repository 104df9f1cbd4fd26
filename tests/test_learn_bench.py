"""`python -m hrm.bench learn`: the three models trained in turn on one task for a wall budget, one table."""

from hrm.bench.__main__ import main
from hrm.bench.learn import HALT_CONFIDENCES, ORACLE
from hrm.bench.results import load_record


def test_learn_trains_each_model_for_the_budget_and_reports_exact_accuracy_per_segment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HRM_ROOT", str(tmp_path))  # the generated puzzles are cached under it
    out = tmp_path / "bench"
    assert main(["learn", "--task", "sudoku6", "--budget", "2", "--out", str(out), "debug=tiny"]) == 0
    record = load_record(out / "learn_sudoku6.json")
    rows = {row["model"]: row for row in record["rows"]}
    assert list(rows) == ["hrm", "trm", "transformer"]
    assert "over 16 puzzles" in record["note"]  # debug=tiny's test set
    for name, row in rows.items():
        assert row["steps"] > 0 and row["training (s)"] >= 2 and row["samples/s"] > 0
        # halt_max_steps: one pass for the transformer (its second cell is empty), debug=tiny's two segments else
        after = [row["exact after 1"], row["exact after 2"]]
        assert (after[1] is None) == (name == "transformer")
        assert all(0 <= value <= 1 for value in [*after, row["ACT exact"]] if value is not None)
    table = capsys.readouterr().out
    assert "| hrm |" in table and "| trm |" in table and "| transformer |" in table
    # the halting curve: each model at each confidence and the oracle, its segments never more than it has
    curve = load_record(out / "learn_sudoku6_halting.json")["rows"]
    assert [(r["model"], r["halting confidence"]) for r in curve] == [
        (m, p) for m in ("hrm", "trm", "transformer") for p in (*HALT_CONFIDENCES, ORACLE)]
    for r in curve:
        most = 1 if r["model"] == "transformer" else 2
        assert 1 <= r["mean segments"] <= most and 0 <= r["exact"] <= 1
        all_segments = rows[r["model"]][f"exact after {most}"]
        assert r["points below all segments"] == round(100 * (all_segments - r["exact"]), 1)
        if r["halting confidence"] == ORACLE:  # it keeps every answer running all segments gets right
            assert r["exact"] >= all_segments


def test_a_tagged_run_writes_its_own_records_and_a_bad_tag_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HRM_ROOT", str(tmp_path))
    out = tmp_path / "bench"
    assert main(["learn", "--task", "sudoku6", "--models", "trm", "--budget", "1", "--tag", "blanks-10",
                 "--out", str(out), "debug=tiny", "data.blanks=10"]) == 0
    assert sorted(p.name for p in out.glob("*.json")) == ["learn_sudoku6_blanks-10.json",
                                                          "learn_sudoku6_blanks-10_halting.json"]
    assert load_record(out / "learn_sudoku6_blanks-10.json")["title"].startswith("Learning: sudoku6 (blanks-10),")
    capsys.readouterr()
    assert main(["learn", "--task", "sudoku6", "--tag", "../x", "--out", str(out)]) != 0
    assert "'../x': use 1 to 40 letters" in capsys.readouterr().err
