"""TrainingDataCollector and `python -m hrm.agent.collect`: deterministic, atomic, crash-safe appends."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from hrm.agent.collect import collect, run_episodes
from hrm.agent.collector import TrainingDataCollector
from hrm.agent.planner import planner
from hrm.agent.schema import load_examples
from hrm.errors import DataFormatError
from tests.conftest import ROOT


def collect_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "hrm.agent.collect", *args], cwd=ROOT, capture_output=True,
                          text=True, **kwargs)


def test_examples_saved_as_the_seeds_json_load_back_unchanged(tmp_path):
    collector = TrainingDataCollector()
    examples = list(run_episodes(2, 10, 0))
    for example in examples:
        collector.add_example(**example)
    path = collector.save(tmp_path / "hrm_training_data.json")
    assert json.loads(path.read_text()).keys() == {"examples"}
    assert load_examples(path) == examples
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hrm_training_data.json"]  # no temp file left


def test_add_example_rejects_a_bad_decision_before_writing_it(tmp_path):
    log = tmp_path / "log.jsonl"
    collector = TrainingDataCollector(log)
    example = next(run_episodes(1, 1, 0))
    collector.add_example(**example)
    with pytest.raises(DataFormatError, match=r"example 1: action.action: unknown action 'sleep'"):
        collector.add_example(example["state"], {"action": "sleep", "confidence": 0.5}, example["result"])
    assert len(load_examples(log)) == 1


def test_a_torn_append_loses_only_that_example_and_appending_goes_on(tmp_path):
    log = tmp_path / "log.jsonl"
    examples = list(run_episodes(1, 4, 0))
    first = TrainingDataCollector(log)
    for example in examples[:3]:
        first.add_example(**example)
    with open(log, "ab") as handle:  # what a kill in the middle of the 4th write leaves behind
        handle.write(json.dumps(examples[3]).encode()[:50])
    with pytest.warns(UserWarning, match="cut off mid-write"):
        again = TrainingDataCollector(log)
    assert len(again) == 3
    again.add_example(**examples[3])
    assert load_examples(log) == examples


def test_collection_killed_with_sigkill_resumes_and_ends_with_the_same_log(tmp_path):
    log = tmp_path / "log.jsonl"
    args = ["--out", str(log), "--episodes", "200", "--steps", "50", "--seed", "3"]
    process = subprocess.Popen([sys.executable, "-m", "hrm.agent.collect", *args], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while (not log.exists() or log.stat().st_size < 200_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the kill may or may not have torn the line being written
        survived = TrainingDataCollector(log).examples
    assert 0 < len(survived) < 10_000

    assert collect_cli(*args).returncode == 0  # the same command again finishes the log
    whole = load_examples(log)
    assert len(whole) == 10_000
    assert whole == list(run_episodes(200, 50, 3))  # identical to a run never killed
    assert whole[: len(survived)] == survived


def test_the_cli_writes_json_deterministically_and_never_overwrites_without_force(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        assert collect_cli("--out", str(out), "--episodes", "3", "--steps", "20").returncode == 0
    assert a.read_bytes() == b.read_bytes()
    assert json.loads(a.read_text())["metadata"]["episodes"] == 3
    result = collect_cli("--out", str(a), "--episodes", "3")
    assert result.returncode == 2 and result.stderr.strip() == f"error: {a}: exists; pass --force to replace it" \
        " (or write to another file)"
    assert collect_cli("--out", str(a), "--episodes", "0").stderr.startswith("error: argument --episodes")


def test_collect_writes_the_number_of_examples_asked_for(tmp_path):
    path = collect(tmp_path / "log.json", episodes=4, steps=25, seed=1, progress=False)
    assert len(load_examples(path)) == 100


def test_the_optimal_policy_logs_the_planners_actions_for_the_episodes_length(tmp_path):
    examples = load_examples(collect(tmp_path / "log.json", episodes=6, steps=10, seed=2, policy="optimal",
                                     progress=False))
    planned = [planner(10).action(example["state"]) for example in examples]
    assert [example["action"]["action"] for example in examples] == planned
    # The plan depends on the decisions left: a 50-decision plan ends episodes of 10 otherwise.
    assert planned != [planner(50).action(example["state"]) for example in examples]
