"""Sweeps (`python train.py -m`): every job gets its own run dir and checkpoint dir, a rerun resumes each
job from its own checkpoints, and the sweep ends with one table of every job's metrics."""

import json

from tests.conftest import TINY, run_train


def test_a_two_job_sweep_keeps_its_jobs_apart_and_ends_with_a_summary(tmp_path):
    args = ["-m", "experiment=arc_tiny", *TINY, "trainer.max_steps=2", "seed=1,2"]
    done = run_train(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt_dirs = sorted(p.name for p in (tmp_path / "checkpoints" / "arc_tiny").iterdir())
    assert ckpt_dirs == ["debug=tiny,seed=1,trainer.max_steps=2", "debug=tiny,seed=2,trainer.max_steps=2"]
    (sweep_dir,) = (tmp_path / "experiments" / "multiruns" / "arc_tiny").iterdir()
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert [job["overrides"]["seed"] for job in summary["jobs"]] == ["1", "2"]
    assert all(job["metrics"]["trainer/global_step"] == 2 for job in summary["jobs"])
    assert summary["table"].splitlines()[0].startswith("| job | seed |") and summary["table"] in done.stdout

    again = run_train(args, tmp_path)  # the same sweep again: each job resumes from its own last.ckpt
    assert again.returncode == 0, again.stderr[-2000:]
    for name in ckpt_dirs:
        assert f"resuming from {tmp_path / 'checkpoints' / 'arc_tiny' / name / 'last.ckpt'}" in again.stdout
