"""Training throughput of the token-grid models, against what this machine's arithmetic allows.

    python -m hrm.bench step                       # every model in MODELS
    python -m hrm.bench step --models hrm_arc --compile

First, in the same run, the machine's rates: a 2048^3 matmul in fp32 and in bf16 (best of five; smaller
where the CPU emulates bf16 and 2048^3 would take minutes), and the CPU attention kernel
(scaled_dot_product_attention, forward and backward) at hrm_arc's shape. Then, for
each model, training steps through the real Lightning Trainer at the precision `trainer=cpu` picks here
(`${cpu_precision:}`: bf16-mixed where the CPU has bf16 units), on batches of random tokens of the task's
vocabulary and length (a training step's cost does not depend on which tokens they are): at its
experiment's batch (at most `--max-batch`) and at powers of two up to `--max-batch`, keeping the batch
that gives the most samples/s. A step's FLOPs are counted by torch's FlopCounterMode over one real step
(every H/L cycle, the no-grad ones too, the extra forward for the Q-continue target, the backward; not the
forward that activation checkpointing runs again, which is extra work, not the model's); utilisation =
achieved FLOP/s / the better of the two matmul rates. For a model whose attention runs through the CPU
flash kernel (sequences beyond layers.SHORT_SEQUENCE), the kernel's rates at that model's own shape give a
ceiling: the utilisation the step would reach if everything but attention took no time. One table, also
written as the record experiments/bench/step.json (step_compile.json with --compile).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import hydra
import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from hrm.bench.record import add_out_argument, report
from hrm.models.layers import compile_levels, reasoning_levels
from hrm.modules.act import act_segment, initial_act_carry, segment_loss
from hrm.training import bind_model_to_data, count_parameters
from hrm.utils.compose import compose_train_config
from hrm.utils.resolvers import cpu_precision

# Each model: the experiment that trains it (configs/experiment/<name>.yaml).
MODELS = {
    "hrm_arc": "arc_full",  # the ARC recipe's HRM, 900 tokens
    "hrm_paper": "paper/hrm_arc1",  # the paper's HRM
    "sudoku9_hrm": "sudoku9",
    "sudoku9_trm": "sudoku9_trm",
    "arc_tiny": "arc_tiny",  # make train's model
}
PUZZLE_IDS = 1000  # puzzle-embedding rows for the ARC models: the table's size does not change a step's cost


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, of " + ", ".join(MODELS))
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per batch size")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (compiling happens in them)")
    parser.add_argument("--max-batch", type=int, default=32, help="largest batch tried")
    parser.add_argument("--precision", default=None, help="Lightning precision (default: what trainer=cpu picks)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the H and L stacks (model.compile)")
    add_out_argument(parser, "step")


# --- the machine ---------------------------------------------------------------------------------------
def best_seconds(call, repeats: int, tries: int = 5) -> float:
    call()
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        for _ in range(repeats):
            call()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


MATMUL_SIDE = 2048  # the matmul that gives a machine's rate: large enough that its kernel runs at full speed
PROBE_SIDE = 256  # the quick matmul that predicts how long that one takes, and the smallest side measured


def matmul_rate(dtype: torch.dtype, size: int = MATMUL_SIDE, budget_s: float = 10.0) -> tuple[float, int]:
    """(FLOP/s, side) of a square matmul in `dtype`: the machine's practical peak for it. A CPU without bf16
    units emulates bf16 a hundred times slower than its fp32; there a 2048^3 measurement would take a quarter
    of an hour, so the side halves until a PROBE_SIDE^3 probe predicts the measurement fits in `budget_s`."""
    probe_a, probe_b = (torch.randn(PROBE_SIDE, PROBE_SIDE, dtype=dtype) for _ in range(2))
    probe_rate = 2 * PROBE_SIDE**3 / best_seconds(lambda: probe_a @ probe_b, repeats=1, tries=2)
    repeats, tries = 4, 5
    calls = 1 + tries * repeats  # best_seconds' warm-up call, then the timed ones
    while size > PROBE_SIDE and calls * 2 * size**3 / probe_rate > budget_s:
        size //= 2
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    return 2 * size**3 / best_seconds(lambda: a @ b, repeats=repeats, tries=tries), size


def describe_rate(name: str, rate: float, size: int) -> str:
    """'bf16 2231' (GFLOP/s), with one decimal under 10 and the side where it was not MATMUL_SIDE."""
    figure = f"{rate / 1e9:.1f}" if rate < 1e10 else f"{rate / 1e9:.0f}"
    smaller = f" (at {size}^3: {MATMUL_SIDE}^3 would take minutes here)" if size != MATMUL_SIDE else ""
    return f"{name} {figure}{smaller}"


def attention_rates(dtype: torch.dtype, batch: int = 4, heads: int = 8, seq: int = 900, head_dim: int = 32,
                    ) -> tuple[float, float]:
    """(forward, backward) FLOP/s of the attention kernel at a shape (non-causal, as the models use it; by default
    hrm_arc's)."""
    q, k, v = (torch.randn(batch, heads, seq, head_dim, dtype=dtype, requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v)
    grad = torch.randn_like(out)
    forward = best_seconds(lambda: F.scaled_dot_product_attention(q, k, v), repeats=2, tries=3)
    both = best_seconds(lambda: torch.autograd.grad(F.scaled_dot_product_attention(q, k, v), (q, k, v), grad),
                        repeats=2, tries=3)
    flops = sdpa_flop_count(q.shape, k.shape, v.shape)
    return flops / forward, sdpa_backward_flop_count(grad.shape, q.shape, k.shape, v.shape) / (both - forward)


# --- a model's step ------------------------------------------------------------------------------------
# torch's FLOP counter knows the CUDA attention kernels but not the CPU flash kernel: count it the same way.
def _cpu_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward,
}
# FlopCounterMode's counts name an op by its packet, or (torch versions differ) by an overload of it.
CPU_ATTENTION_OPS = tuple({op, op.default} for op in CPU_ATTENTION_FLOPS)


@dataclass
class StepFlops:
    total: int
    attention_forward: int  # in the CPU flash kernel only (short sequences use plain matmuls, counted as such)
    attention_backward: int


def step_flops(module, batch: dict[str, torch.Tensor], autocast: bool) -> StepFlops:
    """The FLOPs of one training step (one ACT segment and its backward), counted eagerly, without the
    forward that activation checkpointing repeats."""
    levels = reasoning_levels(module.net)
    recompute = [level.recompute for level in levels]
    for level in levels:
        level.recompute = False
    carry = initial_act_carry(module.net, batch)
    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    try:
        with counter, torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            new_carry, out = act_segment(module.net, carry, batch, module.act_config, True, module._generator)
            segment_loss(new_carry, out, module.token_loss)[0].total.backward()
    finally:
        for level, flag in zip(levels, recompute):
            level.recompute = flag
    module.zero_grad(set_to_none=True)
    counts = counter.get_flop_counts()["Global"]
    forward, backward = (sum(n for op, n in counts.items() if op in ops) for ops in CPU_ATTENTION_OPS)
    return StepFlops(counter.get_total_flops(), forward, backward)


def random_batches(task: SimpleNamespace, batch_size: int, count: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    rows = batch_size * count
    inputs = torch.randint(1, task.vocab_size, (rows, task.seq_len), generator=g)
    ids = torch.randint(1, max(task.num_puzzle_identifiers, 2), (rows,), generator=g) \
        if task.num_puzzle_identifiers else torch.zeros(rows, dtype=torch.long)
    return [{"inputs": i, "labels": torch.randint(1, task.vocab_size, (task.seq_len,), generator=g),
             "puzzle_identifiers": p} for i, p in zip(inputs, ids)]


class StepTimer(L.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, *args) -> None:
        self.end = time.perf_counter()


def build(experiment: str) -> tuple[object, SimpleNamespace, int]:
    """(the model as its experiment configures it, its task's sizes, the experiment's batch size)."""
    cfg = compose_train_config([f"experiment={experiment}", "model.compile=false"], root=Path("experiments/bench"))
    data = hydra.utils.instantiate(cfg.data)  # its sizes only: nothing is loaded or generated before setup
    task = SimpleNamespace(vocab_size=data.vocab_size, seq_len=data.seq_len,
                           num_puzzle_identifiers=PUZZLE_IDS if cfg.model.net.get("puzzle_emb") else 0)
    bind_model_to_data(cfg.model, task)
    return hydra.utils.instantiate(cfg.model), task, int(cfg.data.batch_size)


def seconds_per_step(module, task: SimpleNamespace, batch_size: int, args, precision: str) -> float:
    timer = StepTimer(args.warmup)
    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, max_steps=args.warmup + args.steps,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, callbacks=[timer])
    loader = DataLoader(random_batches(task, batch_size, args.warmup + args.steps), batch_size=batch_size)
    trainer.fit(module, train_dataloaders=loader)
    return (timer.end - timer.start) / args.steps


def attention_ceiling(module, flops: StepFlops, dtype: torch.dtype, peak: float) -> float | None:
    """The utilisation (%) a step would reach if all but its flash-kernel attention took no time; None where
    the model's attention does not run through that kernel."""
    if not flops.attention_forward:
        return None
    cfg = module.net.config
    forward, backward = attention_rates(dtype, heads=cfg.num_heads, seq=cfg.positions,
                                        head_dim=cfg.hidden_size // cfg.num_heads)
    seconds = flops.attention_forward / forward + flops.attention_backward / backward
    return round(100 * flops.total / seconds / peak, 1)


def measure(name: str, args, precision: str, dtype: torch.dtype, peak: float) -> dict:
    module, task, configured = build(MODELS[name])
    one = DataLoader(random_batches(task, 1, 1), batch_size=1).__iter__().__next__()
    flops = step_flops(module, one, dtype == torch.bfloat16)  # counted eagerly, before compiling
    if args.compile:
        compile_levels(module.net)  # what model.compile=true does
    configured = min(configured, args.max_batch)
    tried = {}

    def timed(batch_size: int) -> float:
        tried[batch_size] = batch_size / seconds_per_step(module, task, batch_size, args, precision)
        print(f"{name}: batch {batch_size}: {tried[batch_size]:.2f} samples/s", flush=True)
        return tried[batch_size]

    timed(configured)
    rising = 0.0  # the best of the powers of two so far
    for batch_size in (2**k for k in range(args.max_batch.bit_length())):
        if batch_size > args.max_batch:
            break
        rate = tried.get(batch_size) or timed(batch_size)
        if rate < 0.95 * rising:
            break  # past the best: larger batches only take longer here
        rising = max(rising, rate)
    best = max(tried, key=tried.get)
    row = {"model": name, "parameters": count_parameters(module)[1], "tokens": task.seq_len,
           "attention FLOPs (%)": round(100 * (flops.attention_forward + flops.attention_backward) / flops.total, 1)
           if flops.attention_forward else None,
           "attention ceiling (%)": attention_ceiling(module, flops, dtype, peak)}
    for label, batch_size in (("configured", configured), ("best", best)):
        achieved = flops.total * tried[batch_size]
        row |= {f"{label} batch": batch_size, f"{label} samples/s": round(tried[batch_size], 2),
                f"{label} GFLOP/s": round(achieved / 1e9, 1),
                f"{label} utilisation (%)": round(100 * achieved / peak, 1)}
    return row


def run(args: argparse.Namespace) -> int:
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise SystemExit(f"error: --models: {', '.join(unknown)} not among {', '.join(MODELS)}")
    precision = args.precision or cpu_precision()
    (fp32, fp32_side), (bf16, bf16_side) = matmul_rate(torch.float32), matmul_rate(torch.bfloat16)
    rates = f"{describe_rate('fp32', fp32, fp32_side)} and {describe_rate('bf16', bf16, bf16_side)} GFLOP/s"
    dtype = torch.bfloat16 if precision.startswith("bf16") else torch.float32
    attention = attention_rates(dtype)
    peak = max(fp32, bf16)
    print(f"matmul {MATMUL_SIDE}^3: {rates}; attention ({dtype}, "
          f"hrm_arc's shape): forward {attention[0] / 1e9:.0f}, backward {attention[1] / 1e9:.0f} GFLOP/s", flush=True)
    L.seed_everything(0, workers=True)
    rows = [measure(name, args, precision, dtype, peak) for name in names]
    note = (f"Precision {precision}{', compiled' if args.compile else ''}; {torch.get_num_threads()} threads. "
            f"This machine, measured in the same run: matmul ({MATMUL_SIDE}^3) {rates}; the attention kernel "
            f"({str(dtype).removeprefix('torch.')}, 4 x 8 heads x 900 tokens x 32) "
            f"forward {attention[0] / 1e9:.0f} and backward {attention[1] / 1e9:.0f} GFLOP/s. Utilisation: "
            f"achieved FLOP/s over the better matmul rate ({peak / 1e9:.0f} GFLOP/s); FLOPs are the model's, without "
            f"the forward activation checkpointing repeats. Attention ceiling: the utilisation if all but the flash "
            f"attention kernel took no time, at the kernel's rates measured at that model's shape (models whose "
            f"sequences are short use plain matmuls instead: blank). Batches at most "
            f"{args.max_batch}; random tokens of each task's vocabulary and length.")
    name = "step_compile" if args.compile else "step"
    report(args.out, name, "Training throughput against this machine's matmul rate", rows, note)
    return 0
