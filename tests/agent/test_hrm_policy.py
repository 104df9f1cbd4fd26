"""HRMPolicy: a trained checkpoint deciding for an agent loop, as the test stage scored it."""

import json
import shutil

import pytest
import torch

from hrm.agent.policy import HRMPolicy
from hrm.agent.scenarios import load_scenarios
from hrm.agent.schema import ACTIONS
from hrm.data.scenarios import SHIPPED_SCENARIOS
from hrm.errors import CheckpointError, DataFormatError
from hrm.training import run
from hrm.utils.compose import compose_train_config
from tests.conftest import TINY, run_train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny agent_imitation run: (its folder, its metrics, its last checkpoint)."""
    root = tmp_path_factory.mktemp("agent")
    cfg = compose_train_config(["experiment=agent_imitation", *TINY, "trainer.max_steps=6"], root)
    metrics = run(cfg)
    return root, metrics, root / "checkpoints" / "agent_imitation_hrm_agent" / "last.ckpt"


def test_decide_returns_an_action_and_its_confidence(trained):
    policy = HRMPolicy.from_checkpoint(trained[2])
    state = load_scenarios(SHIPPED_SCENARIOS)[0]["state"]
    decision = policy.decide(state)
    assert set(decision) == {"action", "confidence"}
    assert decision["action"] in ACTIONS and 0.25 <= decision["confidence"] <= 1.0
    assert policy.decide(state) == decision  # deterministic


def test_decisions_score_on_the_scenarios_as_the_test_stage_reported(trained):
    _, metrics, checkpoint = trained
    scenarios = load_scenarios(SHIPPED_SCENARIOS)
    decisions = HRMPolicy.from_checkpoint(checkpoint).decide_batch([s["state"] for s in scenarios])
    accuracy = sum(d["action"] == s["optimal_action"] for d, s in zip(decisions, scenarios)) / len(scenarios)
    assert accuracy == pytest.approx(metrics["scenarios/hrm_accuracy"], abs=0.02)  # bf16 in both


def test_a_state_that_fails_the_schema_is_refused_with_the_field_named(trained):
    policy = HRMPolicy.from_checkpoint(trained[2])
    state = dict(load_scenarios(SHIPPED_SCENARIOS)[0]["state"])
    state["recent_actions"] = ["web_search", "teleport"]
    with pytest.raises(DataFormatError, match=r"^state.recent_actions\[1\]: unknown action 'teleport'"):
        policy.decide(state)
    del state["knowledge_count"]
    with pytest.raises(DataFormatError, match=r"^state: missing field 'knowledge_count'"):
        policy.decide(state)


def test_only_a_policy_checkpoint_loads(trained, tmp_path):
    arc = run(compose_train_config(["experiment=arc_tiny", *TINY, "trainer.max_steps=1", "test=false"], tmp_path))
    assert arc["trainer/global_step"] == 1
    with pytest.raises(CheckpointError, match="not a policy checkpoint"):
        HRMPolicy.from_checkpoint(tmp_path / "checkpoints" / "arc_tiny" / "last.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(trained[2].read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated.ckpt: not a readable checkpoint"):
        HRMPolicy.from_checkpoint(truncated)


def test_train_false_evaluates_a_checkpoint_on_the_scenarios_alone(trained, tmp_path):
    root, metrics, checkpoint = trained
    copy = tmp_path / "policy.ckpt"
    shutil.copy(checkpoint, copy)
    result = run_train(["experiment=agent_imitation", *TINY, "data=scenarios", "train=false",
                        f"ckpt_path={copy}"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (written,) = (tmp_path / "experiments").rglob("metrics.json")
    evaluated = json.loads(written.read_text())
    assert evaluated["scenarios/hrm_accuracy"] == pytest.approx(metrics["scenarios/hrm_accuracy"], abs=1e-6)
    assert "  scenarios/ " in result.stdout and " hrm_accuracy " in result.stdout  # in the results block


def test_training_on_the_scenarios_is_refused_in_one_line(tmp_path):
    result = run_train(["experiment=agent_imitation", *TINY, "data=scenarios"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: data=scenarios only evaluates a trained policy")


def test_a_killed_imitation_run_resumes_to_the_same_weights(tmp_path):
    args = ["experiment=agent_imitation", *TINY, "trainer.max_steps=7", "callbacks.last.every_n_train_steps=3",
            "test=false"]
    assert run_train(args, tmp_path / "straight").returncode == 0
    assert run_train([*args, "crash_at_step=3"], tmp_path / "killed").returncode == -9
    resumed = run_train(args, tmp_path / "killed")
    assert resumed.returncode == 0 and "resuming from" in resumed.stdout
    weights = [torch.load(tmp_path / run / "checkpoints" / "agent_imitation_hrm_agent" / "last.ckpt",
                          weights_only=True)["state_dict"] for run in ("straight", "killed")]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
