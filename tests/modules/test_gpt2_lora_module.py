"""GPT2LoRAModule with the real Trainer: it trains on the agent logs, checkpoints hold the adapter only with a
peft dir beside each, a killed run resumes exactly, and the adapter learns."""

import json
import shutil

import hydra
import pytest
import torch
from peft import PeftModel

from hrm.agent.lm_policy import LMPolicy
from hrm.models.gpt2_lora import load_base_model
from hrm.modules.gpt2_lora import GPT2LoRAModule
from hrm.training import bind_model_to_data
from hrm.utils.checkpoints import read_checkpoint, resume_checkpoint
from tests.conftest import TINY, run_train


def test_a_run_reports_the_policy_metrics_and_the_adapters_size(trained_lora):
    metrics, _ = trained_lora
    for key in ("val/accuracy", "val/f1_idle", "scenarios/lora_accuracy", "scenarios/teacher_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert "switch/use_hrm" not in metrics  # the original agent's switch rule is about the HRM
    assert 0 < metrics["size/trainable_params"] < metrics["size/params"]
    assert metrics["size/trainable_percent"] == pytest.approx(100 * metrics["size/trainable_params"] / metrics["size/params"])


def test_checkpoints_hold_the_adapter_only_with_a_peft_dir_beside_each(trained_lora, tiny_gpt2_dir):
    _, ckpt_dir = trained_lora
    checkpoints = sorted(p.name for p in ckpt_dir.glob("*.ckpt"))
    assert {"last.ckpt", "best.ckpt"} <= set(checkpoints)
    assert sorted(p.name for p in ckpt_dir.glob("*.adapter")) == [c.replace(".ckpt", ".adapter") for c in checkpoints]
    last = read_checkpoint(ckpt_dir / "last.ckpt")
    assert last["state_dict"] and all(".lora_A." in k or ".lora_B." in k for k in last["state_dict"])
    assert not list(ckpt_dir.glob(".*"))  # no temporary dirs left behind

    # The dir is plain peft: on the same base it decides exactly as the checkpoint does.
    from_ckpt = LMPolicy.load(ckpt_dir / "last.ckpt", bf16=False)
    peft_model = PeftModel.from_pretrained(load_base_model(str(tiny_gpt2_dir)), str(ckpt_dir / "last.adapter"))
    from_dir = LMPolicy(peft_model, bf16=False)
    texts = ["recent: idle. curiosity 1, knowledge 7, asked 0, searched 2, iteration 9."]
    assert torch.equal(from_ckpt.probabilities(texts), from_dir.probabilities(texts))
    assert json.loads((ckpt_dir / "last.adapter" / "adapter_config.json").read_text())["r"] == 8


def test_the_adapter_continues_training_from_its_dir(trained_lora, tiny_gpt2_dir, make_config):
    _, ckpt_dir = trained_lora
    cfg = make_config("experiment=agent_lora", *TINY, f"model.pretrained={tiny_gpt2_dir}",
                      f"model.adapter={ckpt_dir / 'last.adapter'}", "model.lora.r=4")
    module = hydra.utils.instantiate(cfg.model)
    assert module.hparams.lora["r"] == 8  # the saved adapter's own settings, recorded for its checkpoints
    saved = read_checkpoint(ckpt_dir / "last.ckpt")["state_dict"]
    assert all(torch.equal(module.state_dict()[k], v) for k, v in saved.items())
    assert {n for n, p in module.named_parameters() if p.requires_grad} == set(saved)


def test_the_adapter_learns_the_logged_actions(tiny_gpt2_dir, make_config):
    cfg = make_config("experiment=agent_lora", *TINY, f"model.pretrained={tiny_gpt2_dir}", "model.lora.dropout=0")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    bind_model_to_data(cfg.model, datamodule)
    module: GPT2LoRAModule = hydra.utils.instantiate(cfg.model)
    rows = datamodule.train_rows[:8]
    batch = {"text": [r["text"] for r in rows], "label": torch.tensor([r["label"] for r in rows])}
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(40):
        loss = module.training_step(batch, 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        accuracy = (module.action_logits(batch["text"]).argmax(-1) == batch["label"]).float().mean()
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy == 1.0  # the policy now picks every logged action


@pytest.mark.filterwarnings("ignore")
def test_a_killed_run_resumes_to_the_same_adapter(tiny_gpt2_dir, tmp_path):
    args = ["experiment=agent_lora", *TINY, f"model.pretrained={tiny_gpt2_dir}", "trainer.max_steps=5",
            "callbacks.last.every_n_train_steps=2", "test=false"]
    straight = run_train(args, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]
    assert run_train([*args, "crash_at_step=2"], tmp_path / "killed").returncode == -9
    ckpt = tmp_path / "killed" / "checkpoints" / "agent_lora" / "last.ckpt"
    resumed = run_train(args, tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {ckpt}" in resumed.stdout
    expected = read_checkpoint(tmp_path / "straight" / "checkpoints" / "agent_lora" / "last.ckpt")["state_dict"]
    got = read_checkpoint(ckpt)["state_dict"]
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)


def test_starting_afresh_moves_the_adapter_dirs_aside_with_their_checkpoints(trained_lora, tmp_path):
    _, ckpt_dir = trained_lora
    copy = shutil.copytree(ckpt_dir, tmp_path / "agent_lora")
    assert resume_checkpoint(copy, None, resume=False) is None
    assert not list(copy.glob("*.ckpt")) and not list(copy.glob("*.adapter"))
    (archive,) = copy.glob("previous-*")
    assert (archive / "last.ckpt").is_file() and (archive / "last.adapter" / "adapter_config.json").is_file()
