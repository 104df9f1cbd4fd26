"""Nothing overwrites a user's files: options that replace output replace only what the project wrote, a log
grows only with the collection it was started with, and no ARC test input is dropped from a submission."""

from __future__ import annotations

import json
import subprocess
import sys

from hrm.agent.collect import main as collect
from hrm.agent.merge_lora import main as merge_lora
from hrm.dashboard.__main__ import main as dashboard
from tests.conftest import ROOT, TINY, run_train
from tests.hostile.forge import snapshot, unchanged


def test_merge_lora_force_never_replaces_a_folder_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "my_project"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    before = snapshot(tmp_path)
    for out in (mine, tmp_path / "notes.txt"):
        assert merge_lora(["--checkpoint", str(tmp_path / "any.ckpt"), "--out", str(out), "--force"]) == 2
    assert not unchanged(before, snapshot(tmp_path))
    errors = capsys.readouterr().err.splitlines()
    assert "my_project: was not written by hrm.agent.merge_lora" in errors[0]
    assert "notes.txt: exists and is not a merged-model folder" in errors[1]


def test_the_dashboard_never_replaces_a_page_it_did_not_write(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text('{"val/loss": 1.0}')
    (tmp_path / "index.html").write_text("<html>my own page</html>")
    before = snapshot(tmp_path)
    assert dashboard([str(run), "--out", str(tmp_path / "index.html")]) == 2
    assert dashboard([str(run), "--out", str(run)]) == 2  # a folder
    assert not unchanged(before, snapshot(tmp_path))
    assert "index.html: exists and was not written by hrm.dashboard" in capsys.readouterr().err
    assert dashboard([str(run)]) == 0 and dashboard([str(run)]) == 0  # its own page it refreshes


def test_collect_never_mixes_two_collections_nor_replaces_a_foreign_log(tmp_path, capsys):
    log = tmp_path / "decisions.jsonl"
    assert collect(["--out", str(log), "--episodes", "2", "--steps", "5", "--seed", "1"]) == 0
    before = snapshot(tmp_path)
    for changed in (["--seed", "2"], ["--steps", "6"], ["--episodes", "3"], ["--policy", "oracle"]):
        settings = {"--episodes": "2", "--steps": "5", "--seed": "1", **dict([changed])}
        args = [a for pair in settings.items() for a in pair]
        assert collect(["--out", str(log), *args]) == 2
    assert not unchanged(before, snapshot(tmp_path))
    errors = capsys.readouterr().err.splitlines()
    assert "decisions.jsonl: collected with other settings (seed=1 there, 2 here)" in errors[0]
    assert collect(["--out", str(log), "--episodes", "2", "--steps", "5", "--seed", "1"]) == 0  # same: continues

    foreign = tmp_path / "theirs.jsonl"
    foreign.write_text(log.read_text())  # decisions, but not started by this command
    own_json = tmp_path / "mine.json"
    own_json.write_text('{"examples": [], "metadata": {"written_by": "me"}}')
    before = snapshot(tmp_path)
    assert collect(["--out", str(foreign), "--episodes", "2", "--steps", "5"]) == 2
    assert collect(["--out", str(own_json), "--episodes", "2", "--steps", "5", "--force"]) == 2
    assert not unchanged(before, snapshot(tmp_path))
    errors = capsys.readouterr().err.splitlines()
    assert "theirs.jsonl: holds decisions this command did not start" in errors[0]
    assert "mine.json: is not a log written by hrm.agent.collect; --force replaces only those" in errors[1]


def test_an_arc_test_input_without_an_output_is_answered_not_dropped(tmp_path):
    folder = tmp_path / "arc"
    pair = {"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}
    for split in ("training", "evaluation"):
        (folder / split).mkdir(parents=True)
        for name in ("aaaa0001", "aaaa0002"):
            task = {"train": [pair, pair], "test": [pair, {"input": [[5, 6], [7, 8]]}]}  # the second: no output
            (folder / split / f"{name}.json").write_text(json.dumps(task))
    result = run_train(["experiment=arc_tiny", *TINY, f"data.source={folder}", "data.task_ids=null",
                        "hydra.run.dir=" + str(tmp_path / "run")], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    submission = json.loads((tmp_path / "run" / "arc_eval" / "submission.json").read_text())
    assert {task: len(answers) for task, answers in submission.items()} == {"aaaa0001": 2, "aaaa0002": 2}
    assert all(set(answer) == {"attempt_1", "attempt_2"} for answers in submission.values() for answer in answers)
    assert "test inputs without a known output: answered in submission.json, not scored" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["arc/num_test_outputs"] == 2 and metrics["arc/num_unscored_test_inputs"] == 2


def test_build_arc_force_never_replaces_a_folder_of_other_files(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "results.csv").write_text("mine")
    before = snapshot(tmp_path)
    result = subprocess.run([sys.executable, "-m", "hrm.data.build_arc", "--output-dir", str(tmp_path / "data"),
                             "--force", "--max-tasks", "1", "--num-aug", "1"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "not part of a dataset; not replacing it" in result.stderr
    assert not unchanged(before, snapshot(tmp_path))


def test_starting_afresh_twice_in_one_second_keeps_both_sets_of_old_checkpoints(tmp_path):
    from hrm.utils.checkpoints import resume_checkpoint

    for content in ("first run", "second run"):
        (tmp_path / "last.ckpt").write_text(content)
        (tmp_path / "last.adapter").mkdir()
        (tmp_path / "last.adapter" / "adapter_config.json").write_text(content)
        assert resume_checkpoint(tmp_path, None, resume=False) is None
    kept = sorted((p / "last.ckpt").read_text() for p in tmp_path.glob("previous-*"))
    assert kept == ["first run", "second run"]
    assert sorted((p / "last.adapter" / "adapter_config.json").read_text() for p in tmp_path.glob("previous-*")) == kept
