"""Bad input gets one line naming the file or item and the problem, and a non-zero exit."""

import json

import pytest
import torch

from hrm.errors import CheckpointError, VocabularyMismatchError
from hrm.training import bind_model_to_data
from hrm.utils.checkpoints import check_compatible, read_checkpoint
from tests.conftest import TINY, run_train


def one_line_error(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return lines[-1]


def arc_folder(tmp_path, bad_task: dict | str):
    good = {"train": [{"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}],
            "test": [{"input": [[5, 6], [7, 8]], "output": [[8, 7], [6, 5]]}]}
    for split in ("training", "evaluation"):
        (tmp_path / "arc" / split).mkdir(parents=True)
        (tmp_path / "arc" / split / "good0001.json").write_text(json.dumps(good))
    bad = tmp_path / "arc" / "training" / "bad00001.json"
    bad.write_text(bad_task if isinstance(bad_task, str) else json.dumps(bad_task))
    return tmp_path / "arc", bad


@pytest.mark.parametrize(
    "bad_task,problem",
    [
        ('{"train": [', "JSON"),
        ({"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]}, "row"),
        ({"train": [{"input": [[1, 12]], "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]}, "12"),
        ({"train": [{"input": [[0] * 31] * 31, "output": [[1]]}], "test": [{"input": [[1]], "output": [[1]]}]}, "31"),
        ({"train": [{"input": [[1]], "output": [[1]]}], "test": []}, "test"),
    ],
    ids=["not-json", "ragged", "colour", "too-big", "no-test-pair"],
)
def test_bad_arc_file_gives_one_line_naming_the_file(tmp_path, bad_task, problem):
    folder, bad = arc_folder(tmp_path, bad_task)
    result = run_train(["experiment=arc_tiny", *TINY, f"data.source={folder}"], tmp_path / "out")
    line = one_line_error(result)
    assert "bad00001.json" in line and problem in line, line
    assert not (tmp_path / "out" / "checkpoints").exists() or not any((tmp_path / "out" / "checkpoints").rglob("*.ckpt"))


def test_hand_typed_vocabulary_smaller_than_the_data_names_both_sizes(tmp_path):
    result = run_train(["experiment=arc_tiny", *TINY, "+model.net.vocab_size=5"], tmp_path)
    line = one_line_error(result)
    assert "5" in line and "12" in line and "vocab" in line


def test_gpt2_ids_never_reach_a_smaller_embedding(make_config):
    class GPT2Data:  # a token dataset tokenized with GPT-2 declares the tokenizer's size
        vocab_size, seq_len, num_puzzle_identifiers = 50257, 64, 0

    cfg = make_config("model=hrm_arc")  # a token-grid model is sized by its data
    bind_model_to_data(cfg.model, GPT2Data())
    assert cfg.model.net.vocab_size == 50257
    cfg = make_config("model=hrm_arc", "+model.net.vocab_size=1000")  # the original agent's 1,000-token HRM
    with pytest.raises(VocabularyMismatchError, match="1000.*50257"):
        bind_model_to_data(cfg.model, GPT2Data())


def test_the_seeds_1000_token_hrm_over_gpt2_ids_is_refused_in_one_line(tmp_path):
    result = run_train(["experiment=agent_imitation", "model=hrm_gpt2vocab", *TINY, "+model.net.vocab_size=1000"],
                       tmp_path)
    line = one_line_error(result)
    assert "vocab_size=1000" in line and "50257" in line, line


@pytest.mark.parametrize("content, problem", [
    ('{"examples": [{"state": {', "not valid JSON: Expecting property name enclosed in double quotes at line 1"),
    ("", "the file is empty"),
    ('{"examples": [{"state": {}, "action": {}, "result": {}}]}', "example 0: state: missing field 'active_goals'"),
])
def test_a_bad_decision_log_gives_one_line_naming_the_file_and_the_item(tmp_path, content, problem):
    log = tmp_path / "my_log.json"
    log.write_text(content)
    result = run_train(["experiment=agent_imitation", *TINY, f"data.path={log}", "data.collect=null"], tmp_path)
    line = one_line_error(result)
    assert "my_log.json" in line and problem in line, line
    assert log.read_text() == content  # the user's file is never touched


def test_token_ids_past_the_vocabulary_are_caught_before_the_embedding(make_config):
    import hydra

    cfg = make_config("model=hrm_arc", "debug=tiny")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    bind_model_to_data(cfg.model, datamodule)
    module = hydra.utils.instantiate(cfg.model)
    batch = next(iter(datamodule.train_dataloader()))
    batch["inputs"][0, 0] = 5234  # a GPT-2 id, as in the original agent's "index out of range in self"
    with pytest.raises(VocabularyMismatchError, match="5234.*12"):
        module.training_step(batch, 0)


def test_truncated_checkpoint_gives_one_line(tmp_path):
    ckpt_dir = tmp_path / "checkpoints" / "arc_tiny"
    ckpt_dir.mkdir(parents=True)
    (ckpt_dir / "last.ckpt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    line = one_line_error(run_train(["experiment=arc_tiny", *TINY], tmp_path))
    assert "last.ckpt" in line and "not a readable checkpoint" in line


def test_checkpoint_of_another_model_gives_one_line(tmp_path):
    first = run_train(["experiment=arc_tiny", *TINY, "trainer.max_steps=1"], tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    # evaluating it with another model
    ckpt = tmp_path / "checkpoints" / "arc_tiny" / "last.ckpt"
    line = one_line_error(run_train(["experiment=arc_tiny", *TINY, "model.net.hidden_size=64", "train=false",
                                     f"ckpt_path={ckpt}"], tmp_path / "eval"))
    assert "last.ckpt" in line and "another model" in line and "[32]" in line and "[64]" in line, line
    # resuming it with another model: a checkpoint dir whose settings were not recorded (an older version's)
    (ckpt.parent / "run_info.json").unlink()
    line = one_line_error(run_train(["experiment=arc_tiny", *TINY, "model.net.hidden_size=64"], tmp_path))
    assert "last.ckpt" in line and "another model" in line and "resume=false" in line, line


def test_check_compatible_names_the_differing_tensor(tmp_path):
    a = torch.nn.Linear(4, 3)
    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": {"weight": torch.zeros(5, 4), "bias": torch.zeros(5)}}, path)
    with pytest.raises(CheckpointError, match=r"weight is \[5, 4\] there and \[3, 4\] here"):
        check_compatible(path, read_checkpoint(path), a)


def test_missing_checkpoint_path_gives_one_line(tmp_path):
    line = one_line_error(run_train(["experiment=arc_tiny", *TINY, f"ckpt_path={tmp_path}/nope.ckpt"], tmp_path))
    assert "nope.ckpt" in line and "no such checkpoint" in line
