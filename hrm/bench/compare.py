"""HRM policy vs GPT-2+LoRA policy on the same data: accuracy, agreement, size and decision latency.

Both trained checkpoints decide on exactly the same inputs:
- the 100 validation scenarios (accuracy against the optimal action, beside the teacher's);
- the held-out episodes of the agent log, split as training split them (agreement with the teacher);
and each is timed deciding one state at a time (batch 1, median over --decisions scenario states, under the
bf16 autocast the CPU supports). The table is printed and written as the record <out>/compare.json.

    python train.py experiment=agent_imitation && python train.py experiment=agent_lora
    python -m hrm.bench compare
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from hrm.agent.policy import HRMPolicy, TextPolicy
from hrm.agent.scenarios import load_scenarios
from hrm.bench.record import add_out_argument, report
from hrm.bench.timing import median_ms
from hrm.data.agent_logs import AgentLogDataModule
from hrm.data.scenarios import SHIPPED_SCENARIOS, scenario_rows
from hrm.errors import UserError
from hrm.utils.cli import one_line_errors
from hrm.utils.resolvers import cpu_has_bf16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hrm", default="checkpoints/agent_imitation_hrm_agent/last.ckpt",
                        help="the HRM policy (experiment=agent_imitation; default: its last.ckpt)")
    parser.add_argument("--lora", default="checkpoints/agent_lora/last.ckpt",
                        help="the GPT-2+LoRA policy (experiment=agent_lora; default: its last.ckpt)")
    parser.add_argument("--log", default="data/hrm_training_data.json", help="the agent log both trained on")
    parser.add_argument("--seed", type=int, default=42, help="the run's seed, which split the log (default: 42)")
    parser.add_argument("--decisions", type=int, default=50, help="timed single decisions per policy")
    add_out_argument(parser, "compare")


@torch.no_grad()
def accuracy(policy: TextPolicy, rows: list[dict], key: str = "label", batch: int = 50) -> float:
    correct = 0
    for start in range(0, len(rows), batch):
        chunk = rows[start: start + batch]
        choice = policy.probabilities([row["text"] for row in chunk]).argmax(-1)
        correct += int((choice == torch.tensor([row[key] for row in chunk])).sum())
    return correct / len(rows)


def measure(name: str, policy: TextPolicy, scenarios: list[dict], heldout: list[dict], states: list[dict]) -> dict:
    total, trainable = policy.parameter_counts()
    return {"policy": name, "scenario accuracy": round(accuracy(policy, scenarios), 4),
            "held-out agreement": round(accuracy(policy, heldout), 4), "parameters": total, "trainable": trainable,
            "decision latency, batch 1 (ms)": round(median_ms(policy.decide, states), 1)}


def load_policies(args: argparse.Namespace) -> dict[str, TextPolicy]:
    from hrm.agent.lm_policy import LMPolicy

    for flag, path, experiment in (("--hrm", args.hrm, "agent_imitation"), ("--lora", args.lora, "agent_lora")):
        if not Path(path).is_file():
            raise UserError(f"{path}: no such checkpoint; train one first (python train.py experiment={experiment})"
                            f" or pass {flag}")
    return {"hrm": HRMPolicy.from_checkpoint(args.hrm), "gpt2_lora": LMPolicy.load(args.lora)}


def run(args: argparse.Namespace) -> int:
    def body() -> int:
        policies = load_policies(args)
        data = AgentLogDataModule(args.log, seed=args.seed)
        data.setup("fit")
        scenarios = scenario_rows(SHIPPED_SCENARIOS, teacher_seed=0)
        states = [s["state"] for s in load_scenarios(SHIPPED_SCENARIOS)][: args.decisions]
        rows = [measure(name, policy, scenarios, data.val_rows, states) for name, policy in policies.items()]
        teacher = sum(row["teacher_label"] == row["label"] for row in scenarios) / len(scenarios)
        rows.append({"policy": "teacher", "scenario accuracy": round(teacher, 4), "held-out agreement": 1.0,
                     "parameters": None, "trainable": None, "decision latency, batch 1 (ms)": None})
        hrm, lora = (row["decision latency, batch 1 (ms)"] for row in rows[:2])
        note = (f"Checkpoints {args.hrm} and {args.lora}; {len(scenarios)} scenarios, {len(data.val_rows)} held-out "
                f"decisions (the teacher agrees with itself by definition); GPT-2+LoRA / HRM latency {lora / hrm:.1f}x "
                f"(bf16: {cpu_has_bf16()}, {torch.get_num_threads()} threads).")
        report(args.out, "compare", "HRM policy vs GPT-2+LoRA on the same data", rows, note)
        return 0

    return one_line_errors(body)
