"""`python -m hrm.bench rl`: imitation, then RL for a wall budget, then one table against the optimum."""

from hrm.bench.__main__ import main
from hrm.bench.results import load_record


def test_the_budget_ends_rl_within_its_first_epoch_and_the_table_compares_every_policy(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_ROOT", str(tmp_path))
    out = tmp_path / "bench"
    # An epoch of 100 rollouts (one PPO step each under debug=tiny) takes far longer than the 1-second budget.
    assert main(["rl", "--budget", "1", "--out", str(out), "debug=tiny", "data.batches_per_epoch=100",
                 "trainer.max_steps=-1"]) == 0
    record = load_record(out / "rl.json")
    updates = int(record["note"].split(" updates")[0].rsplit(" ", 1)[1])
    assert 1 <= updates < 100
    assert record["note"].startswith("Imitation first: 20 epochs, ")
    rows = {row["policy"].split(" (")[0]: row for row in record["rows"]}
    assert list(rows) == ["RL policy", "imitation policy", "teacher", "oracle", "optimal"]
    assert rows["optimal"]["x optimal"] == 1 and rows["teacher"]["x teacher"] == 1
    optimal = rows["optimal"]["mean episode reward"]
    assert all(abs(row["x optimal"] - row["mean episode reward"] / optimal) < 2e-3 for row in rows.values())
