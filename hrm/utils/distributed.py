"""Running one training job as several processes: DDP on one machine, and SLURM jobs on many.

Lightning does the work (process groups, gradient averaging, SLURM ranks and requeue); this file only
fits it to how train.py is launched:
- `trainer=ddp` on one machine: Lightning starts processes 1..N-1 by rerunning this command line. In a
  sweep (`-m`) that command line is the whole sweep, so they are given this one job's overrides instead.
- SLURM (`hydra/launcher=slurm`): the job is told to expect a signal some minutes before its time
  limit or preemption. Lightning's handler then saves `hpc_ckpt_<n>.ckpt` into the stable checkpoint
  dir and runs `scontrol requeue`; the requeued job reruns the same command and resumes from it.
"""

from __future__ import annotations

import os
import signal
import sys

from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, read_write

# The signal SLURM sends before the end (`#SBATCH --signal=<it>@<seconds>`): submitit's convention,
# which the SLURM launcher config writes into the job script.
REQUEUE_SIGNAL_ENV = "SUBMITIT_PREEMPT_SIGNAL"


def is_rank_zero() -> bool:
    """Whether this process is the first of its job (known from the launcher's environment before the
    Trainer exists: LOCAL_RANK under Lightning's DDP launcher, SLURM_PROCID under SLURM)."""
    return rank_zero_only.rank == 0


def give_ddp_children_this_job(cfg: DictConfig) -> None:
    """In a sweep, make Lightning's DDP launcher rerun this job (not the sweep) for processes 1..N-1."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or not is_rank_zero():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return  # a single run: Lightning reruns the command line itself, with the run dir pinned
    # Lightning appends hydra.run.dir=<HydraConfig's run.dir>: point that at this job's dir. The
    # checkpoint dir of a sweep job depends on the sweep; the children, single runs, get it spelled out.
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task, f'paths.ckpt_dir="{cfg.paths.ckpt_dir}"']
    with read_write(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir


def cluster_plugins() -> list:
    """Under SLURM: Lightning's SLURM environment, requeueing the job on the signal its script asks for."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    if not SLURMEnvironment.detect():
        return []
    name = os.environ.get(REQUEUE_SIGNAL_ENV, "USR2")
    requeue_signal = getattr(signal, f"SIG{name}")
    # submitit has its own handler on that signal: it resubmits without saving anything. Lightning only
    # installs its handler (save hpc_ckpt, then scontrol requeue) where no other is set.
    signal.signal(requeue_signal, signal.SIG_DFL)
    return [SLURMEnvironment(auto_requeue=True, requeue_signal=requeue_signal)]
