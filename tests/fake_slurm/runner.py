"""One job (or array task) of the fake SLURM: runs its script, again after each `scontrol requeue`."""
import os
import re
import subprocess
import sys
from pathlib import Path

job_id, task, script = sys.argv[1:]
state = Path(os.environ["FAKE_SLURM_DIR"])
key = f"{job_id}_{task}" if task else job_id
name = re.search(r"^#SBATCH --job-name=(\S+)", Path(script).read_text(), re.M)
env = dict(os.environ, SLURM_JOB_ID=job_id, SLURM_NTASKS="1", SLURM_NNODES="1", SLURM_JOB_NUM_NODES="1",
           SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0", SLURM_NODELIST="localhost",
           SLURM_JOB_NODELIST="localhost", SLURM_JOB_NAME=name[1] if name else "job")
if task:
    env.update(SLURM_ARRAY_JOB_ID=job_id, SLURM_ARRAY_TASK_ID=task)
restarts = 0
while True:
    (state / f"{key}.state").write_text("RUNNING")
    job = subprocess.Popen(["bash", script], env=dict(env, SLURM_RESTART_COUNT=str(restarts)), start_new_session=True)
    (state / f"{key}.pid").write_text(str(job.pid))
    code = job.wait()
    requeued = state / f"{key}.requeue"
    if requeued.exists():
        requeued.unlink()
        restarts += 1
        continue
    (state / f"{key}.state").write_text("COMPLETED" if code == 0 else "FAILED")
    break
