"""ReasoningModule: trains a recurrent reasoning net (HRM; later TRM, a plain transformer) on token grids.

Owns everything about training that is not the network: deep supervision (one segment per optimizer
step with the ACT carries kept across steps, one per accumulated micro-batch), the loss, torchmetrics,
the optimizers, and the extra state a checkpoint needs for an exact resume (the carries and the
exploration RNG).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging, Timer
from torch.nn.parallel import DistributedDataParallel
from torchmetrics import MeanMetric

from hrm.errors import CheckpointError, UserError, VocabularyMismatchError
from hrm.models.layers import checkpoint_levels, compile_levels
from hrm.modules.act import (
    ACTCarry,
    ACTConfig,
    HaltedRun,
    RowOutputs,
    SegmentLoss,
    act_segment,
    initial_act_carry,
    segment_loss,
    stops_at_evaluation,
)
from hrm.modules.losses import IGNORE_LABEL, token_loss_fn
from hrm.optim import (
    OptimizerGroup,
    OptimizerSettings,
    SparseSignSGD,
    dense_optimizer,
    required_settings,
    warmup_then_constant,
    warmup_then_cosine,
)
from hrm.registry import build_net
from hrm.utils.compose import plain_container
from hrm.utils.validation import build_config

MAX_SLOTS = 1 << 16  # carries a checkpoint may hold (one per accumulated micro-batch)
LOSS_KEYS = ("loss", "lm_loss", "q_halt_loss", "q_continue_loss")
ROW_METRICS = ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps")
STAGES = ("train", "val", "test")


class ReasoningModule(L.LightningModule):
    SETTINGS = {"act": ACTConfig, "optimizer": OptimizerSettings}  # each group's dataclass (hrm.registry)

    def __init__(
        self,
        net: dict,
        act: dict | None = None,
        loss: str = "stablemax",
        optimizer: dict | None = None,
        tokenizer: str | None = None,
        compile: bool = False,
        ema: float | None = None,
        activation_checkpointing: bool = False,
    ):
        """
        net: the network's config with its `_target_` (built here, so a checkpoint can rebuild it).
        act: fields of `ACTConfig`. loss: "stablemax" or "softmax".
        optimizer: name (adamw, or adam_atan2 as the official HRM), lr, betas, weight_decay, warmup_steps;
            puzzle_emb_lr and
            puzzle_emb_weight_decay for the puzzle embeddings' sign-SGD.
        tokenizer: the text tokenizer this model's vocabulary comes from (None: the data's own vocabulary).
        compile: torch.compile the net's heavy parts (slow to start: worth it for long runs only).
        ema: keep an exponential moving average of the weights with this decay (TRM: 0.999), through
            Lightning's EMAWeightAveraging: validation, test and the saved weights use the average.
        activation_checkpointing: keep only each block's input for the backward pass and recompute the
            rest there: the same numbers in far less memory (ARC's 900 tokens), for one more forward's time.
        """
        super().__init__()
        net, act, optimizer = plain_container(net), plain_container(act) or {}, plain_container(optimizer) or {}
        self.save_hyperparameters(
            {"net": net, "act": act, "loss": loss, "optimizer": optimizer, "tokenizer": tokenizer, "compile": compile,
             "ema": ema, "activation_checkpointing": activation_checkpointing}
        )
        self.act_config = build_config(ACTConfig, act, "model.act")
        self.optimizer_config = optimizer
        build_config(OptimizerSettings, optimizer, "model.optimizer")
        self.token_loss = token_loss_fn(loss)
        if ema is not None and not 0 < ema < 1:
            raise UserError(f"model.ema={ema!r}: must be between 0 and 1 (or null: no EMA)")
        self.ema = ema
        self.net = build_net(net, "model.net")
        if activation_checkpointing:
            checkpoint_levels(self.net)
        if compile:
            compile_levels(self.net)

        self.metrics = torch.nn.ModuleDict(
            {f"{stage}_": torch.nn.ModuleDict({key: MeanMetric() for key in LOSS_KEYS + ROW_METRICS})
             for stage in STAGES}
        )
        # Deep supervision's state across training steps: one carry per micro-batch of an optimizer step
        # (trainer.accumulate_grad_batches), so that k accumulated micro-batches of B rows are k x B distinct
        # rows at one segment each, as one batch of k x B would be, not B rows run k segments in a row.
        self._carries: list[ACTCarry | None] = [None]
        # What "solved" means for the task (the DataModule's `solved`, e.g. any valid Sudoku grid that
        # keeps the givens); None: the prediction equals the label.
        self._solved = None
        # Exploration draws come from our own generator so that its state can be checkpointed.
        self._generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, ())))

    def reseed_exploration(self, seed: int) -> None:
        """Start ACT's exploration draws from `seed` (a fine-tuning run of a loaded model, e.g. hrm.predict's
        adaptation, is then repeatable)."""
        self._generator.manual_seed(seed)

    # --- helpers -----------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.net.config.vocab_size

    def check_token_range(self, batch: dict[str, torch.Tensor]) -> None:
        """Catch ids past the embedding table before torch's bare 'index out of range in self'."""
        top = int(batch["inputs"].max())
        if top >= self.vocab_size:
            raise VocabularyMismatchError(
                f"token id {top} in the batch does not fit the model's vocabulary of {self.vocab_size} tokens "
                f"(the data needs at least {top + 1}); build the model from the data's tokenizer"
            )

    def _log_metric(self, stage: str, key: str, values: torch.Tensor, on_step: bool, weight=1.0) -> None:
        """Through a torchmetrics MeanMetric: training logs each step's value (an epoch of ARC is ~80k
        steps), evaluation the epoch's mean."""
        metric = self.metrics[f"{stage}_"][key]  # ModuleDict keys may not shadow nn.Module.train
        metric(values, weight)  # forward: accumulates, and caches this batch's value for on_step logging
        self.log(f"{stage}/{key}", metric, on_step=on_step, on_epoch=not on_step,
                 prog_bar=key in ("loss", "exact_accuracy"))

    def _log_rows(self, stage: str, rows: RowOutputs, on_step: bool) -> None:
        """Per-sequence figures, over the valid rows (in training: those that halted on this segment)."""
        valid = rows.valid
        if not valid.any():
            return
        figures = {
            "accuracy": rows.token_accuracy[valid],
            "exact_accuracy": rows.exact[valid].float(),
            "q_halt_accuracy": rows.q_halt_correct[valid].float(),
            "steps": rows.steps[valid].float(),
        }
        for key, values in figures.items():
            self._log_metric(stage, key, values, on_step)

    def _log_losses(self, stage: str, loss: SegmentLoss, on_step: bool, batch_size: int) -> None:
        """Batch means, weighted by the batch size in the epoch's mean."""
        values = (loss.total.detach(), loss.lm_loss, loss.q_halt_loss, loss.q_continue_loss)
        for key, value in zip(LOSS_KEYS, values):
            if key == "q_continue_loss" and stage != "train":
                continue  # the continue target is a training-time bootstrap: there is none to score here
            self._log_metric(stage, key, value, on_step, weight=float(batch_size))

    # --- training: one segment per step ------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.check_token_range(batch)
        slots = max(1, self._trainer.accumulate_grad_batches) if self._trainer is not None else 1
        if len(self._carries) != slots:  # accumulation changed (a resumed run with another setting): start over
            self._carries = [None] * slots
        slot = batch_idx % slots  # Lightning steps after micro-batches 0..k-1 of each epoch's groups of k
        carry = self._carries[slot]
        if carry is None or carry.steps.shape[0] != batch["inputs"].shape[0]:
            carry = initial_act_carry(self.net, batch)
        carry, out = act_segment(self.net, carry, batch, self.act_config, True, self._generator)
        loss, rows = segment_loss(carry, out, self.token_loss, self._solved)
        self._carries[slot] = carry
        # Only on the steps the loggers write (every log_every_n_steps, and the last of max_steps): a step's
        # eight metrics cost ~6% of a small model's step on a CPU.
        step, trainer = self.global_step + 1, self._trainer
        if trainer is None or step % max(trainer.log_every_n_steps, 1) == 0 or 0 < trainer.max_steps <= step:
            self._log_losses("train", loss, on_step=True, batch_size=batch["inputs"].shape[0])
            self._log_rows("train", rows, on_step=True)
        return loss.total

    # --- evaluation: every row runs to halting -----------------------------------------------------
    def run_to_halt(self, batch: dict[str, torch.Tensor]) -> HaltedRun:
        """Evaluate `batch` from a fresh carry. Every row runs all halt_max_steps segments; its outputs are
        those of the segment where it stops: the last, or with `act.eval_halting` the first where its Q
        head says halt. The losses are the last segment's."""
        run_all = dataclasses.replace(self.act_config, eval_halting=False)
        carry = initial_act_carry(self.net, batch)
        segments, stops = [], []
        for _ in range(self.act_config.halt_max_steps):
            carry, out = act_segment(self.net, carry, batch, run_all, training=False)
            loss, rows = segment_loss(carry, out, self.token_loss, self._solved)
            stop = carry.halted.clone()  # True on the last segment
            if self.act_config.eval_halting:
                stop |= stops_at_evaluation(out.q_halt, out.q_continue, self.act_config)
            segments.append(rows)
            stops.append(stop)
        by_segment = RowOutputs.stack(segments)
        stop_segment = torch.stack(stops, dim=1).int().argmax(dim=1)  # each row's first stop
        rows = by_segment.at(stop_segment)
        rows.valid = (batch["labels"] != IGNORE_LABEL).any(-1)
        return HaltedRun(loss=loss, rows=rows, exact_by_segment=by_segment.exact, q_halt_by_segment=by_segment.q_halt)

    def _eval_step(self, stage: str, batch: dict[str, torch.Tensor]) -> HaltedRun:
        self.check_token_range(batch)
        run = self.run_to_halt(batch)
        self._log_losses(stage, run.loss, on_step=False, batch_size=batch["inputs"].shape[0])
        self._log_rows(stage, run.rows, on_step=False)
        return run

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """Also returns each row's outputs, for task-level evaluation (e.g. ARC voting) in a callback."""
        run = self._eval_step("test", batch)
        return {
            "predictions": run.rows.predictions,
            "q_halt": run.rows.q_halt,
            "steps": run.rows.steps,
            "exact_by_segment": run.exact_by_segment,
        }

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """Each row's answer where it stops, its halting logit and the segments it ran (`hrm.predict`)."""
        self.check_token_range(batch)
        rows = self.run_to_halt(batch).rows
        return {"predictions": rows.predictions, "q_halt": rows.q_halt, "steps": rows.steps}

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        self._solved = getattr(datamodule, "solved", None)
        # Under DDP (which wraps the module after this hook) the sparse puzzle-embedding table stays out of
        # DDP's gradient all-reduce: NCCL has no sparse all-reduce, and SparseSignSGD sums its rows over
        # the processes itself.
        table = [name for name, _ in self.named_parameters() if name.startswith("net.input.puzzle_emb.")]
        if table:
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self, table)

    def configure_callbacks(self) -> list:
        return [EMAWeightAveraging(decay=self.ema)] if self.ema else []

    # --- optimizers --------------------------------------------------------------------------------
    def configure_optimizers(self):
        # name and lr_decay may be absent (adamw, a constant rate): checkpoints older than those settings
        cfg = required_settings(self.optimizer_config, ("lr", "betas", "weight_decay", "warmup_steps",
                                                        "puzzle_emb_lr", "puzzle_emb_weight_decay"))
        puzzle_emb = self.net.input.puzzle_emb
        sparse = list(puzzle_emb.parameters()) if puzzle_emb is not None else []
        sparse_ids = {id(p) for p in sparse}
        dense = [p for p in self.parameters() if p.requires_grad and id(p) not in sparse_ids]

        precision = str(self.trainer.precision) if self._trainer is not None else None
        optimizers = [dense_optimizer(dense, cfg, precision)]
        if sparse:
            optimizers.append(SparseSignSGD(sparse, lr=cfg["puzzle_emb_lr"],
                                            weight_decay=cfg["puzzle_emb_weight_decay"]))
        optimizer = OptimizerGroup(optimizers)
        if cfg.get("lr_decay") == "cosine":
            required_settings(cfg, ("min_lr_ratio",))
            multiplier = warmup_then_cosine(cfg["warmup_steps"], self.training_progress, cfg["min_lr_ratio"])
        elif cfg.get("lr_decay") is None:
            multiplier = warmup_then_constant(cfg["warmup_steps"])
        else:
            raise UserError(f"model.optimizer.lr_decay must be cosine or null, got {cfg['lr_decay']!r}")
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def training_progress(self) -> float:
        """The fraction of the run done, 0 to 1: by optimizer steps (max_steps or max_epochs) or by wall time
        (`trainer.max_time`), whichever is further along. A time budget's schedule depends on the machine's
        speed, so such a run is repeatable only in its step count, not its numbers."""
        trainer = self.trainer
        done = 0.0
        total = trainer.estimated_stepping_batches
        if math.isfinite(total) and total > 0:
            done = trainer.global_step / total
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        remaining = timer.time_remaining("train") if timer is not None else None
        if remaining is not None:
            elapsed = timer.time_elapsed("train")
            done = max(done, elapsed / max(elapsed + remaining, 1e-9))
        return min(1.0, done)

    # --- checkpoint: the carry and RNG, so a resumed run continues exactly -------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state: dict[str, Any] = {"generator": self._generator.get_state()}
        state["carries"] = [None if carry is None else carry.state_dict() for carry in self._carries]
        checkpoint["reasoning_state"] = state

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("reasoning_state") or {}
        try:
            if "generator" in state:
                self._generator.set_state(state["generator"])
            # "carry": a single one, as checkpoints held before each micro-batch had its own
            saved = state.get("carries", [state.get("carry")])
            if not isinstance(saved, list) or not 1 <= len(saved) <= MAX_SLOTS:
                raise TypeError("carries: expected a list of one carry per micro-batch")
            inner_type = type(self.net.initial_carry(1, "cpu"))
            self._carries = [None if carry is None else ACTCarry.from_state_dict(carry, inner_type) for carry in saved]
        except (TypeError, KeyError, RuntimeError, ValueError, AttributeError) as error:
            raise CheckpointError(f"reasoning_state: not the carry and generator of this model ({error})") from None

    def on_train_start(self) -> None:
        # A carry restored from a checkpoint was loaded on the CPU; follow the model to its device.
        self._carries = [None if carry is None else carry.to(self.device) for carry in self._carries]
