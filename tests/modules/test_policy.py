"""PolicyModule: its own tokenizer sizes the embedding, every segment is trained, ACT halts at evaluation."""

import hydra
import pytest
import torch

from hrm.agent.scenarios import load_scenarios
from hrm.agent.schema import ACTIONS
from hrm.agent.teacher import BootstrapTeacher
from hrm.data.scenarios import SHIPPED_SCENARIOS
from hrm.training import bind_model_to_data, run


@pytest.fixture
def tiny_policy(make_config):
    def make(*overrides):
        cfg = make_config("experiment=agent_imitation", "debug=tiny", *overrides)
        datamodule = hydra.utils.instantiate(cfg.data)
        datamodule.prepare_data()
        datamodule.setup("fit")
        bind_model_to_data(cfg.model, datamodule)
        return hydra.utils.instantiate(cfg.model), datamodule

    return make


@pytest.mark.parametrize("model, vocab", [("hrm_agent", None), ("hrm_gpt2vocab", 50257)])
def test_the_embedding_has_exactly_the_tokenizers_vocabulary(tiny_policy, model, vocab):
    module, datamodule = tiny_policy(f"model={model}")
    rows = module.net.backbone.input.embed_tokens.num_embeddings
    assert rows == module.encoder.vocab_size == (vocab or rows)
    ids = module.encode(datamodule.train_texts())
    assert int(ids.max()) < rows and ids.shape[1] == module.hparams.max_tokens
    if vocab is None:  # the word vocabulary was built from the training logs: nothing in them is unknown
        assert rows <= 1000 and int((ids == module.encoder.tokenizer.token_to_id("[UNK]")).sum()) == 0


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")  # a training step outside a Trainer
def test_every_segment_is_trained_and_the_gradient_reaches_the_embedding(tiny_policy):
    module, datamodule = tiny_policy("model.act.halt_max_steps=3")
    batch = next(iter(datamodule.train_dataloader()))
    loss = module.training_step(batch, 0)
    loss.backward()
    assert torch.isfinite(loss)
    assert module.net.backbone.input.embed_tokens.weight.grad.abs().sum() > 0
    assert module.net.q_head.weight.grad.abs().sum() > 0  # the halting head learns too
    assert module.metrics["train_"]["segments"].compute() == 3


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")  # a training step outside a Trainer
def test_a_compiled_policy_decides_and_learns_as_the_eager_one_at_every_batch_size(tiny_policy):
    torch.manual_seed(0)
    eager, datamodule = tiny_policy()
    torch.manual_seed(0)
    compiled, _ = tiny_policy("model.compile=true")
    assert torch.equal(eager.net.backbone.input.embed_tokens.weight, compiled.net.backbone.input.embed_tokens.weight)
    texts = datamodule.train_texts()
    for size in (5, 3, 8):  # one compiled graph for every batch size
        ids = eager.encode(texts[:size])
        expected, compiled_logits = eager.decide_ids(ids)[0], compiled.decide_ids(ids)[0]
        torch.testing.assert_close(compiled_logits, expected, atol=1e-4, rtol=1e-4)
    batch = next(iter(datamodule.train_dataloader()))
    for module in (eager, compiled):
        module.training_step(batch, 0).backward()
    for (name, weight), other in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(other.grad, weight.grad, atol=1e-4, rtol=1e-3, msg=name)


@pytest.mark.parametrize("bias, eval_halting, segments", [(10.0, True, 1), (-10.0, True, 3), (10.0, False, 3)])
def test_evaluation_halts_each_row_at_the_first_segment_whose_q_head_says_so(tiny_policy, bias, eval_halting, segments):
    module, datamodule = tiny_policy("model.act.halt_max_steps=3", f"model.act.eval_halting={eval_halting}")
    torch.nn.init.constant_(module.net.q_head.bias, bias)
    logits, used = module.decide_ids(module.encode(datamodule.train_texts()[:5]))
    assert logits.shape == (5, len(ACTIONS))
    assert used.tolist() == [segments] * 5


def test_the_imitation_run_reports_agreement_scenario_accuracies_and_the_switch_decision(make_config):
    metrics = run(make_config("experiment=agent_imitation", "debug=tiny", "logger=csv", "trainer.max_steps=-1",
                              "trainer.max_epochs=2"))
    for key in ("val/accuracy", "val/f1_idle", "scenarios/hrm_accuracy", "scenarios/teacher_accuracy",
                "scenarios/f1_web_search", "switch/use_hrm"):
        assert key in metrics, key
    hrm, teacher = metrics["scenarios/hrm_accuracy"], metrics["scenarios/teacher_accuracy"]
    assert metrics["switch/use_hrm"] == float(hrm >= 0.7 and hrm >= 0.9 * teacher)
    scenarios = load_scenarios(SHIPPED_SCENARIOS)  # the seeded teacher, scored here independently
    teacher_decisions = BootstrapTeacher(0)
    right = sum(teacher_decisions.decide(s["state"])[0] == s["optimal_action"] for s in scenarios)
    assert teacher == pytest.approx(right / len(scenarios))


def test_reward_weighting_counts_decisions_by_one_plus_their_reward(tiny_policy):
    module, datamodule = tiny_policy("model.reward_weighted=true")
    batch = next(iter(datamodule.train_dataloader()))
    assert set(batch["reward"].tolist()) <= {10.0, 3.0, 2.0, 1.0, 0.5, -0.1, -0.5, -2.0}  # the original agent's rewards

    def loss(rewards):
        return float(module.training_step({**batch, "reward": rewards}, 0).detach())

    rewards = torch.zeros_like(batch["reward"])
    module.reward_weighted = False
    unweighted = loss(rewards)
    module.reward_weighted = True
    assert loss(rewards) == pytest.approx(unweighted)  # every weight 1
    assert loss(rewards + 4.0) == pytest.approx(unweighted)  # equal weights: the same weighted mean
    first_only = rewards.clone() - 2.0
    first_only[0] = 0.0  # every other decision's weight is 1 - 2 < 0, floored to 0: only the first counts
    assert loss(first_only) != pytest.approx(unweighted)
