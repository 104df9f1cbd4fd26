"""`HRMPolicy`: a trained policy checkpoint, for an agent loop to call instead of GPT-2 (`TextPolicy` is
what every policy that reads a state's text shares; GPT-2's is `hrm.agent.lm_policy.LMPolicy`).

    policy = HRMPolicy.from_checkpoint("checkpoints/agent_imitation_hrm_agent/last.ckpt")  # or agent_rl/best.ckpt
    decision = policy.decide(agent.encode_state())   # {"action": "web_search", "confidence": 0.93}

The state is checked against the log schema first, so a malformed one fails with a clear message
instead of a wrong decision.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch

from hrm.agent.schema import ACTIONS, validate_state
from hrm.agent.text import state_to_text
from hrm.errors import CheckpointError
from hrm.modules.policy import PolicyModule
from hrm.modules.policy_rl import VALUE_HEAD, policy_hyperparameters
from hrm.utils.checkpoints import check_compatible, read_checkpoint
from hrm.utils.parameters import parameter_counts
from hrm.utils.resolvers import cpu_autocast, cpu_has_bf16
from hrm.utils.validation import converted


class TextPolicy:
    """A policy that reads a state's text: subclasses give each action's logit for a batch of texts."""

    bf16: bool
    model: torch.nn.Module  # what decides

    def parameter_counts(self) -> tuple[int, int]:
        """(all parameters, trainable ones: for a LoRA model, the adapter's)."""
        return parameter_counts(self.model)

    def action_logits(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def decide(self, state: dict) -> dict:
        """{"action": one of ACTIONS, "confidence": the policy's probability for it}."""
        return self.decide_batch([state])[0]

    def decide_batch(self, states: list[dict]) -> list[dict]:
        where = ["state"] if len(states) == 1 else [f"state {i}" for i in range(len(states))]
        texts = [state_to_text(validate_state(state, w)) for state, w in zip(states, where)]
        probabilities = self.probabilities(texts)
        confidence, choice = probabilities.max(-1)
        return [{"action": ACTIONS[int(c)], "confidence": round(float(p), 4)} for c, p in zip(choice, confidence)]

    @torch.no_grad()
    def probabilities(self, texts: list[str]) -> torch.Tensor:
        """[B, A]: the policy's probability of each action."""
        with cpu_autocast(self.bf16):
            logits = self.action_logits(texts)
        return logits.float().softmax(-1)


class HRMPolicy(TextPolicy):
    def __init__(self, module: PolicyModule, bf16: bool | None = None):
        """bf16: decide under bf16 autocast (None: where the CPU has bf16 matrix units)."""
        self.module = module.eval()
        self.model = module.net
        self.bf16 = cpu_has_bf16() if bf16 is None else bf16

    @classmethod
    def from_checkpoint(cls, path: str | Path, bf16: bool | None = None) -> "HRMPolicy":
        checkpoint = read_checkpoint(path)
        # An RL checkpoint also holds how it was trained (init_from, rl): deciding needs only the policy.
        accepted = tuple(key for key in inspect.signature(PolicyModule.__init__).parameters if key != "self")
        hparams = policy_hyperparameters(checkpoint, str(path), accepted)
        hparams["compile"] = False  # compiling pays off over a training run, not for single decisions
        module = converted(lambda: PolicyModule(**hparams), str(path), CheckpointError)
        # An RL checkpoint's value head helped train the policy; deciding does not use it.
        state = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith(VALUE_HEAD)}
        check_compatible(path, {"state_dict": state}, module)
        module.load_state_dict(state)
        return cls(module, bf16)

    def action_logits(self, texts: list[str]) -> torch.Tensor:
        ids = self.module.encoder.encode(texts).to(self.module.device)
        return self.module.decide_ids(ids)[0]
