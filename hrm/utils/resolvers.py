"""OmegaConf resolvers used by the configs. Importing this module registers them (idempotent)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os

import torch
from omegaconf import OmegaConf


@functools.cache
def cpu_has_bf16() -> bool:
    """True where the CPU runs bf16 matmuls natively (AVX512-BF16 / AMX): there bf16 autocast is several
    times faster than fp32. Elsewhere bf16 is emulated and slower, so fp32 is the better default."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        flags = ""
    native = any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))
    return native and torch.backends.mkldnn.is_available()


def cpu_autocast(bf16: bool | None = None):
    """bf16 autocast on the CPU where it has bf16 matrix units (or as `bf16` says), else a no-op context."""
    native = cpu_has_bf16() if bf16 is None else bf16
    return torch.autocast("cpu", torch.bfloat16) if native else contextlib.nullcontext()


def cpu_precision() -> str:
    return "bf16-mixed" if cpu_has_bf16() else "32-true"


MAX_DIR_NAME = 120


def multirun_job_subdir() -> str:
    """In a sweep (`python train.py -m ...`), `/<the job's overrides>` (e.g. `/model.net.hidden_size=64,seed=1`);
    in a single run, nothing. A sweep's jobs then keep their checkpoints apart, and running the same sweep
    again resumes each job from its own. A long name is cut and ends with a hash of the whole, still the
    same for the same overrides."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return ""
    job = HydraConfig.get().job
    name = (job.override_dirname or f"job{job.num}").replace("/", "_")
    if len(name) > MAX_DIR_NAME:  # file names stop at 255 bytes; a search's trials name many floats
        name = f"{name[:MAX_DIR_NAME - 11]}-{hashlib.sha1(name.encode()).hexdigest()[:10]}"
    return "/" + name


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("cpu_precision"):
        OmegaConf.register_new_resolver("cpu_precision", cpu_precision)
    if not OmegaConf.has_resolver("mps_precision"):
        from hrm.utils.mps import mps_precision

        OmegaConf.register_new_resolver("mps_precision", mps_precision)
    if not OmegaConf.has_resolver("cwd"):  # where the command ran (runs never chdir: hydra.job.chdir=false)
        OmegaConf.register_new_resolver("cwd", os.getcwd)
    if not OmegaConf.has_resolver("multirun_job_subdir"):
        OmegaConf.register_new_resolver("multirun_job_subdir", multirun_job_subdir)


register_resolvers()
