"""Learning check: train the HRM, TRM and a plain transformer for the same CPU wall budget on the same
puzzles, then report held-out exact accuracy against the number of segments used.

`python -m hrm.bench learn --task sudoku6 --budget 300` composes each model's experiment for the task
(EXPERIMENTS below: e.g. experiment=sudoku6_trm, the task with the TRM at its shape for it), trains
through the real Lightning Trainer until
`--budget` seconds of training have passed (Lightning's `max_time`; compiling counts, data generation and
evaluation do not; the experiments' cosine learning rate decays over that budget), and evaluates the
test set: every row runs k = 1..halt_max_steps segments ("exact after k"), and once more
stopping where its halting head says so ("ACT", at the experiment's `act.eval_halt_confidence`). Exact means
solved by the task's rule (Sudoku: a valid grid keeping the givens). One table, also written as the record
experiments/bench/learn_<task>.json; and the halting curve, learn_<task>_halting.json: for each model and
each halting confidence in HALT_CONFIDENCES, the exact accuracy and the segments used if every row stopped
once its head is that sure, and an oracle row: each row stopped at its first right answer (at once if none
comes), the fewest segments any halting rule could use for those answers. A run with overrides
(`data.size=11`: 11x11 mazes) is named apart with `--tag 11x11`: records learn_maze_11x11*.json, titled
"maze (11x11)".
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import hydra
import lightning as L
import torch

from hrm.bench.record import add_out_argument, report
from hrm.console import silence_expected_warnings
from hrm.evaluation.halting import SegmentCurve, confident_stops, oracle_stops
from hrm.training import bind_model_to_data, count_parameters
from hrm.utils.compose import compose_train_config

# Each task's experiment for each model (configs/experiment/<name>.yaml).
EXPERIMENTS = {
    "sudoku6": {"hrm": "sudoku6", "trm": "sudoku6_trm", "transformer": "sudoku6_transformer"},
    "sudoku9": {"hrm": "sudoku9", "trm": "sudoku9_trm", "transformer": "sudoku9_transformer"},
    "maze": {"hrm": "maze", "trm": "maze_trm", "transformer": "maze_transformer"},
    "sudoku_hard": {"hrm": "sudoku_hard", "trm": "sudoku_hard_trm", "transformer": "sudoku_hard_transformer"},
}
TASKS = tuple(EXPERIMENTS)
MODELS = ("hrm", "trm", "transformer")
HALT_CONFIDENCES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
ORACLE = "oracle"  # the halting curve's last row: a rule that knows the answers (halting.oracle_stops)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=TASKS, default="sudoku6")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per model")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, of " + ", ".join(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", type=tag_name, default=None,
                        help="names a run with overrides apart: records learn_<task>_<tag>.json, titled with it")
    add_out_argument(parser, "learn_<task>")
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every model, key=value")


def tag_name(text: str) -> str:
    """--tag becomes part of a file name: letters, digits, '-' and '_' only."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", text):
        raise argparse.ArgumentTypeError(f"{text!r}: use 1 to 40 letters, digits, '-' or '_'")
    return text


def evaluate(module, loader, precision: str) -> dict:
    """Exact accuracy after each number of segments, with ACT halting as the model is configured (its mean
    segments too), and the halting curve over HALT_CONFIDENCES."""
    autocast = torch.autocast("cpu", torch.bfloat16, enabled=precision.startswith("bf16"))
    by_segment, q_halt, act_exact, act_steps = [], [], [], []
    fixed = module.act_config
    module.act_config = dataclasses.replace(fixed, eval_halting=True)  # every segment still runs: one pass gives all
    module.eval()
    with torch.no_grad(), autocast:
        for batch in loader:
            run = module.run_to_halt(batch)
            by_segment.append(run.exact_by_segment)
            q_halt.append(run.q_halt_by_segment.float())
            act_exact.append(run.rows.exact.float())
            act_steps.append(run.rows.steps.float())
    module.act_config = fixed
    correct, q_halt = torch.cat(by_segment).numpy(), torch.cat(q_halt).numpy()
    stops = [(p, confident_stops(q_halt, p)) for p in HALT_CONFIDENCES] + [(ORACLE, oracle_stops(correct))]
    curve = [(p, SegmentCurve(correct, halted_at)) for p, halted_at in stops]
    return {"exact_after_segments": [round(float(v), 4) for v in correct.mean(0)],
            "exact_act": round(float(torch.cat(act_exact).mean()), 4),
            "mean_segments_act": round(float(torch.cat(act_steps).mean()), 2),
            "halting_curve": [(p, round(c.halted_accuracy, 4), round(c.mean_segments, 2)) for p, c in curve],
            "eval_halt_confidence": fixed.eval_halt_confidence,
            "test_puzzles": len(correct)}


def train_one(task: str, model: str, budget: float, seed: int, overrides: list[str], root: Path) -> dict:
    data_dir = Path(os.environ.get("HRM_ROOT", ".")).resolve() / "data"  # generated puzzles are cached there
    cfg = compose_train_config([f"experiment={EXPERIMENTS[task][model]}", f"seed={seed}", "logger=none",
                                f"paths.data_dir={data_dir}", *overrides], root)
    L.seed_everything(seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    bind_model_to_data(cfg.model, datamodule)
    module = hydra.utils.instantiate(cfg.model)
    total, _ = count_parameters(module)
    trainer = hydra.utils.instantiate(
        cfg.trainer, max_steps=-1, max_epochs=-1, max_time=timedelta(seconds=budget), limit_val_batches=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=str(root), callbacks=[])
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    seconds = time.perf_counter() - start
    figures = evaluate(module, datamodule.test_dataloader(), str(trainer.precision))
    return {"model": model, "params": total, "steps": trainer.global_step,
            "samples_per_s": round(trainer.global_step * datamodule.batch_size / seconds, 1),
            "train_seconds": round(seconds, 1), **figures}


def record_rows(rows: list[dict]) -> list[dict]:
    """One table row per model; a model that runs fewer segments has empty cells after its last."""
    segments = max(len(r["exact_after_segments"]) for r in rows)
    return [{"model": r["model"], "parameters": r["params"], "steps": r["steps"], "training (s)": r["train_seconds"],
             "samples/s": r["samples_per_s"],
             **{f"exact after {k}": (r["exact_after_segments"][k - 1] if k <= len(r["exact_after_segments"]) else None)
                for k in range(1, segments + 1)},
             "ACT exact": r["exact_act"], "ACT mean segments": r["mean_segments_act"],
             "ACT halting confidence": r["eval_halt_confidence"] or "training rule"} for r in rows]


def halting_rows(rows: list[dict]) -> list[dict]:
    """The halting curve: per model and confidence, exact accuracy, the share of segments used, and the
    points lost against running every segment."""
    table = []
    for r in rows:
        segments, every = len(r["exact_after_segments"]), r["exact_after_segments"][-1]
        for confidence, exact, mean_segments in r["halting_curve"]:
            table.append({"model": r["model"], "halting confidence": confidence, "exact": exact,
                          "mean segments": mean_segments, "share of segments": round(mean_segments / segments, 3),
                          "points below all segments": round(100 * (every - exact), 1)})
    return table


def run(args: argparse.Namespace) -> int:
    silence_expected_warnings()
    name = f"learn_{args.task}" + (f"_{args.tag}" if args.tag else "")
    root = Path(args.out) / name
    rows = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        if model not in MODELS:
            raise SystemExit(f"error: --models: {model!r} is not one of {', '.join(MODELS)}")
        rows.append(train_one(args.task, model, args.budget, args.seed, args.overrides, root / model))
        print(f"{model}: {rows[-1]}", flush=True)
    task = args.task + (f" ({args.tag})" if args.tag else "")
    title = f"Learning: {task}, {args.budget:.0f} s of training per model"
    note = (f"Held-out exact accuracy over {rows[0]['test_puzzles']} puzzles after each number of segments, and "
            f"stopping where the halting head says (ACT); seed {args.seed}.")
    report(args.out, name, title, record_rows(rows), note)
    report(args.out, f"{name}_halting", f"Halting: {task}, exact accuracy against segments used",
           halting_rows(rows), f"Each row: every test puzzle stops at the first segment where the halting head's "
           f"sigmoid(q_halt) reaches the confidence (else at the last); {ORACLE}: at its first right answer (at "
           f"once if none comes), the fewest segments any halting rule could use; {rows[0]['test_puzzles']} "
           f"puzzles; the models of {title.lower()}.")
    return 0
