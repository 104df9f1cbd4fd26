"""Sharing a model: a checkpoint saved as a hub-style folder (safetensors, config.json, model card) loads back
as the same model, predicts as the checkpoint does, and a forged folder is refused as data, in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hrm import load_model
from hrm.errors import CheckpointError, UserError
from hrm.hub import from_pretrained, save_pretrained
from hrm.hub.__main__ import main as hub
from hrm.predict.__main__ import main as predict
from hrm.training import run
from hrm.utils.compose import compose_train_config
from tests.conftest import TINY


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    run(compose_train_config(["experiment=sudoku6", *TINY], root))
    return root / "checkpoints" / "sudoku6" / "last.ckpt"


def test_a_saved_folder_loads_back_as_the_same_model_and_predicts_the_same(checkpoint, tmp_path, capsys):
    folder = tmp_path / "shared"
    assert hub(["save", str(checkpoint), str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (folder / "README.md").read_text()
    assert "library_name: hrm" in card and "python train.py experiment=sudoku6 debug=tiny" in card
    assert "val/exact_accuracy" in card  # the run's measured metrics (it had no test stage)
    loaded, original = from_pretrained(folder), load_model(checkpoint)
    assert type(loaded) is type(original) and not loaded.training
    for key, tensor in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    puzzle = "1..4.4....1.2..3"
    assert predict([f"ckpt={checkpoint}", f"input={puzzle}", f"out={tmp_path / 'a'}"]) == 0
    assert predict([f"ckpt={folder}", f"input={puzzle}", f"out={tmp_path / 'b'}"]) == 0
    assert (tmp_path / "a" / "predictions.csv").read_text() == (tmp_path / "b" / "predictions.csv").read_text()


def test_a_folder_is_not_replaced_unless_asked(checkpoint, tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="exists and is not empty"):
        save_pretrained(checkpoint, folder)
    assert (folder / "notes.txt").read_text() == "mine"
    save_pretrained(checkpoint, folder, force=True)
    assert not (folder / "notes.txt").exists() and (folder / "config.json").is_file()


def forged(checkpoint: Path, tmp_path: Path, change) -> Path:
    folder = tmp_path / "forged"
    save_pretrained(checkpoint, folder)
    change(folder)
    return folder


def set_config(key: str, value):
    def change(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        node = config
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        node[last] = value
        (folder / "config.json").write_text(json.dumps(config))
    return change


@pytest.mark.parametrize("change, problem", [
    (set_config("hyper_parameters.net._target_", "os.system"), r"os.system"),
    (set_config("hyper_parameters.net.hidden_size", 1 << 16), r"more than the .* values this checkpoint holds"),
    (set_config("framework", "other"), r"not the config of a model saved by hrm"),
    (lambda folder: torch.save({"x": torch.zeros(1)}, folder / "model.safetensors"), r"not a safetensors file"),
    (lambda folder: (folder / "config.json").write_text("{"), r"config.json: not valid JSON"),
])
def test_a_forged_folder_is_refused_in_one_line(checkpoint, tmp_path, capsys, change, problem):
    folder = forged(checkpoint, tmp_path, change)
    with pytest.raises(UserError, match=problem):
        from_pretrained(folder)
    assert predict([f"ckpt={folder}", "input=1..4.4....1.2..3", f"out={tmp_path / 'out'}"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_without_a_network_a_hub_id_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(UserError, match="someone/model: not a folder here, and the hub cannot give it"):
        from_pretrained("someone/model")
    assert isinstance(CheckpointError("x"), UserError)
