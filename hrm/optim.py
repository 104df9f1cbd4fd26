"""Optimizers: AdamATan2 (the official HRM's), sign-SGD for the sparse puzzle-embedding table, and a group that
steps several as one.

Lightning's automatic optimization (needed for `accumulate_grad_batches` and precision plugins) takes
a single optimizer, while HRM trains its puzzle embeddings with their own optimizer and learning rate.
`OptimizerGroup` presents both as one `torch.optim.Optimizer`: its `param_groups` are the inner
optimizers' own group dicts, so a learning-rate scheduler drives both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
from torch.optim import Optimizer

from hrm.errors import UserError
from hrm.utils.validation import InvalidSetting, at_least, between, one_of, positive


@dataclass
class OptimizerSettings:
    """What `model.optimizer` may hold, checked as data (None: the module's default)."""

    name: str | None = None  # the reasoning models' dense optimizer: adamw (default) or adam_atan2 (HRM's)
    lr: float | None = None
    betas: list[float] | None = None
    weight_decay: float | None = None
    warmup_steps: int | None = None
    lr_decay: str | None = None  # or cosine
    min_lr_ratio: float | None = None
    puzzle_emb_lr: float | None = None  # the reasoning models' sparse puzzle-embedding table
    puzzle_emb_weight_decay: float | None = None
    clip_norm: float | None = None  # the agent policies' gradient clipping

    def __post_init__(self):
        positive(self, "lr", "puzzle_emb_lr", "clip_norm")
        at_least(self, 0, "weight_decay", "warmup_steps", "puzzle_emb_weight_decay")
        between(self, 0, 1, "min_lr_ratio")
        one_of(self, "lr_decay", (None, "cosine"))
        one_of(self, "name", (None, *DENSE_OPTIMIZERS))
        if self.betas is not None and (len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas)):
            raise InvalidSetting("betas", list(self.betas), "must be two numbers in [0, 1)")


class ParameterwiseOptimizer(Optimizer):
    """An optimizer whose step updates each parameter with a gradient on its own (`update`)."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self.update(param, group)
        return loss

    def update(self, param: torch.Tensor, group: dict) -> None:
        raise NotImplementedError


class AdamATan2(ParameterwiseOptimizer):
    """Adam with atan2 in place of the division by sqrt(v) + eps (the official HRM's optimizer):

        w <- w * (1 - lr * wd) - lr * atan2(m / (1 - beta1^t), sqrt(v / (1 - beta2^t)))

    Bounded by lr * pi/2 per step and without eps, so it needs no epsilon tuning and a tiny v cannot blow
    up the update. Plain tensor ops: any device and dtype (the state is kept in the parameter's dtype).
    """

    def __init__(self, params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.95), weight_decay: float = 0.1):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    def update(self, param: torch.Tensor, group: dict) -> None:
        lr, (beta1, beta2), decay = group["lr"], group["betas"], group["weight_decay"]
        state = self.state[param]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        state["step"] += 1
        step = int(state["step"].item())
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(param.grad, 1 - beta1)
        v.mul_(beta2).addcmul_(param.grad, param.grad, value=1 - beta2)
        param.mul_(1 - lr * decay)
        param.add_(torch.atan2(m / (1 - beta1**step), v.sqrt() / math.sqrt(1 - beta2**step)), alpha=-lr)


DENSE_OPTIMIZERS = ("adamw", "adam_atan2")


class SparseSignSGD(ParameterwiseOptimizer):
    """w <- w * (1 - lr * wd) - lr * sign(grad), applied only to rows present in a sparse gradient.

    Rows of puzzles absent from the batch are untouched (no weight decay either), as in HRM. Under DDP
    the gradient is each process's own (DDP is told to leave the table alone: NCCL cannot all-reduce a
    sparse tensor); the step sums the rows of every process first, so each applies the same update.
    """

    def __init__(self, params, lr: float = 1e-2, weight_decay: float = 0.1):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    def update(self, param: torch.Tensor, group: dict) -> None:
        lr, decay = group["lr"], group["weight_decay"]
        grad = param.grad
        if grad.is_sparse:
            # sums the gradients of a puzzle that appears twice in a batch, or in two processes'
            grad = sum_over_processes(grad).coalesce()
            rows, values = grad.indices()[0], grad.values()
            updated = param[rows] * (1 - lr * decay) - lr * torch.sign(values)
            param.index_copy_(0, rows, updated.to(param.dtype))
        else:
            param.mul_(1 - lr * decay).add_(torch.sign(grad), alpha=-lr)


def sum_over_processes(grad: torch.Tensor) -> torch.Tensor:
    """A sparse [rows, dim] gradient summed over the DDP processes (itself outside DDP): every process
    gathers every other's rows and values, padded to the largest count (dense all_gather works on gloo
    and NCCL alike)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return grad
    grad = grad.coalesce()
    rows, values = grad.indices()[0], grad.values()
    count = torch.tensor([rows.numel()], device=rows.device)
    counts = [torch.zeros_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    most = int(max(counts))
    padded_rows = torch.full((most,), -1, dtype=rows.dtype, device=rows.device)
    padded_rows[: rows.numel()] = rows
    padded_values = values.new_zeros((most, *values.shape[1:]))
    padded_values[: rows.numel()] = values
    all_rows = [torch.empty_like(padded_rows) for _ in counts]
    all_values = [torch.empty_like(padded_values) for _ in counts]
    dist.all_gather(all_rows, padded_rows)
    dist.all_gather(all_values, padded_values)
    rows, values = torch.cat(all_rows), torch.cat(all_values)
    kept = rows >= 0
    return torch.sparse_coo_tensor(rows[kept].unsqueeze(0), values[kept], grad.shape)


class OptimizerGroup(Optimizer):
    """Several optimizers stepped as one (see module docstring)."""

    def __init__(self, optimizers: list[Optimizer]):
        self.optimizers = list(optimizers)
        params = [p for opt in self.optimizers for group in opt.param_groups for p in group["params"]]
        super().__init__(params, {})
        # Share the inner group dicts: changing a group's lr here changes the inner optimizer's.
        self.param_groups = [group for opt in self.optimizers for group in opt.param_groups]

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for opt in self.optimizers:
            opt.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict["optimizers"]
        if len(saved) != len(self.optimizers):
            raise ValueError(f"checkpoint holds {len(saved)} optimizers, this model uses {len(self.optimizers)}")
        for opt, opt_state in zip(self.optimizers, saved):
            opt.load_state_dict(opt_state)
        self.param_groups = [group for opt in self.optimizers for group in opt.param_groups]


def warmup_then_constant(warmup_steps: int):
    """LR multiplier: linear warm-up from 0 over `warmup_steps` optimizer steps, then constant (HRM's recipe)."""

    def multiplier(step: int) -> float:
        return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0

    return multiplier


def warmup_then_cosine(warmup_steps: int, progress: Callable[[], float], floor: float = 0.1):
    """LR multiplier: the linear warm-up, then a cosine from 1 down to `floor` as `progress()` (the fraction of
    the run done, by steps or by wall time) goes from 0 to 1. A short run's last weights are then averaged
    over small steps instead of the constant rate's noise."""
    warmup = warmup_then_constant(warmup_steps)

    def multiplier(step: int) -> float:
        done = min(1.0, max(0.0, progress()))
        return warmup(step) * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * done)))

    return multiplier


def required_settings(settings: dict, keys: tuple[str, ...], where: str = "model.optimizer") -> dict:
    """`settings` when it states every one of `keys`: each value is stated once, in the model's YAML
    (configs/model/), with no second default here."""
    missing = [key for key in keys if settings.get(key) is None]
    if missing:
        raise UserError(f"{where}: {', '.join(missing)} not set (the model configs in configs/model/ state them)")
    return settings


def dense_optimizer(params, cfg: dict, precision: str | None) -> Optimizer:
    """The optimizer of a model's dense weights (lr, betas, weight_decay from `cfg`): AdamW, or AdamATan2
    with `name: adam_atan2`. `precision`: the trainer's (None: no trainer yet)."""
    if cfg.get("name") == "adam_atan2":
        return AdamATan2(params, lr=cfg["lr"], betas=tuple(cfg["betas"]), weight_decay=cfg["weight_decay"])
    # The fused AdamW is several times faster on a CPU (most of a step for the 12.9M-row GPT-2 embedding), but
    # with fp16 loss scaling its gradients stay scaled until the step: there, the plain one.
    fused = precision is not None and not str(precision).startswith("16")
    return torch.optim.AdamW(params, lr=cfg["lr"], betas=tuple(cfg["betas"]), weight_decay=cfg["weight_decay"],
                             fused=fused)


def adamw_with_warmup(params, settings: dict, precision: str = "") -> dict:
    """Lightning's optimizer config: `dense_optimizer` (AdamW unless `settings` names another) with a linear
    warm-up over `warmup_steps`, stepped per optimizer step."""
    cfg = required_settings(settings, ("lr", "betas", "weight_decay", "warmup_steps"))
    optimizer = dense_optimizer(params, cfg, precision)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_constant(cfg["warmup_steps"]))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
