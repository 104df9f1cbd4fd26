"""VAE distillation on this CPU: the student's held-out MSE over the teacher's, the parameter ratio, and
both models' encode+decode latency, in one run.

Runs `experiment=vae_teacher`, then `experiment=vae_distill` from its checkpoint (and, for reference,
the student trained alone by its ELBO) through the real training code in a temporary folder, then
times the exported safetensors models. Target: student MSE at most 1.15x the teacher's with at least
30x fewer parameters.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from hrm.bench.record import add_out_argument, report
from hrm.bench.timing import median_ms
from hrm.models.vae import VAE
from hrm.training import run as run_training
from hrm.utils.compose import compose_train_config
from hrm.utils.resolvers import cpu_autocast, cpu_has_bf16

MSE_RATIO_TARGET, PARAM_RATIO_TARGET = 1.15, 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="digits", help="digits | cifar10 (default: digits)")
    parser.add_argument("--epochs", type=int, default=None, help="(default: the experiments' own)")
    parser.add_argument("--repeats", type=int, default=50, help="timed encode+decode passes per batch size")
    add_out_argument(parser, "vae")
    parser.add_argument("overrides", nargs="*", help="config overrides for every run, key=value (e.g. debug=tiny)")


def train(experiment: str, root: str, args: argparse.Namespace, *extra: str) -> tuple[dict, float]:
    overrides = [f"experiment={experiment}", f"data={args.data}", "logger=none", "trainer.enable_progress_bar=false",
                 "~callbacks.progress_bar", *args.overrides, *extra]
    if args.epochs:
        overrides.append(f"trainer.max_epochs={args.epochs}")
    start = time.perf_counter()
    metrics = run_training(compose_train_config(overrides, root))
    return metrics, time.perf_counter() - start


def latency_ms(vae: VAE, batch: int, repeats: int) -> float:
    images = torch.rand(batch, vae.config.in_channels, vae.config.image_size, vae.config.image_size)

    def encode_decode(x):
        with torch.no_grad(), cpu_autocast():
            return vae.decode(vae.encode(x)[0])

    return median_ms(encode_decode, [images] * repeats, warmup=3)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as root:
        _, teacher_s = train("vae_teacher", root, args)
        distill, distill_s = train("vae_distill", root, args)
        alone, alone_s = train("vae_teacher", root, args, "model=tiny_vae", "experiment_name=tiny_vae_alone")
        models = {name: VAE.from_safetensors(Path(root) / "checkpoints" / folder / file) for name, folder, file in
                  (("teacher", "vae_teacher", "vae.safetensors"), ("student", "vae_distill", "tiny_vae.safetensors"))}
        timings = {name: [latency_ms(vae, batch, args.repeats) for batch in (1, 64)] for name, vae in models.items()}

    mse_ratio, param_ratio = distill["distill/mse_ratio"], distill["distill/param_ratio"]
    # The teacher as distilled (its best.ckpt), scored in the distillation run on the same images.
    distilled_teacher = {f"{key}/{name}": distill[f"teacher/{name}"] for key, names in
                         (("size", ("params", "megabytes")), ("test", ("mse", "psnr", "ssim"))) for name in names}
    rows = [{"model": name, "parameters": int(metrics["size/params"]),
             "safetensors (MB)": round(metrics["size/megabytes"], 2),
             "held-out MSE": round(metrics["test/mse"], 4), "PSNR (dB)": round(metrics["test/psnr"], 2),
             "SSIM": round(metrics["test/ssim"], 3), "training (s)": round(seconds),
             "encode+decode batch 1 (ms)": round(timing[0], 2) if timing else None,
             "batch 64 (ms)": round(timing[1], 1) if timing else None}
            for name, metrics, seconds, timing in (
                ("teacher (`vae`, its best.ckpt)", distilled_teacher, teacher_s, timings["teacher"]),
                ("student distilled (`tiny_vae_distill`)", distill, distill_s, timings["student"]),
                ("student alone (`tiny_vae`, ELBO only)", alone, alone_s, None))]
    note = (f"Student MSE / teacher MSE {mse_ratio:.3f} (wanted: at most {MSE_RATIO_TARGET}, "
            f"{'met' if mse_ratio <= MSE_RATIO_TARGET else 'NOT met'}); teacher / student parameters "
            f"{param_ratio:.1f}x (wanted: at least {PARAM_RATIO_TARGET:.0f}x, "
            f"{'met' if param_ratio >= PARAM_RATIO_TARGET else 'NOT met'}); file {distill['distill/size_ratio']:.1f}x "
            f"smaller; student latency {timings['teacher'][0] / timings['student'][0]:.1f}x lower at batch 1, "
            f"{timings['teacher'][1] / timings['student'][1]:.1f}x at batch 64 (bf16: {cpu_has_bf16()}, "
            f"{torch.get_num_threads()} threads).")
    report(args.out, "vae", f"VAE distillation (data={args.data})", rows, note)
    return 0
