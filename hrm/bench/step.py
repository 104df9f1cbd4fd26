"""HRM training throughput (samples/s) for hrm_arc, and its model-FLOP utilisation (MFU).

MFU = the FLOP/s the training step achieves / the matmul FLOP/s this machine reaches in the step's
compute dtype (bf16 where the CPU has bf16 units, else fp32), both measured in the same run. A step's
FLOPs are counted by torch's FlopCounterMode over one real step: all H/L cycles (the no-grad ones too),
the extra forward for the Q-continue target, and the backward. The step itself runs through the real
Lightning Trainer on real ARC-AGI-1 data. Attention over the 901-token sequence (head_dim 32) is about a
third of the FLOPs and most of the time on a CPU: its softmax costs one exponential per 128 FLOPs, so it
runs far below the matmul rate.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from hrm.bench.record import add_out_argument, save_record
from hrm.data.arc import ARCDataModule
from hrm.models.layers import compile_levels
from hrm.modules.act import act_segment, initial_act_carry, segment_loss
from hrm.modules.reasoning import ReasoningModule
from hrm.training import bind_model_to_data, count_parameters
from hrm.utils.compose import compose_train_config
from hrm.utils.resolvers import cpu_precision


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--precision", default=None, help="Lightning precision (default: the CPU default)")
    add_out_argument(parser, "step")
    parser.add_argument("--compile", action="store_true", help="torch.compile the H and L stacks")


def matmul_rate(dtype: torch.dtype = torch.bfloat16, size: int = 2048, repeats: int = 10) -> float:
    """Best-of-5 FLOP/s of a square matmul: the machine's practical peak for this dtype."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * repeats / best


class StepTimer(L.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, *args) -> None:
        self.end = time.perf_counter()


# torch's FLOP counter knows the CUDA attention kernels but not the CPU flash kernel: count it the same way.
def _cpu_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward,
}


def step_flops(module: ReasoningModule, batch: dict[str, torch.Tensor], autocast: bool) -> tuple[int, int]:
    """(all FLOPs of one training step, the attention part of them)."""
    carry = initial_act_carry(module.net, batch)
    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    with counter, torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        new_carry, out = act_segment(module.net, carry, batch, module.act_config, True, module._generator)
        segment_loss(new_carry, out, module.token_loss)[0].total.backward()
    module.zero_grad(set_to_none=True)
    counts = counter.get_flop_counts()["Global"]
    attention = sum(n for op, n in counts.items() if "attention" in str(op))
    return counter.get_total_flops(), attention


def run(args: argparse.Namespace) -> int:
    precision = args.precision or cpu_precision()
    L.seed_everything(0, workers=True)
    data = ARCDataModule(source="arc-agi-1", num_aug=8, canvas=30, batch_size=args.batch_size)
    data.setup("fit")
    # experiment=arc_full's model: hrm_arc as configs/model/hrm_arc.yaml states it (compiled only with --compile)
    model_cfg = compose_train_config(["experiment=arc_full", "model.optimizer.warmup_steps=10", "model.compile=false"],
                                     root=Path("experiments/bench")).model
    bind_model_to_data(model_cfg, data)
    module = hydra.utils.instantiate(model_cfg)

    batch = next(iter(data.train_dataloader()))
    flops, attention_flops = step_flops(module, batch, autocast=precision.startswith("bf16"))  # counted eagerly
    if args.compile:
        compile_levels(module.net)  # what `model.compile=true` does; compiling happens in the warm-up steps

    timer = StepTimer(args.warmup)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, precision=precision, max_steps=args.warmup + args.steps,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, callbacks=[timer],
    )
    trainer.fit(module, datamodule=data)
    seconds = (timer.end - timer.start) / args.steps

    # The peak of the dtype the step computes in: bf16 where the CPU has bf16 units (the default picks it
    # there), else fp32 (bf16 is then emulated, hundreds of times slower than fp32).
    compute = torch.bfloat16 if precision.startswith("bf16") else torch.float32
    peak = matmul_rate(compute)
    achieved = flops / seconds
    print(f"HRM training step, hrm_arc ({count_parameters(module)[1]:,} parameters), batch {args.batch_size}, "
          f"sequence {data.seq_len}, precision {precision}, compiled: {args.compile}, {torch.get_num_threads()} threads")
    print(f"  step time           {seconds * 1000:9.1f} ms")
    print(f"  throughput          {args.batch_size / seconds:9.2f} samples/s")
    print(f"  FLOPs per step      {flops / 1e9:9.1f} GFLOP (counted; {100 * attention_flops / flops:.0f}% in attention)")
    print(f"  achieved            {achieved / 1e9:9.1f} GFLOP/s")
    dtype = "bf16" if compute == torch.bfloat16 else "fp32"
    print(f"  {dtype} matmul peak    {peak / 1e9:9.1f} GFLOP/s (2048^3, measured now)")
    print(f"  MFU                 {100 * achieved / peak:9.1f} %")
    rows = [{"step": "compiled" if args.compile else "eager", "batch": args.batch_size, "precision": precision,
             "step time (ms)": round(seconds * 1000, 1), "samples/s": round(args.batch_size / seconds, 2),
             "GFLOP per step": round(flops / 1e9, 1), "achieved GFLOP/s": round(achieved / 1e9, 1),
             f"{dtype} matmul peak GFLOP/s": round(peak / 1e9, 1), "MFU (%)": round(100 * achieved / peak, 1)}]
    name = "step_compile" if args.compile else "step"
    path = save_record(args.out, name, f"HRM training step (hrm_arc, sequence {data.seq_len})", rows)
    print(f"  record              {path}")
    return 0
