"""OmegaConf resolvers used by the configs. Importing this module registers them (idempotent)."""

from __future__ import annotations

import contextlib
import functools

import torch
from omegaconf import OmegaConf


@functools.cache
def cpu_has_bf16() -> bool:
    """True where the CPU runs bf16 matmuls natively (AVX512-BF16 / AMX): there bf16 autocast is several
    times faster than fp32. Elsewhere bf16 is emulated and slower, so fp32 is the better default."""
    try:
        flags = open("/proc/cpuinfo").read()
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


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("cpu_precision"):
        OmegaConf.register_new_resolver("cpu_precision", cpu_precision)


register_resolvers()
