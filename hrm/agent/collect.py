"""Collect decision logs by running the agent in the simulator (the original agent's Phase 1, GPT-2 played by the
bootstrap teacher).

    python -m hrm.agent.collect --episodes 22 --steps 50 --seed 0 --out data/hrm_training_data.json
    python -m hrm.agent.collect --teacher gpt2 --lm gpt2 --out data/gpt2_decisions.json   # GPT-2 decides
    python -m hrm.agent.collect --policy optimal --out data/optimal_decisions.json         # the planner decides

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
from hrm.agent.planner import planner
from hrm.agent.schema import ACTIONS
from hrm.agent.teacher import BootstrapTeacher
from hrm.agent.world import AgentWorld
from hrm.errors import UserError
from hrm.utils.cli import ArgumentParser, check_replaceable, int_at_least, one_line_errors
from hrm.utils.files import read_json
from hrm.utils.io import atomic_write_json

COLLECTED_BY = "hrm.agent.collect"  # in every log's settings: what --force may replace
POLICIES = ("teacher", "oracle", "optimal", "random")
TEACHERS = ("bootstrap", "gpt2")


def make_policy(name: str, seed: int, steps: int, teacher: str = "bootstrap",
                lm: str = "gpt2") -> Callable[[dict], tuple[str, float]]:
    """state -> (action, confidence). The teacher is the bootstrap heuristic, or (teacher="gpt2") the causal
    LM `lm` scoring the action strings, as the original agent's GPT-2 decided. `optimal` plans for episodes
    of `steps` decisions."""
    if name == "teacher" and teacher == "gpt2":
        from hrm.agent.lm_policy import LMPolicy  # transformers loads only when asked for

        policy = LMPolicy.load(lm)

        def decide(state: dict) -> tuple[str, float]:
            decision = policy.decide(state)
            return decision["action"], decision["confidence"]

        return decide
    if teacher not in TEACHERS:
        raise UserError(f"unknown teacher {teacher!r} (known: {', '.join(TEACHERS)})")
    if name == "teacher":
        return BootstrapTeacher(seed).decide
    if name == "oracle":
        return lambda state: (oracle_action(state), 1.0)
    if name == "optimal":
        return lambda state: (planner(steps).action(state), 1.0)
    if name == "random":
        rng = random.Random(seed)
        return lambda state: (rng.choice(ACTIONS), round(1 / len(ACTIONS), 3))
    raise UserError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")


def episode_seed(seed: int, episode: int) -> int:
    return seed * 1_000_003 + episode


def run_episodes(episodes: int, steps: int, seed: int, policy: str = "teacher", teacher: str = "bootstrap",
                 lm: str = "gpt2") -> Iterator[dict]:
    """{state, action, result} for `episodes` fresh worlds of `steps` decisions each, one at a time (the
    policy is made first, so a model that cannot load fails before anything is collected)."""
    decide = make_policy(policy, seed, steps, teacher, lm)

    def play() -> Iterator[dict]:
        for episode in range(episodes):
            world = AgentWorld(episode_seed(seed, episode))
            for _ in range(steps):
                state = world.state()
                name, confidence = decide(state)
                action = world.action(name, confidence)
                result, _ = world.step(action)
                yield {"state": state, "action": action, "result": result}

    return play()


def collect(out: str | Path, episodes: int, steps: int, seed: int, policy: str = "teacher",
            force: bool = False, progress: bool = True, teacher: str = "bootstrap", lm: str = "gpt2") -> Path:
    """Write the log to `out`; returns its path."""
    out = Path(out)
    if out.suffix not in (".json", ".jsonl"):
        raise UserError(f"{out}: the log must be a .json or .jsonl file")
    settings = {"collected_by": COLLECTED_BY, "episodes": episodes, "steps": steps, "seed": seed, "policy": policy}
    if policy == "teacher" and teacher != "bootstrap":
        settings.update(teacher=teacher, lm=str(lm))
    if out.suffix == ".json":
        check_replaceable(out, force, written_by_collect, "a log written by hrm.agent.collect")
    else:
        check_continuation(out, settings)
    total = episodes * steps
    collector = TrainingDataCollector(out if out.suffix == ".jsonl" else None)
    already = len(collector)  # a .jsonl log from an interrupted run of the same command
    if already > total:
        raise UserError(f"{out}: already holds {already} examples, more than the {total} asked for")
    examples = run_episodes(episodes, steps, seed, policy, teacher, lm)
    if progress:
        examples = track(examples, total=total, description=f"collecting {total} decisions")
    for index, example in enumerate(examples):
        if index >= already:
            collector.add_example(**example)
    if out.suffix == ".json":
        collector.save(out, settings)
    return out


def settings_file(log: Path) -> Path:
    """Beside a `.jsonl` log: the settings it is being collected with, so a rerun continues only the same
    collection."""
    return log.with_name(log.name + ".settings.json")


def check_continuation(log: Path, settings: dict) -> None:
    """A `.jsonl` log grows only with the collection it was started with (a rerun after a kill); a new log
    records its settings first."""
    if log.exists() and (not log.is_file() or log.stat().st_size > 0):
        recorded = settings_file(log)
        if not recorded.is_file():
            raise UserError(f"{log}: holds decisions this command did not start (no {recorded.name}); not adding"
                            " to it (write to another file)")
        saved = read_json(recorded, "collection settings file")
        if saved != settings:
            differ = sorted(k for k in {*settings, *(saved if isinstance(saved, dict) else {})}
                            if not isinstance(saved, dict) or saved.get(k) != settings.get(k))
            shown = ", ".join(f"{k}={saved.get(k) if isinstance(saved, dict) else None!r} there, {settings.get(k)!r}"
                              f" here" for k in differ)
            raise UserError(f"{log}: collected with other settings ({shown}); rerun with the same settings to"
                            " continue it, or write to another file")
        return
    atomic_write_json(settings_file(log), settings)


def written_by_collect(path: Path) -> bool:
    try:
        data = read_json(path, "decision log")
    except UserError:
        return False
    metadata = data.get("metadata") if isinstance(data, dict) else None
    return isinstance(metadata, dict) and metadata.get("collected_by") == COLLECTED_BY


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        p = ArgumentParser(prog="python -m hrm.agent.collect", description=__doc__.split("\n\n")[0])
        p.add_argument("--out", required=True, type=Path, help="the log to write (.json, or .jsonl to append)")
        p.add_argument("--episodes", type=int_at_least(1), default=22, help="fresh worlds (default: 22)")
        p.add_argument("--steps", type=int_at_least(1), default=50, help="decisions per episode (default: 50)")
        p.add_argument("--seed", type=int_at_least(0), default=0, help="(default: 0)")
        p.add_argument("--policy", choices=POLICIES, default="teacher",
                       help="who decides: the teacher, the oracle (best next decision), optimal (the planner: best"
                            " rest of the episode of --steps decisions) or random (default: teacher)")
        p.add_argument("--teacher", choices=TEACHERS, default="bootstrap",
                       help="the teacher policy: the bootstrap heuristic, or gpt2, a causal LM scoring the"
                            " action strings (default: bootstrap)")
        p.add_argument("--lm", default="gpt2", help="--teacher gpt2's model: a hub name, a local dir, or a"
                       " GPT-2+LoRA .ckpt (default: gpt2)")
        p.add_argument("--force", action="store_true", help="replace an existing .json log")
        args = p.parse_args(argv)
        out = collect(args.out, args.episodes, args.steps, args.seed, args.policy, args.force,
                      teacher=args.teacher, lm=args.lm)
        who = args.lm if args.policy == "teacher" and args.teacher == "gpt2" else args.policy
        print(f"wrote {out}: {args.episodes * args.steps} examples from {args.episodes} episodes ({who})")
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
