"""A trained model back in one call (a notebook's first line), for every kind of checkpoint train.py writes."""

import pytest
import torch

from hrm import load_model
from hrm.errors import CheckpointError
from hrm.training import run
from hrm.utils.compose import compose_train_config
from tests.conftest import TINY


@pytest.mark.parametrize("experiment, module", [
    ("arc_tiny", "ReasoningModule"), ("sudoku6", "ReasoningModule"), ("agent_imitation", "PolicyModule"),
    ("vae_teacher", "VAEModule"), ("agent_lora", "GPT2LoRAModule"),
])
def test_load_model_gives_back_the_trained_module(tmp_path, experiment, module):
    cfg = compose_train_config([f"experiment={experiment}", *TINY, "trainer.max_steps=2", "test=false"], tmp_path)
    run(cfg)
    path = next((tmp_path / "checkpoints").glob("*/last.ckpt"))
    model = load_model(path)
    assert type(model).__name__ == module and not model.training
    saved = torch.load(path, weights_only=True)["state_dict"]
    mine = model.state_dict()
    for key, tensor in saved.items():
        assert torch.equal(mine[key], tensor), key


def test_load_model_refuses_a_file_that_is_not_one_of_its_checkpoints(tmp_path):
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hyper_parameters": {"x": 1}}, path)
    with pytest.raises(CheckpointError, match=r"other.ckpt: not a checkpoint of this framework"):
        load_model(path)
