"""python -m hrm.agent.autopilot: collect, imitate, switch, RL; stopped between phases, it picks up."""

import json
import shutil

import pytest

from hrm.agent.autopilot import main
from hrm.agent.schema import load_examples

# A tiny imitation run cannot pass the original agent's switch rule: --switch always goes on to RL regardless.
ARGS = ["--examples", "40", "--steps", "8", "--switch", "always", "debug=tiny", "logger=none"]


def report_without_paths(out):
    report = json.loads((out / "report.json").read_text())
    for figures in report.values():
        figures.pop("checkpoint", None)
    return report


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("autopilot")
    assert main(["--out", str(out), *ARGS]) == 0
    return out


def test_every_phase_runs_and_reports(uninterrupted):
    report = json.loads((uninterrupted / "report.json").read_text())
    assert sorted(report) == sorted(["collect", "imitate", "switch", "rl"])
    assert report["collect"]["decisions"] == 40 == len(load_examples(uninterrupted / "decisions.jsonl"))
    assert "rl/mean_reward" in report["rl"] and "rl/teacher_mean_reward" in report["rl"]
    assert (uninterrupted / "checkpoints" / "rl" / "last.ckpt").is_file()


def test_stopped_after_a_phase_it_goes_on_without_redoing_it(uninterrupted, tmp_path, capsys):
    assert main(["--out", str(tmp_path), *ARGS, "--stop-after", "imitate"]) == 0
    assert not (tmp_path / "report.json").exists()
    imitation = tmp_path / "checkpoints" / "imitation" / "last.ckpt"
    written = imitation.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["--out", str(tmp_path), *ARGS]) == 0
    out = capsys.readouterr().out
    assert "phase 1/4 collect: done earlier" in out and "phase 2/4 imitate: done earlier" in out
    assert imitation.stat().st_mtime_ns == written  # not trained again
    assert report_without_paths(tmp_path) == report_without_paths(uninterrupted)


def test_other_settings_in_the_same_folder_are_refused(uninterrupted, capsys):
    assert main(["--out", str(uninterrupted), *ARGS, "--examples", "80"]) == 2
    assert "an autopilot with" in capsys.readouterr().err


def test_by_the_original_rule_a_weak_imitation_keeps_the_teacher(uninterrupted, tmp_path, capsys):
    """The tiny imitation failed the rule (the run went on by --switch always). Taken up after imitation with
    the rule instead, the loop stops at the switch, without RL."""
    shutil.copytree(uninterrupted, tmp_path, dirs_exist_ok=True)
    (tmp_path / "report.json").unlink()
    state = json.loads((tmp_path / "autopilot.json").read_text())
    assert state["phases"]["imitate"]["switch/use_hrm"] == 0.0
    state["settings"]["switch"] = "rule"
    state["phases"] = {phase: state["phases"][phase] for phase in ("collect", "imitate")}
    (tmp_path / "autopilot.json").write_text(json.dumps(state))
    args = [a for a in ARGS if a not in ("--switch", "always")]
    assert main(["--out", str(tmp_path), *args]) == 0
    assert "the agent keeps the teacher" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(report) == ["collect", "imitate", "switch"] and report["switch"]["use_hrm"] is False
