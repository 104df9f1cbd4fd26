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
