"""The shipped validation scenarios: what the generator makes, labelled by the simulator's own model."""

import collections
import json

import pytest

from hrm.agent.oracle import oracle_action
from hrm.agent.scenarios import build_scenarios, load_scenarios
from hrm.agent.schema import ACTIONS
from hrm.agent.text import state_to_text
from hrm.data.scenarios import SHIPPED_SCENARIOS
from hrm.errors import DataFormatError


def test_100_shipped_scenarios_cover_every_action_with_the_oracles_label():
    scenarios = load_scenarios(SHIPPED_SCENARIOS)
    assert len(scenarios) == 100
    assert collections.Counter(s["optimal_action"] for s in scenarios) == {a: 25 for a in ACTIONS}
    assert all(oracle_action(s["state"]) == s["optimal_action"] for s in scenarios)
    assert all(s["rationale"].startswith(s["optimal_action"]) for s in scenarios)  # best first
    assert len({s["id"] for s in scenarios}) == len({state_to_text(s["state"]) for s in scenarios}) == 100


def test_the_shipped_file_is_what_the_generator_makes():
    shipped = json.loads(SHIPPED_SCENARIOS.read_text())["scenarios"]
    assert build_scenarios() == shipped


@pytest.mark.parametrize("change, message", [
    ({"optimal_action": "nap"}, r"scenario 0.optimal_action: unknown action 'nap'"),
    ({"verdict": "good"}, r"scenario 0: unknown field 'verdict'"),
    ({"state": {"curiosity_count": 1}}, r"scenario 0: state: missing field 'active_goals'"),
])
def test_a_bad_scenario_file_names_the_scenario_and_field(tmp_path, change, message):
    scenario = {**json.loads(SHIPPED_SCENARIOS.read_text())["scenarios"][0], **change}
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps({"scenarios": [scenario]}))
    with pytest.raises(DataFormatError, match=message):
        load_scenarios(path)
