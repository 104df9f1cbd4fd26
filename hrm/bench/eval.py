"""ARC evaluation throughput on this CPU (augmented variants per second) with the arc_tiny model.

Runs the real test stage (every held-out test input in all its augmented variants, all segments,
voting, scoring, files) through the Lightning Trainer, with the weights of checkpoints/arc_tiny/last.ckpt
when there is one (else a fresh model: the speed is the same), and times it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import hydra
import lightning as L
import torch

from hrm.bench.record import add_out_argument, save_record
from hrm.console import silence_expected_warnings
from hrm.training import bind_model_to_data
from hrm.utils.checkpoints import check_compatible, read_checkpoint
from hrm.utils.compose import compose_train_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--test-num-aug", type=int, default=None,
                        help="variants per test input beside identity (default: all, as trained)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ckpt", default="checkpoints/arc_tiny/last.ckpt")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (the best is reported)")
    add_out_argument(parser, "eval")
    parser.add_argument("overrides", nargs="*", help="config overrides, key=value (e.g. debug=tiny: the model "
                                                       "`make train ARGS=debug=tiny` trained)")


def run(args: argparse.Namespace) -> int:
    silence_expected_warnings()
    with tempfile.TemporaryDirectory() as root:
        overrides = ["experiment=arc_tiny", "logger=none", f"data.eval_batch_size={args.batch_size}",
                     "callbacks.arc_evaluation.pictures=0", *args.overrides]
        if args.test_num_aug is not None:
            overrides.append(f"data.test_num_aug={args.test_num_aug}")
        cfg = compose_train_config(overrides, root)
        L.seed_everything(cfg.seed)
        datamodule = hydra.utils.instantiate(cfg.data)
        datamodule.setup("fit")
        bind_model_to_data(cfg.model, datamodule)
        model = hydra.utils.instantiate(cfg.model)
        weights = "random weights"
        if Path(args.ckpt).is_file():
            checkpoint = read_checkpoint(args.ckpt)
            check_compatible(args.ckpt, checkpoint, model)
            model.load_state_dict(checkpoint["state_dict"])
            weights = args.ckpt
        callbacks = [hydra.utils.instantiate(cfg.callbacks.arc_evaluation)]
        trainer = L.Trainer(accelerator="cpu", devices=1, precision=cfg.trainer.precision, logger=False,
                            enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)
        samples = len(datamodule.test_dataset)
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            metrics = trainer.test(model, datamodule=datamodule, verbose=False)[0]
            best = min(best, time.perf_counter() - start)

    segments = cfg.model.act.halt_max_steps
    print(f"ARC evaluation, arc_tiny model ({weights}), precision {cfg.trainer.precision}, "
          f"{torch.get_num_threads()} threads, batch {args.batch_size}, {segments} segments per variant")
    print(f"  tasks / variants      {int(metrics['arc/num_tasks'])} / {samples}")
    print(f"  evaluation time       {best:8.2f} s (best of {args.repeats}; voting, scoring and files included)")
    print(f"  throughput            {samples / best:8.1f} augmented variants/s")
    print(f"  pass@2                {metrics['arc/pass@2']:8.4f}")
    rows = [{"weights": weights, "precision": cfg.trainer.precision, "tasks": int(metrics["arc/num_tasks"]),
             "variants": samples, "segments": segments, "time (s)": round(best, 2),
             "variants/s": round(samples / best, 1), "pass@2": round(metrics["arc/pass@2"], 4)}]
    path = save_record(args.out, "eval", "ARC evaluation throughput (arc_tiny model)", rows)
    print(f"  record                {path}")
    return 0
