"""Collect decision logs by running the agent in the simulator (the seeds' Phase 1, GPT-2 played by the
bootstrap teacher).

    python -m hrm.agent.collect --episodes 22 --steps 50 --seed 0 --out data/hrm_training_data.json

Deterministic: the same arguments give the same log. A `.json` log is written atomically at the end;
a `.jsonl` log grows an example at a time, and running the same command again after a kill continues
where it stopped.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Callable, Iterator

from rich.progress import track

from hrm.agent.collector import TrainingDataCollector
from hrm.agent.oracle import oracle_action
from hrm.agent.schema import ACTIONS
from hrm.agent.teacher import BootstrapTeacher
from hrm.agent.world import AgentWorld
from hrm.errors import UserError
from hrm.utils.cli import ArgumentParser, int_at_least, one_line_errors

POLICIES = ("teacher", "oracle", "random")


def make_policy(name: str, seed: int) -> Callable[[dict], tuple[str, float]]:
    """state -> (action, confidence)."""
    if name == "teacher":
        return BootstrapTeacher(seed).decide
    if name == "oracle":
        return lambda state: (oracle_action(state), 1.0)
    if name == "random":
        rng = random.Random(seed)
        return lambda state: (rng.choice(ACTIONS), round(1 / len(ACTIONS), 3))
    raise UserError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")


def episode_seed(seed: int, episode: int) -> int:
    return seed * 1_000_003 + episode


def run_episodes(episodes: int, steps: int, seed: int, policy: str = "teacher") -> Iterator[dict]:
    """Yield {state, action, result} for `episodes` fresh worlds of `steps` decisions each."""
    decide = make_policy(policy, seed)
    for episode in range(episodes):
        world = AgentWorld(episode_seed(seed, episode))
        for _ in range(steps):
            state = world.state()
            name, confidence = decide(state)
            action = world.action(name, confidence)
            result, _ = world.step(action)
            yield {"state": state, "action": action, "result": result}


def collect(out: str | Path, episodes: int, steps: int, seed: int, policy: str = "teacher",
            force: bool = False, progress: bool = True) -> Path:
    """Write the log to `out`; returns its path."""
    out = Path(out)
    if out.suffix not in (".json", ".jsonl"):
        raise UserError(f"{out}: the log must be a .json or .jsonl file")
    if out.suffix == ".json" and out.exists() and not force:
        raise UserError(f"{out}: exists; pass --force to replace it (or write to another file)")
    total = episodes * steps
    collector = TrainingDataCollector(out if out.suffix == ".jsonl" else None)
    already = len(collector)  # a .jsonl log from an interrupted run of the same command
    if already > total:
        raise UserError(f"{out}: already holds {already} examples, more than the {total} asked for")
    examples = run_episodes(episodes, steps, seed, policy)
    if progress:
        examples = track(examples, total=total, description=f"collecting {total} decisions")
    for index, example in enumerate(examples):
        if index >= already:
            collector.add_example(**example)
    if out.suffix == ".json":
        metadata = {"collected_by": "hrm.agent.collect", "episodes": episodes, "steps": steps, "seed": seed,
                    "policy": policy}
        collector.save(out, metadata)
    return out


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        p = ArgumentParser(prog="python -m hrm.agent.collect", description=__doc__.split("\n\n")[0])
        p.add_argument("--out", required=True, type=Path, help="the log to write (.json, or .jsonl to append)")
        p.add_argument("--episodes", type=int_at_least(1), default=22, help="fresh worlds (default: 22)")
        p.add_argument("--steps", type=int_at_least(1), default=50, help="decisions per episode (default: 50)")
        p.add_argument("--seed", type=int_at_least(0), default=0, help="(default: 0)")
        p.add_argument("--policy", choices=POLICIES, default="teacher", help="who decides (default: teacher)")
        p.add_argument("--force", action="store_true", help="replace an existing .json log")
        args = p.parse_args(argv)
        out = collect(args.out, args.episodes, args.steps, args.seed, args.policy, args.force)
        print(f"wrote {out}: {args.episodes * args.steps} examples from {args.episodes} episodes ({args.policy})")
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
