"""An ARC Prize submission within a total time budget, on a machine without network (as on Kaggle).

The budget is spent in order, and a complete `submission.json` exists from the first seconds on:

1. every test input gets a best guess at once (its own input grid, for both attempts), written atomically;
2. the tasks the model trained on are answered (augmented variants, votes), one at a time, the file
   rewritten after each; before a task starts, the time the slowest one so far took must still fit
   before the deadline, else it keeps its best guess;
3. the model adapts to the tasks it never trained on (test-time adaptation) for at most `adapt_share` of
   what is left, and never into the time answering them needs (twice the slowest task each; without a
   known task, one new task is answered unadapted first to time it);
4. the new tasks are answered as in 2.

Every step is logged with the seconds elapsed, to the screen and to `<submission>.log`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import lightning as L
import numpy as np
import torch

from hrm.data.arc_tasks import ARCTask
from hrm.evaluation.scoring import write_submission
from hrm.evaluation.voting import Prediction, vote
from hrm.predict.adapt import AdaptSettings, adapted_alongside
from hrm.predict.arc import (
    UNSEEN_NUM_AUG,
    UNSEEN_SEED,
    ARCPredictionData,
    by_task,
    canvas_of,
    check_canvas,
    input_variants,
    trained_table,
    trained_variants,
)
from hrm.utils.io import atomic_write_text

MARGIN_S = 5.0  # kept back for the last write and the process's exit


@dataclass
class Budget:
    seconds: float
    adapt_share: float = 0.8  # of the time left after answering the known tasks, at most, for adapting
    variants: int | None = 8  # augmented variants beside identity per test input (None: as trained)
    adapt: AdaptSettings | None = None  # None: no adaptation


class Log:
    def __init__(self, path: Path, start: float):
        self.path, self.start, self.lines = path, start, []

    def __call__(self, text: str) -> None:
        line = f"[{time.monotonic() - self.start:7.1f} s] {text}"
        print(line, flush=True)
        self.lines.append(line)
        atomic_write_text(self.path, "\n".join(self.lines) + "\n")


def best_guesses(tasks: list[ARCTask]) -> dict:
    """Each test input's own grid, twice: the guess that stands until the model answers."""
    return {(task.id, j): [inp, inp] for task in tasks for j, (inp, _) in enumerate(task.test)}


def answer(module, tasks: list[ARCTask], variants, canvas: int, precision: str, batch_size: int) -> dict:
    """Two attempts per test input of `tasks`, voted over their variants."""
    data = ARCPredictionData(tasks, variants, canvas, batch_size)
    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    predictions = []
    for batch, out in zip(data.test_dataloader(), trainer.predict(module, dataloaders=data.test_dataloader())):
        tokens, q_halt = out["predictions"].numpy().astype(np.uint8), out["q_halt"].float().numpy()
        for row, sample in enumerate(batch["sample_index"].tolist()):
            task_id, test_index, augmentation, _ = data.describe("test", sample)
            predictions.append(Prediction(task_id, test_index, augmentation, tokens[row], float(q_halt[row]),
                                          int(out["steps"][row])))
    answers = {}
    for (task_id, j), candidates in vote(predictions, canvas).items():
        if candidates:  # no answer at all from any variant: the best guess stays
            guess = next(inp for task in tasks if task.id == task_id for k, (inp, _) in enumerate(task.test) if k == j)
            answers[(task_id, j)] = ([c.grid for c in candidates[:2]] + [guess])[:2]
    return answers


class Answering:
    """Tasks answered one at a time into the submission, each only while the slowest so far still fits."""

    def __init__(self, attempts: dict, out: Path, deadline: float, canvas: int, precision: str, batch_size: int,
                 variants: int | None, num_aug: int, seed: int):
        self.attempts, self.out, self.deadline, self.canvas = attempts, out, deadline, canvas
        self.precision, self.batch_size, self.variants, self.num_aug, self.seed = \
            precision, batch_size, variants, num_aug, seed
        self.slowest, self.answered = 0.0, set()

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def __call__(self, module, tasks: list[ARCTask], known: dict) -> int:
        done = 0
        with torch.no_grad():
            for task in tasks:
                if self.time_left() < self.slowest:
                    break
                began = time.monotonic()
                variants = input_variants([task], known, self.variants, self.num_aug, self.seed)
                self.attempts.update(answer(module, [task], variants, self.canvas, self.precision, self.batch_size))
                write_submission(self.out, self.attempts)
                self.answered.add(task.id)
                done += 1
                self.slowest = max(self.slowest, time.monotonic() - began)
        return done


def submit(module, checkpoint: dict, ckpt: str, tasks: list[ARCTask], out: Path, budget: Budget, precision: str,
           batch_size: int, start: float) -> dict:
    """Writes `out` (submission.json) and `out`.log within `budget.seconds` of `start`; returns a summary."""
    log = Log(out.with_suffix(".log"), start)
    tasks = [replace(task, test=[(inp, None) for inp, _ in task.test]) for task in tasks]  # answers unseen
    attempts = best_guesses(tasks)
    write_submission(out, attempts)
    log(f"{len(tasks)} tasks, {len(attempts)} test inputs: best guesses written to {out}")
    canvas = canvas_of(module, ckpt)
    check_canvas(tasks, canvas)
    table, origin = trained_table(checkpoint, ckpt)
    known = trained_variants(tasks, table)
    new = [task for task in tasks if task.id not in known]
    log(f"model: {origin}; {len(known)} of the tasks trained on, {len(new)} new")
    num_aug, seed = (table.num_aug, table.seed) if table else (UNSEEN_NUM_AUG, UNSEEN_SEED)
    answering = Answering(attempts, out, start + budget.seconds - MARGIN_S, canvas, precision, batch_size,
                          budget.variants, num_aug, seed)
    # The tasks it trained on first: they need no adapting, and they tell how long answering a task takes.
    answering(module, [task for task in tasks if task.id in known], known)
    if new and budget.adapt is not None:
        if not answering.slowest:  # nothing answered yet: one new task, unadapted, to time it
            answering(module, new[:1], known)
        # Adapting may take what answering the new tasks (twice the slowest time each) leaves, up to its share.
        seconds = min(budget.adapt_share * answering.time_left(),
                      answering.time_left() - 2 * answering.slowest * len(new))
        if seconds > 1:
            module, adapted, steps = adapted_alongside(module, new, canvas, replace(budget.adapt, seconds=seconds),
                                                       precision, False)
            known.update(by_task(new, adapted))
            log(f"adapted to the {len(new)} new tasks: {steps} steps in at most {seconds:.0f} s")
            answering.answered -= {task.id for task in new}
    answering(module, [task for task in new if task.id not in answering.answered], known)
    left = len(tasks) - len(answering.answered)
    log(f"answered {len(answering.answered)} of {len(tasks)} tasks (the slowest took {answering.slowest:.1f} s)"
        + (f"; out of time: {left} keep their best guess" if left else ""))
    log(f"done: {out} complete, {time.monotonic() - start:.1f} s of the {budget.seconds:.0f} s budget")
    return {"tasks": len(tasks), "answered": len(answering.answered), "seconds": time.monotonic() - start}
