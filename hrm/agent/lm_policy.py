"""`LMPolicy`: a causal language model as the agent's policy, the original agent's GPT-2 decision maker.

It prompts the model with the state's text and picks the action whose tokens the model finds likeliest
after it, by mean log-probability (`hrm.models.gpt2_lora.action_scores`); the confidence is the softmax of
the four scores. It is the GPT-2 teacher of `python -m hrm.agent.collect --teacher gpt2`, and the policy of
a trained GPT-2+LoRA checkpoint:

    policy = LMPolicy.load("gpt2")                                  # hub / local cache / local dir
    policy = LMPolicy.load("checkpoints/agent_lora/best.ckpt")      # GPT-2 + its trained adapter
    decision = policy.decide(state)   # {"action": "web_search", "confidence": 0.61}
"""

from __future__ import annotations

from pathlib import Path

import torch

from hrm.agent.policy import TextPolicy
from hrm.models.gpt2_lora import ActionPrompts, action_scores, load_base_model
from hrm.utils.checkpoints import read_checkpoint
from hrm.utils.resolvers import cpu_has_bf16


class LMPolicy(TextPolicy):
    def __init__(self, model: torch.nn.Module, max_prompt_tokens: int = 128, bf16: bool | None = None):
        """model: a causal LM with GPT-2's vocabulary (a transformers model, or one wrapped by peft)."""
        self.model = model.eval()
        self.prompts = ActionPrompts(max_prompt_tokens)
        self.prompts.check_fits(model.get_base_model() if hasattr(model, "get_base_model") else model)
        self.bf16 = cpu_has_bf16() if bf16 is None else bf16

    @classmethod
    def load(cls, source: str | Path, bf16: bool | None = None, setting: str = "--lm") -> "LMPolicy":
        """`source`: a GPT-2+LoRA `.ckpt` (experiment=agent_lora), or what `from_pretrained` takes (a hub
        name, a model in the local cache, a local dir such as one `python -m hrm.agent.merge_lora` wrote).
        setting: the option `source` came from, named in errors."""
        if str(source).endswith(".ckpt"):
            from hrm.modules.gpt2_lora import GPT2LoRAModule

            module = GPT2LoRAModule.from_checkpoint(read_checkpoint(source), str(source))
            return cls(module.net, module.hparams.max_prompt_tokens, bf16)
        return cls(load_base_model(str(source), setting=setting), bf16=bf16)

    def action_logits(self, texts: list[str]) -> torch.Tensor:
        return action_scores(self.model, self.prompts.prompts(texts), self.prompts.action_ids, self.prompts.pad_id)
