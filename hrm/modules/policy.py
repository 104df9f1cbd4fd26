"""PolicyModule: a backbone plus an action head, trained to imitate the decisions in agent logs.

The module owns its tokenizer: batches hold state *texts*, encoded here by the model's own tokenizer,
so the ids always fit the embedding table (its size is read from the tokenizer). Training is the
seeds' imitation by cross entropy, with HRM's deep supervision: every segment predicts the action and
is scored, and the Q head learns to halt once the action is right. Evaluation halts each row at the
first segment whose Q head says so (or the last). Validation measures agreement with the teacher on
held-out episodes; the test stage measures accuracy on the validation scenarios against the HRM's
and the teacher's, and takes the seeds' switch decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hydra
import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, open_dict
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from hrm.agent.schema import ACTIONS
from hrm.data.tokenizers import TextEncoder, build_word_tokenizer
from hrm.errors import VocabularyMismatchError
from hrm.models.policy import PolicyNet
from hrm.optim import warmup_then_constant
from hrm.utils.compose import plain_container

SWITCH_MIN_ACCURACY = 0.70  # the seeds: switch from GPT-2 to the HRM at >= 70% accuracy ...
SWITCH_TEACHER_RATIO = 0.9  # ... and at least 90% of the teacher's accuracy on the scenarios
STAGE_PREFIX = {"train": "train", "val": "val", "test": "scenarios"}


@dataclass
class PolicyACTConfig:
    halt_max_steps: int = 2  # segments at most per decision
    eval_halting: bool = True  # stop at the first segment whose Q head says halt


class PolicyModule(L.LightningModule):
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
            logs). max_tokens: tokens of a state the model reads (the seeds used 64). vocab_limit: size cap
            of a `words` vocabulary. act: fields of PolicyACTConfig. optimizer: lr, betas, weight_decay,
            warmup_steps for AdamW; clip_norm: the gradient norm clipped to (None: no clipping).
            reward_weighted: weight each logged decision's loss by (1 + its reward), floored at 0 (seed 001's
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
        backbone = hydra.utils.instantiate(net, _convert_="all")
        if compile:
            backbone.compile_levels()
        self.net = PolicyNet(backbone, len(ACTIONS))
        self.act_config = PolicyACTConfig(**act)
        self.optimizer_config = optimizer

        def classification() -> torch.nn.ModuleDict:
            return torch.nn.ModuleDict({
                "accuracy": MulticlassAccuracy(len(ACTIONS), average="micro"),
                "f1": MulticlassF1Score(len(ACTIONS), average="none"),
                "loss": MeanMetric(),
                "segments": MeanMetric(),
            })

        self.metrics = torch.nn.ModuleDict({f"{stage}_": classification() for stage in ("train", "val", "test")})
        self.teacher_accuracy = MulticlassAccuracy(len(ACTIONS), average="micro")

    # --- sizing from the data ----------------------------------------------------------------------
    @staticmethod
    def bind_to_data(model_cfg: DictConfig, datamodule: Any, checkpoint: dict | None = None) -> None:
        """Build a `words` vocabulary from the training logs (or take it from the checkpoint being resumed
        or evaluated), so the model and its checkpoint carry their own tokenizer."""
        if model_cfg.get("tokenizer") != "words":
            return
        saved = (checkpoint or {}).get("hyper_parameters", {}).get("tokenizer")
        if saved is None:
            saved = build_word_tokenizer(datamodule.train_texts(), model_cfg.get("vocab_limit", 1000)).to_str()
        with open_dict(model_cfg):
            model_cfg.tokenizer = saved

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
        self._update("train", logits.detach(), labels, loss.detach(), torch.full_like(labels, len(losses)))
        self._log_step("train", loss.detach())
        return loss

    def _evaluate(self, stage: str, batch: dict[str, Any]) -> None:
        logits, used = self.decide_ids(self.encode(batch["text"]))
        labels = batch["label"]
        self._update(stage, logits, labels, F.cross_entropy(logits, labels), used)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate("val", batch)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate("test", batch)
        if "teacher_label" in batch:
            self.teacher_accuracy.update(batch["teacher_label"], batch["label"])

    # --- metrics -----------------------------------------------------------------------------------
    def _update(self, stage, logits, labels, loss, segments) -> None:
        metrics = self.metrics[f"{stage}_"]
        predictions = logits.argmax(-1)
        metrics["accuracy"].update(predictions, labels)
        metrics["f1"].update(predictions, labels)
        metrics["loss"].update(loss, weight=float(labels.shape[0]))
        metrics["segments"].update(segments.float())

    def _log_step(self, stage: str, loss: torch.Tensor) -> None:
        """Training: each step's loss, and the epoch's running accuracy (on the progress bar too)."""
        self.log(f"{stage}/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log(f"{stage}/accuracy", self.metrics[f"{stage}_"]["accuracy"], on_step=False, on_epoch=True,
                 prog_bar=True)

    def _log_epoch(self, stage: str) -> dict[str, float]:
        metrics, prefix = self.metrics[f"{stage}_"], STAGE_PREFIX[stage]
        accuracy = "hrm_accuracy" if stage == "test" else "accuracy"  # beside the teacher's on the scenarios
        values = {f"{prefix}/{accuracy}": metrics["accuracy"].compute(), f"{prefix}/loss": metrics["loss"].compute(),
                  f"{prefix}/segments": metrics["segments"].compute()}
        for action, f1 in zip(ACTIONS, metrics["f1"].compute()):
            values[f"{prefix}/f1_{action}"] = f1
        for metric in metrics.values():
            metric.reset()
        self.log_dict(values, prog_bar=False)
        return {key: float(value) for key, value in values.items()}

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_train_epoch_end(self) -> None:
        for key in ("f1", "loss", "segments"):  # the epoch's accuracy is logged (and reset) through self.log
            self.metrics["train_"][key].reset()

    def on_test_epoch_end(self) -> None:
        values = self._log_epoch("test")
        hrm = values["scenarios/hrm_accuracy"]
        if self.teacher_accuracy.update_count:
            teacher = float(self.teacher_accuracy.compute())
            self.teacher_accuracy.reset()
            use_hrm = hrm >= SWITCH_MIN_ACCURACY and hrm >= SWITCH_TEACHER_RATIO * teacher
            self.log_dict({"scenarios/teacher_accuracy": teacher, "switch/use_hrm": float(use_hrm)})

    # --- optimizer ---------------------------------------------------------------------------------
    def configure_optimizers(self):
        cfg = {"lr": 1e-3, "betas": (0.9, 0.95), "weight_decay": 0.01, "warmup_steps": 0, **self.optimizer_config}
        # The fused AdamW is ~5x faster on a CPU (most of a step for the 12.9M-row GPT-2 embedding), but
        # with fp16 loss scaling its gradients stay scaled until the step: there, the plain one.
        fused = not str(self.trainer.precision if self._trainer else "").startswith("16")
        optimizer = torch.optim.AdamW(self.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]),
                                      weight_decay=cfg["weight_decay"], fused=fused)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_constant(cfg["warmup_steps"]))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_before_optimizer_step(self, optimizer) -> None:
        # Clipped here rather than by trainer.gradient_clip_val, which Lightning refuses for a fused optimizer.
        clip = self.optimizer_config.get("clip_norm")
        if clip:
            torch.nn.utils.clip_grad_norm_(self.parameters(), clip)
