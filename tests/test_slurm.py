"""SLURM through `hydra/launcher=slurm`, on a fake SLURM (tests/fake_slurm/: sbatch, srun, sacct, scontrol
that run the job here): the warning signal before a preemption makes Lightning save hpc_ckpt_<n>.ckpt
into the stable checkpoint dir and requeue the job, and the requeued job resumes from it."""

import json
import os
from pathlib import Path

from tests.conftest import TINY, run_train

FAKE_SLURM = Path(__file__).with_name("fake_slurm")


def test_a_preempted_slurm_job_is_requeued_by_lightning_and_resumes_from_its_hpc_checkpoint(tmp_path, monkeypatch):
    state = tmp_path / "slurm"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{FAKE_SLURM}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state))
    # crash_signal=USR2: the job sends itself SLURM's warning at step 3, as SLURM would before the end.
    args = ["-m", "hydra/launcher=slurm", "hydra.launcher.gpus_per_node=null", "experiment=arc_tiny", *TINY,
            "test=false", "trainer.max_steps=6", "crash_at_step=3", "crash_signal=USR2"]
    done = run_train(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]

    script = (state / "1000.sbatch").read_text()
    for line in ("#SBATCH --requeue", "#SBATCH --signal=USR2@120", "#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1"):
        assert line in script
    assert (state / "scontrol.log").read_text() == "requeue 1000\n"  # Lightning's requeue, once
    (ckpt_dir,) = (tmp_path / "checkpoints" / "arc_tiny").iterdir()
    assert (ckpt_dir / "hpc_ckpt_1.ckpt").is_file()
    (sweep_dir,) = (tmp_path / "experiments" / "multiruns").iterdir()
    job_log = "".join(path.read_text() for path in (sweep_dir / ".submitit").glob("1000/*_log.out"))
    assert f"resuming from {ckpt_dir / 'hpc_ckpt_1.ckpt'}" in job_log
    assert json.loads((sweep_dir / "0" / "metrics.json").read_text())["trainer/global_step"] == 6
    assert "sweep of 1 jobs" in done.stdout
