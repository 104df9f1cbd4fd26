"""Validation scenarios: agent states with the action that is best in them (the original design's validation set).

    {"scenarios": [{"id": "s001", "state": {...}, "optimal_action": "web_search", "rationale": "..."}]}

`data/validation_scenarios.json` ships 100 of them, 25 per action, made by

    python -m hrm.agent.scenarios --out data/validation_scenarios.json

which samples states from simulator episodes (half the decisions random, so that rare situations come
up), labels each with the oracle and writes every action's expected reward as the rationale.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from hrm.agent.oracle import explain, oracle_action
from hrm.agent.schema import ACTIONS, check_fields, validate_state
from hrm.agent.teacher import BootstrapTeacher
from hrm.agent.text import state_to_text
from hrm.agent.world import AgentWorld
from hrm.errors import DataFormatError, UserError
from hrm.utils.cli import ArgumentParser, check_replaceable, int_at_least, one_line_errors
from hrm.utils.files import read_json
from hrm.utils.io import atomic_write_text

SCENARIO_FIELDS = {"id": (str, False), "state": (dict, True), "optimal_action": (str, True),
                   "rationale": (str, False)}


def load_scenarios(path: str | Path) -> list[dict]:
    data = read_json(path, "scenario file")
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list) or not data["scenarios"]:
        raise DataFormatError(f"{path}: expected an object with a non-empty \"scenarios\" list")
    scenarios = []
    for i, scenario in enumerate(data["scenarios"]):
        where = f"{path}: scenario {i}"
        check_fields(scenario, SCENARIO_FIELDS, where)
        if scenario["optimal_action"] not in ACTIONS:
            raise DataFormatError(f"{where}.optimal_action: unknown action {scenario['optimal_action']!r}"
                                  f" (known: {', '.join(ACTIONS)})")
        state = validate_state(scenario["state"], f"{where}: state")
        scenarios.append({**scenario, "id": str(scenario.get("id", i)), "state": state})
    return scenarios


def build_scenarios(per_action: int = 25, seed: int = 2025, episodes: int = 200, steps: int = 40) -> list[dict]:
    """`per_action` distinct states for each optimal action, from episodes unlike the training logs'."""
    rng = random.Random(seed)
    teacher = BootstrapTeacher(seed)
    candidates: dict[str, dict[str, dict]] = {action: {} for action in ACTIONS}
    for episode in range(episodes):
        world = AgentWorld(10_000_000 + seed * 1000 + episode)
        for _ in range(steps):
            state = world.state()
            best = oracle_action(state)
            candidates[best].setdefault(state_to_text(state), state)  # distinct by what a model reads
            name = rng.choice(ACTIONS) if rng.random() < 0.5 else teacher.decide(state)[0]
            world.step({"action": name, "confidence": 1.0})
    scenarios = []
    for action in ACTIONS:
        pool = list(candidates[action].values())
        if len(pool) < per_action:
            raise UserError(f"only {len(pool)} distinct states where {action} is best; run more episodes")
        for state in rng.sample(pool, per_action):
            scenarios.append({"state": state, "optimal_action": action, "rationale": explain(state)})
    rng.shuffle(scenarios)
    return [{"id": f"s{i + 1:03d}", **s} for i, s in enumerate(scenarios)]


def is_scenario_file(path: Path) -> bool:
    try:
        load_scenarios(path)
    except UserError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        p = ArgumentParser(prog="python -m hrm.agent.scenarios", description=__doc__.split("\n\n")[0])
        p.add_argument("--out", required=True, type=Path)
        p.add_argument("--per-action", type=int_at_least(1), default=25)
        p.add_argument("--seed", type=int_at_least(0), default=2025)
        p.add_argument("--force", action="store_true", help="replace an existing scenario file")
        args = p.parse_args(argv)
        check_replaceable(args.out, args.force, is_scenario_file, "a scenario file")
        scenarios = build_scenarios(args.per_action, args.seed)
        atomic_write_text(args.out, json.dumps({"scenarios": scenarios}, indent=1) + "\n")
        print(f"wrote {args.out}: {len(scenarios)} scenarios")
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    sys.exit(main())
