"""One line, never a traceback, for every bad input: files that are not what they claim (links, folders,
pipes, other encodings, huge or deeply nested), config values of the wrong type or out of range, and
checkpoints or safetensors files that are empty, random or another model's."""

from __future__ import annotations

import codecs
import json
import os
import re
from pathlib import Path

import pytest
import torch

from hrm.agent.policy import HRMPolicy
from hrm.agent.scenarios import load_scenarios
from hrm.agent.schema import load_examples
from hrm.data.arc_tasks import MAX_TASK_BYTES, load_arc_tasks
from hrm.data.sudoku import read_sudoku_csv
from hrm.errors import CheckpointError, DataFormatError
from hrm.models.vae import VAE
from hrm.utils.checkpoints import read_checkpoint
from hrm.utils.files import MAX_TEXT_BYTES
from tests.conftest import TINY, run_train
from tests.hostile.forge import refusal, snapshot, unchanged

TASK = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}


def arc_folder(root: Path) -> Path:
    for split in ("training", "evaluation"):
        (root / "arc" / split).mkdir(parents=True)
        (root / "arc" / split / "good0001.json").write_text(json.dumps(TASK))
    return root / "arc"


def make_symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)


def make_dangling_link(path: Path) -> None:
    path.symlink_to(path.parent / "gone.json")


def make_folder(path: Path) -> None:
    path.mkdir()


def make_fifo(path: Path) -> None:
    os.mkfifo(path)  # reading it would wait forever for a writer


def make_latin1(path: Path) -> None:
    path.write_bytes(json.dumps(TASK).replace("train", "tr\u00e4in").encode("latin-1"))


def make_deep(path: Path) -> None:
    path.write_text("[" * 200_000 + "]" * 200_000)


def make_huge(path: Path) -> None:
    with open(path, "wb") as handle:  # sparse: no disk used, no time spent
        handle.truncate(MAX_TASK_BYTES + 1)


BAD_FILES = {
    "symlink loop": (make_symlink_loop, "loops back on itself"),
    "dangling link": (make_dangling_link, "a symbolic link to a missing file"),
    "folder": (make_folder, "a directory, not a file"),
    "fifo": (make_fifo, "not a regular file"),
    "not utf-8": (make_latin1, "not UTF-8 text (byte"),
    "deep nesting": (make_deep, "nested too deeply"),
    "huge": (make_huge, f"more than the limit of {MAX_TASK_BYTES:,}"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_task_file_that_is_not_one_is_one_line_naming_it(tmp_path, case):
    make, problem = BAD_FILES[case]
    folder = arc_folder(tmp_path)
    make(folder / "training" / "bad00001.json")
    with pytest.raises(DataFormatError) as error:
        load_arc_tasks(str(folder))
    message = str(error.value)
    assert message.startswith(str(folder / "training" / "bad00001.json") + ": ") and problem in message, message
    assert "\n" not in message


@pytest.mark.parametrize("bom", [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE],
                         ids=["utf-8", "utf-16-le", "utf-16-be"])
def test_a_task_file_with_a_byte_order_mark_is_read(tmp_path, bom):
    folder = arc_folder(tmp_path)
    encoding = {codecs.BOM_UTF8: "utf-8", codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}[bom]
    (folder / "training" / "bom00001.json").write_bytes(bom + json.dumps(TASK).encode(encoding))
    training, _ = load_arc_tasks(str(folder))
    assert [task.id for task in training] == ["bom00001", "good0001"]
    assert training[0].test[0][1].tolist() == [[4, 3]]


def test_train_says_which_task_file_is_a_link_loop(tmp_path):
    folder = arc_folder(tmp_path)
    make_symlink_loop(folder / "evaluation" / "loop0001.json")
    before = snapshot(tmp_path)
    refusal(run_train(["experiment=arc_tiny", *TINY, f"data.source={folder}", "data.task_ids=null"], tmp_path / "out"),
            "loop0001.json", "loops back on itself")
    assert not unchanged(before, snapshot(tmp_path))


@pytest.mark.parametrize("case", ["folder", "not utf-8", "deep nesting", "fifo"])
def test_a_decision_log_or_scenario_file_that_is_not_one_is_one_line(tmp_path, case):
    make, problem = BAD_FILES[case]
    for load, name in ((load_examples, "log.json"), (load_scenarios, "scenarios.json")):
        make(tmp_path / name)
        with pytest.raises(DataFormatError, match=rf"^{re.escape(str(tmp_path / name))}: .*{re.escape(problem)}"):
            load(tmp_path / name)


def test_a_decision_log_past_the_size_limit_is_refused_unread(tmp_path):
    log = tmp_path / "log.json"
    with open(log, "wb") as handle:
        handle.truncate(MAX_TEXT_BYTES + 1)
    with pytest.raises(DataFormatError, match=rf"log.json: {MAX_TEXT_BYTES + 1:,} bytes, more than the limit"):
        load_examples(log)


@pytest.mark.parametrize("content, problem", [
    (b"source,q,a,rating\n", "no puzzles"),
    (b"source,question\nx,1\n", "no column a, q"),
    (b"source,q,a,rating\nx,1\n", "line 2: fewer cells than columns"),
    (b"source,q,a,rating\nx,\xff\xfe,1,0\n", "not UTF-8 text"),
])
def test_a_sudoku_csv_that_is_not_one_is_one_line(tmp_path, content, problem):
    path = tmp_path / "train.csv"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=rf"train.csv: .*{problem}"):
        read_sudoku_csv(path, 10)


@pytest.mark.parametrize("override, problem", [
    ("model.optimizer.lr=-0.001", "model.optimizer.lr=-0.001: must be above 0"),
    ("seed=abc", "seed='abc': expected an integer"),
    ("trainer.max_steps=2.5", "trainer.max_steps=2.5: expected an integer"),
    ("model.net.num_heads=0", "model.net.num_heads=0: must be at least 1"),
    ("model.net.hidden_size=33", "model.net.hidden_size=33: must be divisible by num_heads=2"),
    ("data.batch_size=0", "data.batch_size=0: must be at least 1"),
    ("model.act.halt_exploration_prob=2", "model.act.halt_exploration_prob=2: must be between 0 and 1"),
    ("model.net.pos_encoding=spiral", "model.net.pos_encoding='spiral': must be one of"),
    ("model.optimizer.lrr=1", "Could not override 'model.optimizer.lrr'"),
    ("model=hrm_ark", "Could not find 'model/hrm_ark'; Available options in 'model': gpt2_lora, hrm,"),
    ("trainer.max_steps=0", "trainer.max_steps=0: trains nothing"),
    ("--bogus", "unrecognized arguments: --bogus"),
    ("trainer=gpu", "trainer.accelerator=gpu: this machine has no GPU that torch"),
])
def test_a_bad_setting_is_one_line_before_any_work(tmp_path, override, problem):
    if override == "trainer=gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    refusal(run_train(["experiment=arc_tiny", *TINY, override], tmp_path), problem)
    assert not (tmp_path / "checkpoints").exists()  # refused before anything was written


def test_checkpoints_that_are_empty_random_a_folder_or_another_models_are_one_line(tmp_path):
    (tmp_path / "empty.ckpt").write_bytes(b"")
    (tmp_path / "random.ckpt").write_bytes(os.urandom(4096))
    (tmp_path / "folder.ckpt").mkdir()
    problems = {"empty.ckpt": "an empty file", "random.ckpt": "not a readable checkpoint",
                "folder.ckpt": "a directory, not a file"}
    for name, problem in problems.items():
        with pytest.raises(CheckpointError, match=rf"{name}: {problem}"):
            read_checkpoint(tmp_path / name)
    reasoning = tmp_path / "reasoning.ckpt"
    torch.save({"state_dict": {"net.w": torch.zeros(2)}, "hyper_parameters": {"net": {"_target_": "hrm.models.hrm.HRM"},
                                                                              "act": {}}}, reasoning)
    with pytest.raises(CheckpointError, match=r"reasoning.ckpt: not a policy checkpoint"):
        HRMPolicy.from_checkpoint(reasoning)
    refusal(run_train(["experiment=arc_tiny", *TINY, "train=false", f"ckpt_path={tmp_path / 'random.ckpt'}"],
                      tmp_path / "out"), "random.ckpt", "not a readable checkpoint")


def test_safetensors_files_that_are_empty_random_or_another_models_are_one_line(tmp_path):
    from safetensors.torch import save_file

    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "random.safetensors").write_bytes(os.urandom(4096))
    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    save_file({"w": torch.zeros(2)}, str(tmp_path / "shapes.safetensors"),
              metadata={"config": json.dumps({"in_channels": 1, "image_size": 8, "widths": [4], "latent_dim": 2})})
    problems = {"empty": "not a readable safetensors file", "random": "not a readable safetensors file",
                "other": "no config in its metadata", "shapes": "its tensors do not fit the VAE"}
    for name, problem in problems.items():
        with pytest.raises(ValueError, match=rf"{name}.safetensors: .*{problem}"):
            VAE.from_safetensors(tmp_path / f"{name}.safetensors")


def test_a_checkpoint_whose_training_state_is_forged_is_one_line(tmp_path):
    trained = run_train(["experiment=arc_tiny", *TINY, "trainer.max_steps=1"], tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    real = torch.load(tmp_path / "checkpoints" / "arc_tiny" / "last.ckpt", weights_only=True)
    forgeries = {"optimizer_states": [{"state": 1}], "loops": {"fit_loop": 5}, "global_step": -5, "callbacks": 3}
    for key, value in forgeries.items():
        torch.save({**real, key: value}, tmp_path / f"{key}.ckpt")
    for key in ("global_step", "callbacks"):  # caught reading the file
        with pytest.raises(CheckpointError, match=rf"{key}.ckpt: {key}"):
            read_checkpoint(tmp_path / f"{key}.ckpt")
    for key in ("optimizer_states", "loops"):  # caught while Lightning restores it
        refusal(run_train(["experiment=arc_tiny", *TINY, f"ckpt_path={tmp_path / key}.ckpt"], tmp_path / "out"),
                f"{key}.ckpt: cannot be restored into this run")


def test_the_dashboard_skips_pictures_that_are_pipes_or_devices(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    run = tmp_path / "run"
    (run / "arc_eval" / "pictures" / "tasks").mkdir(parents=True)
    (run / "metrics.json").write_text('{"val/loss": 1.0}')
    os.mkfifo(run / "arc_eval" / "pictures" / "tasks" / "aaaa0001.png")  # reading it would wait forever
    (run / "arc_eval" / "pictures" / "contact_sheet.png").symlink_to("/dev/zero")  # endless
    (run / "arc_eval" / "halting.png").write_bytes(b"not a png")
    result = subprocess.run([sys.executable, "-m", "hrm.dashboard", str(run)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<img" not in (run / "dashboard.html").read_text()
