"""Test-time adaptation on ARC tasks a model never saw: pass@2 without adapting, adapting a fresh model of the
same shape (from scratch), and adapting the trained one, with the minutes per task.

    python -m hrm.bench adapt --ckpt checkpoints/arc_tiny/last.ckpt --tasks 10 --steps 300

The tasks are the first `--tasks` ARC-AGI-1 evaluation tasks (by id) whose grids fit the model's canvas;
each setting adapts once on all their demonstrations together (hrm/predict/adapt.py), then answers every
test input in `--variants` + 1 augmented variants, voted (hrm/predict/offline.py's `answer`). The test
outputs only score. Each setting's demonstrations are answered the same way, as if they were test inputs:
how well adapting fitted what it trained on, beside how well that carried over to the tests.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from hrm.bench.record import add_out_argument, report
from hrm.console import quiet_third_parties, silence_expected_warnings
from hrm.data.arc_tasks import load_arc_tasks
from hrm.evaluation.scoring import pass_at_k, truths_from_tasks
from hrm.load import model_from_checkpoint
from hrm.predict.adapt import AdaptSettings, adapt
from hrm.predict.arc import UNSEEN_NUM_AUG, UNSEEN_SEED, by_task, canvas_of, input_variants
from hrm.predict.offline import answer
from hrm.utils.checkpoints import read_checkpoint
from hrm.utils.resolvers import cpu_precision

SETTINGS = ("no adaptation", "adapted from scratch", "adapted from the checkpoint")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", default="checkpoints/arc_tiny/last.ckpt", help="an ARC model (default: make train's)")
    parser.add_argument("--tasks", type=int, default=10, help="held-out ARC-AGI-1 evaluation tasks")
    parser.add_argument("--steps", type=int, default=300, help="adaptation steps")
    parser.add_argument("--num-aug", type=int, default=8, help="augmented variants per task to adapt on")
    parser.add_argument("--variants", type=int, default=8, help="variants per test input beside identity")
    parser.add_argument("--batch-size", type=int, default=16, help="adaptation batch")
    add_out_argument(parser, "adapt")


def run(args: argparse.Namespace) -> int:
    silence_expected_warnings()
    quiet_third_parties(verbose=False)
    checkpoint, precision = read_checkpoint(args.ckpt), cpu_precision()
    canvas = canvas_of(model_from_checkpoint(checkpoint, args.ckpt), args.ckpt)
    _, evaluation = load_arc_tasks("arc-agi-1")
    tasks = [task for task in evaluation if task.max_side() <= canvas][: args.tasks]
    truths = truths_from_tasks(tasks)
    demonstrations = [replace(task, test=task.train) for task in tasks]  # same ids: the same variants
    demonstration_truths = truths_from_tasks(demonstrations)
    settings = AdaptSettings(steps=args.steps, num_aug=args.num_aug, batch_size=args.batch_size)
    rows = []
    for name in SETTINGS:
        module = model_from_checkpoint(checkpoint, args.ckpt, weights=name != SETTINGS[1])
        start, steps, known = time.perf_counter(), 0, {}
        if name != SETTINGS[0]:
            adapted, steps = adapt(module, tasks, canvas, settings, precision, progress=False)
            known = by_task(tasks, adapted)
        variants = input_variants(tasks, known, args.variants, UNSEEN_NUM_AUG, UNSEEN_SEED)
        attempts = answer(module, tasks, variants, canvas, precision, 64)
        minutes = (time.perf_counter() - start) / 60  # adapting and answering the tests: what a user waits
        variants = input_variants(demonstrations, known, args.variants, UNSEEN_NUM_AUG, UNSEEN_SEED)
        fitted = answer(module, demonstrations, variants, canvas, precision, 64)
        rows.append({"setting": name, "pass@2": round(pass_at_k(attempts, truths, 2), 4),
                     "demonstrations pass@2": round(pass_at_k(fitted, demonstration_truths, 2), 4),
                     "adaptation steps": steps, "minutes per task": round(minutes / len(tasks), 3)})
        print(f"{name}: {rows[-1]}", flush=True)
    note = (f"{len(tasks)} ARC-AGI-1 evaluation tasks with grids of at most {canvas}x{canvas} "
            f"({', '.join(t.id for t in tasks)}), {len(truths)} test outputs and {len(demonstration_truths)} "
            f"demonstrations, ARC Prize rule; model {args.ckpt}; "
            f"adaptation: {args.num_aug} augmentations per task, batch {args.batch_size}; {args.variants} + 1 "
            f"variants voted per test input.")
    report(args.out, "adapt", f"Test-time adaptation on {len(tasks)} unseen ARC tasks", rows, note)
    return 0
