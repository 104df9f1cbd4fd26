"""The agent-log DataModule: logs made on first use, split by episode, scenarios as the test stage."""

import json

import pytest

from hrm.agent.collect import collect
from hrm.agent.schema import ACTIONS, episode_ids, load_examples
from hrm.agent.text import state_to_text
from hrm.data.agent_logs import AgentLogDataModule
from hrm.errors import UserError

COLLECT = {"episodes": 10, "steps": 12, "seed": 0}


def datamodule(path, **kwargs):
    dm = AgentLogDataModule(path=str(path), **{"collect": COLLECT, "batch_size": 8, **kwargs})
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_the_log_is_collected_on_first_use_deterministically(tmp_path):
    first = datamodule(tmp_path / "a.json")
    datamodule(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert len(first.train_rows) + len(first.val_rows) == 120
    again = datamodule(tmp_path / "a.json")  # found, not collected again
    assert again.train_rows == first.train_rows


def test_train_and_validation_never_share_an_episode(tmp_path):
    dm = datamodule(tmp_path / "log.json", val_fraction=0.3)
    examples = load_examples(tmp_path / "log.json")
    episode_of = {}
    for example, episode in zip(examples, episode_ids(examples)):
        episode_of.setdefault(state_to_text(example["state"]), set()).add(episode)
    train = set().union(*(episode_of[r["text"]] for r in dm.train_rows))
    val = set().union(*(episode_of[r["text"]] for r in dm.val_rows))
    assert not train & val and len(val) == 3
    assert dm.train_texts() == [r["text"] for r in dm.train_rows]
    batch = next(iter(dm.train_dataloader()))
    assert len(batch["text"]) == 8 and all(0 <= a < len(ACTIONS) for a in batch["label"].tolist())


def test_the_test_stage_is_the_scenarios_with_the_teachers_decisions(tmp_path):
    dm = datamodule(tmp_path / "log.json")
    dm.setup("test")
    batches = list(dm.test_dataloader())
    assert set(batches[0]) == {"text", "label", "teacher_label"}
    assert sum(len(b["text"]) for b in batches) == 100
    teacher_right = sum(int((b["teacher_label"] == b["label"]).sum()) for b in batches)
    assert 50 < teacher_right < 100  # good but imperfect


def test_a_log_collected_with_other_settings_is_not_used_silently(tmp_path):
    datamodule(tmp_path / "log.json")
    with pytest.raises(UserError, match=r"log.json: collected with .*'episodes': 10.*not .*'episodes': 11.*delete it"):
        datamodule(tmp_path / "log.json", collect={**COLLECT, "episodes": 11})


def test_a_users_own_log_is_used_as_it_is_and_a_missing_one_named(tmp_path):
    own = collect(tmp_path / "own.json", episodes=3, steps=10, seed=5, progress=False)
    data = json.loads(own.read_text())
    del data["metadata"]  # as the original agent wrote it
    own.write_text(json.dumps(data))
    dm = datamodule(own, collect=None)
    assert len(dm.train_rows) + len(dm.val_rows) == 30
    with pytest.raises(UserError, match=r"missing.json: no such decision log"):
        datamodule(tmp_path / "missing.json", collect=None)


def test_a_log_of_a_single_episode_cannot_be_split(tmp_path):
    path = collect(tmp_path / "one.json", episodes=1, steps=10, seed=0, progress=False)
    with pytest.raises(UserError, match="one episode only"):
        datamodule(path, collect=None)
