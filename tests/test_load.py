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


def named_as_before_grid_input(state: dict) -> dict:
    """Tensor names as checkpoints held them before the grid nets composed their input (GridInput)."""
    return {key.replace(".input.", "."): value for key, value in state.items()}


@pytest.mark.parametrize("experiment", ["arc_tiny_trm", "agent_imitation"])  # an EMA's two states; a backbone
def test_a_checkpoint_of_an_earlier_version_loads_and_resumes(tmp_path, experiment):
    args = [f"experiment={experiment}", *TINY, "test=false", "experiment_name=new"]
    run(compose_train_config([*args, "trainer.max_steps=2"], tmp_path))
    path = tmp_path / "checkpoints" / "new" / "last.ckpt"
    checkpoint = torch.load(path, weights_only=True)
    old = {key: named_as_before_grid_input(checkpoint[key]) for key in ("state_dict", "current_model_state")
           if key in checkpoint}
    assert "current_model_state" in old or experiment != "arc_tiny_trm"
    assert not any(".input." in key for key in old["state_dict"])
    torch.save({**checkpoint, **old}, tmp_path / "old.ckpt")

    assert all(torch.equal(load_model(tmp_path / "old.ckpt").state_dict()[key], value)
               for key, value in checkpoint["state_dict"].items())
    # training goes on from it as from the new one, to the same weights
    for name, start in (("from_new", path), ("from_old", tmp_path / "old.ckpt")):
        run(compose_train_config([*args[:-1], f"experiment_name={name}", f"ckpt_path={start}", "trainer.max_steps=4"],
                                 tmp_path))
    after = [torch.load(tmp_path / "checkpoints" / name / "last.ckpt", weights_only=True)["state_dict"]
             for name in ("from_new", "from_old")]
    embedding = next(key for key in checkpoint["state_dict"] if key.endswith(".input.embed_tokens.weight"))
    assert not torch.equal(after[0][embedding], checkpoint["state_dict"][embedding])  # it trained on
    assert after[0].keys() == after[1].keys() and all(torch.equal(after[0][k], after[1][k]) for k in after[0])
