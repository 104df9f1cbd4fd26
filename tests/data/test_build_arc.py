"""build_arc: a precomputed dataset holds exactly the on-the-fly samples; the CLI's and loader's guards."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

from hrm.data.arc import ARCDataModule
from hrm.data.build_arc import main
from hrm.errors import UserError

# Small but real: the first 3 training and 3 evaluation tasks of ARC-AGI-1 that fit the canvas.
CASES = {
    "canvas30": dict(max_tasks=3, num_aug=4, canvas=30, val_num_aug=1, seed=7),
    "canvas10-holdout-fixed": dict(max_tasks=3, num_aug=4, canvas=10, split="holdout", translate=False),
}


def cli_args(settings: dict) -> list[str]:
    """The build_arc options for ARCDataModule keyword arguments."""
    args = []
    for key, value in settings.items():
        option = "--" + key.replace("_", "-")
        args += ([option] if value else ["--no-" + key]) if isinstance(value, bool) else [option, str(value)]
    return args


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build each case's dataset once: {case: folder}."""
    folders = {}
    for case, settings in CASES.items():
        folders[case] = tmp_path_factory.mktemp("built") / case
        assert main([*cli_args(settings), "--output-dir", str(folders[case])]) == 0
    return folders


def _setup(**kwargs) -> ARCDataModule:
    datamodule = ARCDataModule(batch_size=8, **kwargs)
    datamodule.setup()
    return datamodule


def _assert_same_batch(a: dict, b: dict, where) -> None:
    assert a.keys() == b.keys(), where
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), (where, key)


@pytest.mark.parametrize("case", CASES)
def test_precomputed_samples_are_the_on_the_fly_samples(built, case):
    live = _setup(**CASES[case])
    stored = _setup(**CASES[case], precomputed_dir=str(built[case]))
    assert stored.num_puzzle_identifiers == live.num_puzzle_identifiers
    for split in ("train", "val"):
        live_ds, stored_ds = getattr(live, f"{split}_dataset"), getattr(stored, f"{split}_dataset")
        assert len(stored_ds) == len(live_ds) > 0
        for i in range(len(live_ds)):
            _assert_same_batch(live_ds[i], stored_ds[i], (split, i))
            assert stored.describe(split, i) == live.describe(split, i), (split, i)
    # Batches too, through the resumable sampler; and a pickled dataset (as sent to a DataLoader
    # worker that is not forked) carries no array data and reads the same samples.
    for a, b in zip(live.train_dataloader(), stored.train_dataloader(), strict=True):
        _assert_same_batch(a, b, "train batch")
    copy = pickle.loads(pickle.dumps(stored.train_dataset))
    assert len(pickle.dumps(stored.train_dataset)) < 10_000
    _assert_same_batch(copy[5], live.train_dataset[5], "unpickled")


def test_settings_that_differ_from_the_build_are_refused(built):
    folder = built["canvas30"]
    with pytest.raises(UserError) as error:
        _setup(**{**CASES["canvas30"], "seed": 8, "translate": False}, precomputed_dir=str(folder))
    message = str(error.value)
    assert message.startswith(f"{folder}: ") and "\n" not in message
    assert "seed=7 (data.seed=8)" in message and "translate=True (data.translate=False)" in message
    with pytest.raises(UserError, match="no such precomputed ARC dataset"):
        _setup(**CASES["canvas30"], precomputed_dir=str(folder.parent / "missing"))


def test_cli_refuses_a_non_empty_folder_without_force_and_shows_progress(tmp_path, capsys):
    out = tmp_path / "data"
    args = [*cli_args(CASES["canvas10-holdout-fixed"]), "--output-dir", str(out)]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "train ━" in first.err and "samples/s" in first.err  # rich's progress bars (stderr)
    assert first.out.startswith(f"wrote {out}: ") and "val samples" in first.out

    assert main([*args, "--seed", "5"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {out}: folder is not empty; pass --force to replace it\n"
    assert json.loads((out / "metadata.json").read_text())["settings"]["seed"] == 42  # untouched

    assert main([*args, "--seed", "5", "--force"]) == 0
    capsys.readouterr()
    assert json.loads((out / "metadata.json").read_text())["settings"]["seed"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no partial or old folder left behind

    (out / "notes.txt").write_text("mine")  # --force replaces a dataset, not any folder
    assert main([*args, "--force"]) == 2
    assert "holds 'notes.txt', which is not part of a dataset" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, problem",
    [
        (["--canvas", "31"], "data.canvas must be 1-30"),
        (["--max-tasks", "0"], "argument --max-tasks: expected an integer >= 1, got '0'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--task-ids", "nope"], "unknown ARC task(s) nope"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, args, problem):
    assert main([*args, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and problem in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_killed_build_leaves_nothing_that_loads(tmp_path):
    """SIGKILL (no cleanup runs) the real CLI while it writes: the target never appears and the
    partial folder is refused with one line."""
    out = tmp_path / "data"
    settings = dict(max_tasks=40, num_aug=300)  # ~100k samples: seconds of writing to kill into
    build = subprocess.Popen(
        [sys.executable, "-m", "hrm.data.build_arc", *cli_args(settings), "--output-dir", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    partial = tmp_path / f"data.partial-{build.pid}"
    deadline = time.monotonic() + 60
    while not (partial / "train" / "inputs.npy").exists() and build.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(build.pid, signal.SIGKILL)
    assert build.wait() == -signal.SIGKILL, "the build ended before it could be killed"

    assert not out.exists() and (partial / "train").is_dir()
    with pytest.raises(UserError) as error:
        _setup(**settings, precomputed_dir=str(partial))
    message = str(error.value)
    assert message.startswith(f"{partial}: incomplete precomputed ARC dataset (no metadata.json")
    assert "\n" not in message
