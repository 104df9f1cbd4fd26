"""RL fine-tuning on this CPU: the policy's mean episode reward against the teacher's and the oracle's.

1. Trains the imitation policy (`experiment=agent_imitation`, --imitation-epochs) in a temporary folder,
   unless --init names an imitation checkpoint.
2. Runs `experiment=agent_rl` from it for --budget seconds of wall time (Lightning's max_time), recording
   the validation mean reward over time, then its test stage: 200 held-out episodes played by the RL
   policy, the imitation policy, the teacher, the oracle and the planner's optimum (the ceiling).
3. Prints one table of mean episode rewards and the ratios the issue asks for.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from hrm.agent.rollout import fixed_policy, play
from hrm.bench.record import add_out_argument, report
from hrm.data.agent_episodes import VAL_SEEDS_START
from hrm.training import run as run_training
from hrm.utils.compose import compose_train_config
from hrm.utils.resolvers import cpu_has_bf16

QUIET = ["logger=none", "trainer.enable_progress_bar=false", "~callbacks.progress_bar"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=int, default=600, help="seconds of RL training (default: 600)")
    parser.add_argument("--init", help="an imitation checkpoint (default: train one first)")
    parser.add_argument("--imitation-epochs", type=int, default=20)
    add_out_argument(parser, "rl")
    parser.add_argument("overrides", nargs="*",
                        help="Hydra overrides for the RL run, e.g. model.optimizer.lr=3e-5 (debug=tiny: the imitation too)")


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as root:
        init, imitation_seconds = args.init, 0.0
        if init is None:
            start = time.perf_counter()
            cfg = compose_train_config(["experiment=agent_imitation", *QUIET,
                                        f"trainer.max_epochs={args.imitation_epochs}",
                                        *(o for o in args.overrides if o.startswith("debug="))], root,
                                       run_dir="runs/imitation")
            run_training(cfg)
            imitation_seconds = time.perf_counter() - start
            init = str(Path(cfg.paths.ckpt_dir) / "last.ckpt")
        timeline = Path(root) / "timeline.json"
        hours, rest = divmod(args.budget, 3600)
        cfg = compose_train_config(
            ["experiment=agent_rl", *QUIET, f"model.init_from={init}", "trainer.max_epochs=1000",
             f"trainer.max_time=00:{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
             "+callbacks.timeline._target_=hrm.bench.timing.ValidationTimeline",
             f"+callbacks.timeline.path={timeline}", "+callbacks.timeline.metric=val/mean_reward", *args.overrides],
            root, run_dir="runs/rl")
        start = time.perf_counter()
        metrics = run_training(cfg)
        rl_seconds = time.perf_counter() - start
        rows = json.loads(timeline.read_text()) if timeline.is_file() else []
        val_seeds = range(VAL_SEEDS_START, VAL_SEEDS_START + cfg.data.val_episodes)
        val_teacher = play(val_seeds, cfg.data.steps, fixed_policy("teacher", val_seeds, cfg.data.steps)).mean_reward()

    teacher = metrics["rl/teacher_mean_reward"]
    print(f"\nRL fine-tuning, budget {args.budget} s (bf16: {cpu_has_bf16()}, {torch.get_num_threads()} threads)")
    if imitation_seconds:
        print(f"  imitation first: {args.imitation_epochs} epochs, {imitation_seconds:.0f} s")
    print(f"  RL run (start-up, training, test): {rl_seconds:.0f} s, {int(metrics['trainer/global_step'])} updates")
    optimal = metrics["rl/optimal_mean_reward"]
    record = []
    for name, prefix in (("RL policy (final weights)", "rl/"),
                         ("imitation policy (start of RL)", "rl/imitation_"),
                         ("teacher (logs' decision maker)", "rl/teacher_"),
                         ("oracle (best next decision)", "rl/oracle_"),
                         ("optimal (planner, best rest of episode)", "rl/optimal_")):
        reward, segments = metrics[f"{prefix}mean_reward"], metrics.get(f"{prefix}segments")
        record.append({"policy": name, "mean episode reward": round(reward, 2), "x teacher": round(reward / teacher, 3),
                       "x optimal": round(reward / optimal, 3),
                       "segments per decision": None if segments is None else round(segments, 3)})
    print(f"\n  validation (greedy, {cfg.data.val_episodes} episodes; teacher there {val_teacher:.2f}):")
    for row in rows:
        print(f"    epoch {row['epoch']:>3}  {row['seconds']:6.0f} s  {row['value']:.2f}  "
              f"({row['value'] / val_teacher:.3f}x teacher)")
    title = f"RL fine-tuning ({cfg.data.test_episodes} held-out episodes of {cfg.data.steps} decisions)"
    first = f"Imitation first: {args.imitation_epochs} epochs, {imitation_seconds:.0f} s. " if imitation_seconds else ""
    note = (f"{first}Budget {args.budget} s, {int(metrics['trainer/global_step'])} updates; RL / optimal "
            f"{metrics['rl/over_optimal']:.3f}, RL / oracle {metrics['rl/over_oracle']:.3f}, RL / teacher "
            f"{metrics['rl/over_teacher']:.3f}; segments: the greedy policy's mean per decision; scenarios: imitation "
            f"{metrics.get('scenarios/imitation_accuracy', float('nan')):.2f} -> "
            f"RL {metrics['scenarios/hrm_accuracy']:.2f}.")
    report(args.out, "rl", title, record, note)
    return 0
