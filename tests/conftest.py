"""Shared fixtures: compose the real Hydra configs with outputs redirected to a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

import hrm.utils.resolvers  # noqa: F401  (registers ${cpu_precision:})

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = str(ROOT / "configs")
# Seconds-long runs: the debug=tiny overrides plus no wandb.
TINY = ["debug=tiny", "logger=csv"]


def compose_config(overrides: list[str], root: Path) -> DictConfig:
    """The config `python train.py <overrides>` would run, writing under `root` instead of the repo."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        cfg = compose(config_name="train", overrides=[f"paths.root_dir={root}", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(root / "run")  # Hydra's runtime dir does not exist outside a launch
    return cfg


@pytest.fixture
def make_config(tmp_path):
    def make(*overrides: str) -> DictConfig:
        return compose_config(list(overrides), tmp_path)

    return make


def run_train(args: list[str], root: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the real entry point, `python train.py ...`, as a user would (outputs under `root`)."""
    env = dict(os.environ, HRM_ROOT=str(root), WANDB_SILENT="true", PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
