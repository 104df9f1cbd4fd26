"""No file runs code, through any door: every loader is handed files forged to create a marker file if
anything in them were executed (a `_target_` that Hydra would instantiate, a pickle that would call
os.system), and each refuses in one line while the marker never appears."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hrm.agent import merge_lora
from hrm.agent.lm_policy import LMPolicy
from hrm.agent.policy import HRMPolicy
from hrm.dashboard.__main__ import main as dashboard
from hrm.data.arc_precomputed import load_array
from hrm.data.images import read_cifar_batches
from hrm.errors import CheckpointError, UserError
from hrm.models.vae import VAE
from hrm.utils.checkpoints import read_checkpoint
from tests.conftest import ROOT, TINY, run_train
from tests.hostile.forge import PickleBomb, exec_spec, forged_checkpoint, refusal, snapshot, system_spec, unchanged

ARC_TINY_DATA = ["--source", "arc-agi-1", "--canvas", "10", "--num-aug", "2", "--split", "holdout",
                 "--val-num-aug", "7", "--max-tasks", "2", "--task-ids",
                 "0d3d703e,3c9b0459,6150a2bd,67a3c6ac,68b16354,74dd1130,9dfd6313,b1948b0a,c8f0f002,d511f180,ed36ccf7"]


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "CODE_RAN"
    yield path
    assert not path.exists(), "a forged file ran code"


def policy_hparams(net: dict) -> dict:
    """An imitation checkpoint's hyper-parameters with a forged network spec."""
    return {"net": net, "tokenizer": "gpt2", "max_tokens": 8, "vocab_limit": 10, "act": {}, "optimizer": {}}


def test_a_pickled_payload_in_a_checkpoint_is_refused_by_every_reader(tmp_path, marker):
    bomb = forged_checkpoint(tmp_path / "bomb.ckpt", {"net": PickleBomb(marker)})
    with pytest.raises(CheckpointError, match="refused without running them"):
        read_checkpoint(bomb)
    with pytest.raises(CheckpointError, match="bomb.ckpt"):
        HRMPolicy.from_checkpoint(bomb)
    with pytest.raises(CheckpointError, match="bomb.ckpt"):
        LMPolicy.load(str(bomb))


@pytest.mark.parametrize("spec", [exec_spec, system_spec], ids=["exec", "os.system"])
def test_a_network_spec_in_a_checkpoint_is_data_not_a_class_to_build(tmp_path, marker, spec):
    forged = forged_checkpoint(tmp_path / "policy.ckpt", policy_hparams(spec(marker)))
    with pytest.raises(CheckpointError, match=r"policy.ckpt: hyper_parameters.net._target_=.* not a class"):
        HRMPolicy.from_checkpoint(forged)
    lora = forged_checkpoint(tmp_path / "lora.ckpt", {"lora": {}, "max_prompt_tokens": 32, "pretrained": None,
                                                      "base_config": spec(marker)})
    with pytest.raises(CheckpointError, match=r"lora.ckpt: hyper_parameters.base_config._target_: unknown setting"):
        LMPolicy.load(str(lora))
    assert merge_lora.main(["--checkpoint", str(lora), "--out", str(tmp_path / "merged")]) == 2
    assert not (tmp_path / "merged").exists()


def test_a_net_of_another_kind_or_size_than_its_tensors_is_refused_before_it_is_built(tmp_path, marker):
    net = {"_target_": "hrm.models.hrm.HRM", "vocab_size": 50257, "seq_len": 8, "hidden_size": 8192, "num_heads": 8,
           "puzzle_emb": False, "heads": False}
    forged = forged_checkpoint(tmp_path / "huge.ckpt", policy_hparams(net))
    with pytest.raises(CheckpointError, match=r"describes a network of [\d,]+ parameters, more than the 2 values"):
        HRMPolicy.from_checkpoint(forged)


def test_a_vae_file_whose_config_names_code_is_refused(tmp_path, marker):
    from safetensors.torch import save_file

    path = tmp_path / "vae.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"config": json.dumps(exec_spec(marker))})
    with pytest.raises(ValueError, match=r"vae.safetensors: not a VAE safetensors file: its config is not a VAE"):
        VAE.from_safetensors(path)


def test_arrays_and_image_batches_that_hold_pickles_are_refused(tmp_path, marker):
    objects = np.array([PickleBomb(marker)], dtype=object)
    np.save(tmp_path / "task_ids.npy", objects, allow_pickle=True)
    with pytest.raises(UserError, match=r"task_ids.npy: not a readable array"):
        load_array(tmp_path / "task_ids.npy", "U")
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    (cifar / "data_batch_1").write_bytes(pickle.dumps({b"data": PickleBomb(marker)}))
    with pytest.raises(UserError, match=r"data_batch_1: not a CIFAR-10 batch .*refused to load posix.system"):
        read_cifar_batches(cifar, ["data_batch_1"])


def test_the_dashboard_reads_yaml_as_plain_data(tmp_path, marker):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "metrics.json").write_text('{"val/loss": 1.0}')
    (run / ".hydra" / "config.yaml").write_text(f'experiment_name: !!python/object/apply:os.system ["touch {marker}"]\n')
    before = snapshot(tmp_path)
    assert dashboard([str(run)]) == 2
    assert not unchanged(before, snapshot(tmp_path))


# --- through the command line, as a user would run them --------------------------------------------
def test_train_refuses_a_pickled_checkpoint_to_evaluate_or_resume(tmp_path, marker):
    bomb = forged_checkpoint(tmp_path / "bomb.ckpt", {"x": PickleBomb(marker)})
    refusal(run_train(["experiment=arc_tiny", *TINY, "train=false", f"ckpt_path={bomb}"], tmp_path / "a"),
            "bomb.ckpt", "refused without running them")
    resumed = tmp_path / "b" / "checkpoints" / "arc_tiny" / "last.ckpt"
    forged_checkpoint(resumed, {"x": PickleBomb(marker)})
    before = snapshot(tmp_path)
    refusal(run_train(["experiment=arc_tiny", *TINY], tmp_path / "b"), "last.ckpt", "refused without running them")
    assert not unchanged(before, snapshot(tmp_path))


def test_rl_refuses_an_imitation_checkpoint_whose_net_names_code(tmp_path, marker):
    forged = forged_checkpoint(tmp_path / "imitation.ckpt", policy_hparams(exec_spec(marker)))
    refusal(run_train(["experiment=agent_rl", *TINY, f"model.init_from={forged}"], tmp_path / "run"),
            "imitation.ckpt", "hyper_parameters.net._target_='builtins.exec'")


def test_the_distillation_refuses_a_teacher_whose_net_names_code(tmp_path, marker):
    forged = forged_checkpoint(tmp_path / "teacher.ckpt", {"net": system_spec(marker)})
    refusal(run_train(["experiment=vae_distill", *TINY, f"model.teacher_ckpt={forged}"], tmp_path / "run"),
            "teacher.ckpt", "not a VAE checkpoint")


def test_lora_refuses_an_adapter_dir_holding_a_pickle(tmp_path, marker):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4, "target_modules": ["c_attn"],
         "fan_in_fan_out": True}))
    torch.save({"x": PickleBomb(marker)}, adapter / "adapter_model.bin")
    refusal(run_train(["experiment=agent_lora", *TINY, f"model.adapter={adapter}"], tmp_path / "run"),
            str(adapter), "not an adapter for this model")


def test_a_precomputed_dataset_holding_a_pickle_is_refused(tmp_path, marker):
    folder = tmp_path / "arc_tiny_data"
    built = subprocess.run([sys.executable, "-m", "hrm.data.build_arc", "--output-dir", str(folder), *ARC_TINY_DATA],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    np.save(folder / "train" / "puzzle_identifiers.npy", np.array([PickleBomb(marker)] * 4, dtype=object),
            allow_pickle=True)
    refusal(run_train(["experiment=arc_tiny", *TINY, f"data.precomputed_dir={folder}"], tmp_path / "run"),
            "puzzle_identifiers.npy", "not a readable array")


def test_a_config_override_naming_code_is_refused_before_anything_is_built(tmp_path, marker):
    refusal(run_train(["experiment=arc_tiny", *TINY, "+callbacks.evil._target_=builtins.exec",
                       f"+callbacks.evil._args_=[\"open('{marker}','w')\"]"], tmp_path),
            "callbacks.evil._target_='builtins.exec'", "not a class this framework builds")
    refusal(run_train(["experiment=arc_tiny", *TINY, "model.net._target_=os.system"], tmp_path),
            "model.net._target_='os.system'")
    # a module of ours imports os: its name is no door to os.system; nor is a setting nested in a callback
    refusal(run_train(["experiment=arc_tiny", *TINY, "+callbacks.evil._target_=hrm.callbacks.os.system",
                       f"+callbacks.evil._args_=[\"touch {marker}\"]"], tmp_path), "hrm.callbacks.os.system")
    refusal(run_train(["experiment=arc_tiny", *TINY, "+callbacks.last.evil._target_=os.system",
                       f"+callbacks.last.evil._args_=[\"touch {marker}\"]"], tmp_path), "callbacks.last.evil._target_")
    refusal(run_train(["experiment=arc_tiny", *TINY, f"+data._args_=[{{_target_: os.system, _args_: [touch {marker}]}}]"],
                      tmp_path), "data._args_[0]._target_='os.system'")
    assert not (Path(tmp_path) / "checkpoints").exists()
