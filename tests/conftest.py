"""Shared fixtures: compose the real Hydra configs with outputs redirected to a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig

from hrm.utils.compose import compose_train_config

ROOT = Path(__file__).resolve().parents[1]
# Seconds-long runs: the debug=tiny overrides plus no wandb.
TINY = ["debug=tiny", "logger=csv"]


@pytest.fixture
def make_config(tmp_path):
    def make(*overrides: str) -> DictConfig:
        return compose_train_config(list(overrides), tmp_path)

    return make


def run_train(args: list[str], root: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the real entry point, `python train.py ...`, as a user would (outputs under `root`)."""
    env = dict(os.environ, HRM_ROOT=str(root), WANDB_SILENT="true", PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    """A tiny random GPT-2 (2 layers, 32 wide, GPT-2's real vocabulary) saved as a local model dir: what
    `model.pretrained=<dir>` loads in place of the hub's weights, which cannot be downloaded here."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    # initializer_range: at 32 wide, GPT-2's 0.02 leaves logits within +-0.6, too flat for any adapter to move
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=160, initializer_range=0.2)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def trained_lora(tiny_gpt2_dir, tmp_path_factory):
    """experiment=agent_lora on the tiny logs, 2 epochs, from the tiny GPT-2 saved locally:
    (its metrics, its checkpoint dir)."""
    from hrm.training import run

    root = tmp_path_factory.mktemp("agent_lora")
    cfg = compose_train_config(["experiment=agent_lora", *TINY, f"model.pretrained={tiny_gpt2_dir}",
                                "trainer.max_steps=-1", "trainer.max_epochs=2"], root)
    metrics = run(cfg)
    return metrics, Path(cfg.paths.ckpt_dir)
