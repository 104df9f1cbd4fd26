"""PolicyModule: a backbone plus an action head, trained to imitate the decisions in agent logs.

The module owns its tokenizer: batches hold state *texts*, encoded here by the model's own tokenizer,
so the ids always fit the embedding table (its size is read from the tokenizer). Training is the
seeds' imitation by cross entropy, with HRM's deep supervision: every segment predicts the action and
is scored, and the Q head learns to halt once the action is right. Evaluation halts each row at the
first segment whose Q head says so (or the last). Validation measures agreement with the teacher on
held-out episodes; the test stage measures accuracy on the validation scenarios against the HRM's
and the teacher's, and takes the original agent's switch decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from hrm.agent.schema import ACTIONS
from hrm.data.tokenizers import TextEncoder
from hrm.errors import VocabularyMismatchError
from hrm.models.layers import compile_blocks
from hrm.models.policy import PolicyNet
from hrm.modules.action_metrics import ActionMetrics
from hrm.optim import OptimizerSettings, adamw_with_warmup
from hrm.registry import build_net
from hrm.utils.compose import plain_container
from hrm.utils.validation import at_least, build_config


@dataclass
class PolicyACTConfig:
    halt_max_steps: int = 2  # segments at most per decision
    eval_halting: bool = True  # stop at the first segment whose Q head says halt

    def __post_init__(self):
        at_least(self, 1, "halt_max_steps")


class PolicyModule(ActionMetrics, L.LightningModule):
    SETTINGS = {"act": PolicyACTConfig, "optimizer": OptimizerSettings}  # each group's dataclass (hrm.registry)

    def __init__(
        self,
        net: dict,
        tokenizer: str = "gpt2",
        max_tokens: int = 64,
        vocab_limit: int = 1000,
        act: dict | None = None,
        optimizer: dict | None = None,
        compile: bool = False,
        reward_weighted: bool = False,
    ):
        """
        net: the backbone's config with its `_target_`; its vocab_size and seq_len come from the tokenizer
            and max_tokens. tokenizer: `gpt2`, or a serialised tokenizer (train.py builds `words` from the
            logs). max_tokens: tokens of a state the model reads (the original agent used 64). vocab_limit: size cap
            of a `words` vocabulary. act: fields of PolicyACTConfig. optimizer: lr, betas, weight_decay,
            warmup_steps for AdamW; clip_norm: the gradient norm clipped to (None: no clipping).
            compile: torch.compile each block of the backbone, once for every batch size (compile_blocks).
            reward_weighted: weight each logged decision's loss by (1 + its reward), floored at 0 (the original design's
            reward-weighted imitation: decisions that paid off count more; below -1 a weight would turn
            negative and make the loss unbounded, so such decisions are left out instead).
        """
        super().__init__()
        net, act, optimizer = plain_container(net), plain_container(act) or {}, plain_container(optimizer) or {}
        self.encoder = TextEncoder(tokenizer, max_tokens)
        typed = net.get("vocab_size")
        if typed is not None and typed != self.encoder.vocab_size:
            raise VocabularyMismatchError(
                f"model.net.vocab_size={typed} does not match the {self.encoder.vocab_size} tokens of the model's"
                " tokenizer; the vocabulary size is derived from the tokenizer, drop the override"
            )
        net = {**net, "vocab_size": self.encoder.vocab_size, "seq_len": max_tokens, "num_puzzle_identifiers": 0,
               "puzzle_emb": False, "heads": False}
        self.save_hyperparameters({"net": net, "tokenizer": tokenizer, "max_tokens": max_tokens,
                                   "vocab_limit": vocab_limit, "act": act, "optimizer": optimizer,
                                   "compile": compile, "reward_weighted": reward_weighted})
        self.reward_weighted = reward_weighted
        backbone = build_net(net, "model.net")
        if compile:
            compile_blocks(backbone)
        self.net = PolicyNet(backbone, len(ACTIONS))
        self.act_config = build_config(PolicyACTConfig, act, "model.act")
        build_config(OptimizerSettings, optimizer, "model.optimizer")
        self.optimizer_config = optimizer
        self.init_action_metrics(segments=True)

    @property
    def vocab_size(self) -> int:
        return self.encoder.vocab_size

    # --- thinking ----------------------------------------------------------------------------------
    def segments(self, ids: torch.Tensor):
        """Yield (action logits, halt logits, the heads' input detached [B, hidden]) of each segment, from a
        fresh carry."""
        carry = self.net.initial_carry(ids.shape[0], ids.device)
        for _ in range(self.act_config.halt_max_steps):
            carry, action_logits, halt_logits = self.net(carry, ids)
            yield action_logits, halt_logits, carry.z_H[:, 0]

    @torch.no_grad()
    def decide_ids(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action logits where each row halted [B, A], segments each row used [B])."""
        kept = used = None
        done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for step, (logits, halt, _) in enumerate(self.segments(ids), start=1):
            fresh = ~done  # rows still thinking take this segment's answer
            kept = logits if kept is None else torch.where(fresh[:, None], logits, kept)
            used = torch.full_like(done, step, dtype=torch.long) if used is None else torch.where(fresh, step, used)
            if self.act_config.eval_halting:
                done = done | (halt > 0)
            if done.all():
                break
        return kept, used

    def encode(self, texts: list[str]) -> torch.Tensor:
        return self.encoder.encode(texts).to(self.device)

    # --- steps -------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        ids, labels = self.encode(batch["text"]), batch["label"]
        weights = (1.0 + batch["reward"].float()).clamp(min=0.0) if self.reward_weighted else None
        losses = []
        for logits, halt, _ in self.segments(ids):  # deep supervision: every segment is scored
            correct = logits.argmax(-1) == labels
            imitation = F.cross_entropy(logits, labels, reduction="none")
            imitation = imitation.mean() if weights is None else (imitation * weights).sum() / weights.sum().clamp(min=1e-6)
            losses.append(imitation + 0.5 * F.binary_cross_entropy_with_logits(halt, correct.float()))
        loss = torch.stack(losses).mean()
        self.update_action_metrics("train", logits.detach(), labels, loss.detach(), torch.full_like(labels, len(losses)))
        self.log_train_step(loss.detach())
        return loss

    def _evaluate(self, stage: str, batch: dict[str, Any]) -> None:
        logits, used = self.decide_ids(self.encode(batch["text"]))
        labels = batch["label"]
        self.update_action_metrics(stage, logits, labels, F.cross_entropy(logits, labels), used)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate("val", batch)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate("test", batch)
        self.update_teacher_accuracy(batch)

    # --- optimizer ---------------------------------------------------------------------------------
    def configure_optimizers(self):
        return adamw_with_warmup(self.parameters(), self.optimizer_config,
                                 self.trainer.precision if self._trainer else "")

    def on_before_optimizer_step(self, optimizer) -> None:
        # Clipped here rather than by trainer.gradient_clip_val, which Lightning refuses for a fused optimizer.
        clip = self.optimizer_config.get("clip_norm")
        if clip:
            torch.nn.utils.clip_grad_norm_(self.parameters(), clip)
