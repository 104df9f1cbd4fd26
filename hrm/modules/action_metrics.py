"""What every agent policy reports, whatever its model: accuracy and per-action F1 against the logged
(train, val) or optimal (scenarios) action, the loss, and on the scenarios the teacher's accuracy beside
the policy's. The HRM policy and GPT-2+LoRA share it, so their figures mean the same thing.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from hrm.agent.schema import ACTIONS

SWITCH_MIN_ACCURACY = 0.70  # the original agent: switch from GPT-2 to the HRM at >= 70% accuracy ...
SWITCH_TEACHER_RATIO = 0.9  # ... and at least 90% of the teacher's accuracy on the scenarios
STAGE_PREFIX = {"train": "train", "val": "val", "test": "scenarios"}


class ActionMetrics:
    """A mixin for a LightningModule choosing among ACTIONS; call `init_action_metrics()` in __init__."""

    scenario_accuracy_name = "hrm_accuracy"  # scenarios/<this>, beside scenarios/teacher_accuracy
    takes_switch_decision = True  # the original agent's rule: switch from the teacher to the HRM (switch/use_hrm)

    def init_action_metrics(self, segments: bool = True) -> None:
        """segments: also report how many segments a decision used (recurrent models)."""
        def classification() -> torch.nn.ModuleDict:
            metrics = {"accuracy": MulticlassAccuracy(len(ACTIONS), average="micro"),
                       "f1": MulticlassF1Score(len(ACTIONS), average="none"), "loss": MeanMetric()}
            if segments:
                metrics["segments"] = MeanMetric()
            return torch.nn.ModuleDict(metrics)

        self.metrics = torch.nn.ModuleDict({f"{stage}_": classification() for stage in ("train", "val", "test")})
        self.teacher_accuracy = MulticlassAccuracy(len(ACTIONS), average="micro")

    def update_action_metrics(self, stage: str, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor,
                              segments: torch.Tensor | None = None) -> None:
        metrics = self.metrics[f"{stage}_"]
        predictions = logits.argmax(-1)
        metrics["accuracy"].update(predictions, labels)
        metrics["f1"].update(predictions, labels)
        metrics["loss"].update(loss, weight=float(labels.shape[0]))
        if segments is not None:
            metrics["segments"].update(segments.float())

    def update_teacher_accuracy(self, batch: dict[str, Any]) -> None:
        if "teacher_label" in batch:
            self.teacher_accuracy.update(batch["teacher_label"], batch["label"])

    def log_train_step(self, loss: torch.Tensor) -> None:
        """Each step's loss, and the epoch's running accuracy (on the progress bar too)."""
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/accuracy", self.metrics["train_"]["accuracy"], on_step=False, on_epoch=True, prog_bar=True)

    def log_action_epoch(self, stage: str) -> dict[str, float]:
        metrics, prefix = self.metrics[f"{stage}_"], STAGE_PREFIX[stage]
        accuracy = self.scenario_accuracy_name if stage == "test" else "accuracy"
        values = {f"{prefix}/{accuracy}": metrics["accuracy"].compute(), f"{prefix}/loss": metrics["loss"].compute()}
        if "segments" in metrics:
            values[f"{prefix}/segments"] = metrics["segments"].compute()
        for action, f1 in zip(ACTIONS, metrics["f1"].compute()):
            values[f"{prefix}/f1_{action}"] = f1
        for metric in metrics.values():
            metric.reset()
        self.log_dict(values, prog_bar=False)
        return {key: float(value) for key, value in values.items()}

    def on_validation_epoch_end(self) -> None:
        self.log_action_epoch("val")

    def on_train_epoch_end(self) -> None:
        for key, metric in self.metrics["train_"].items():  # the accuracy is logged (and reset) through self.log
            if key != "accuracy":
                metric.reset()

    def on_test_epoch_end(self) -> None:
        values = self.log_action_epoch("test")
        if not self.teacher_accuracy.update_count:
            return
        teacher = float(self.teacher_accuracy.compute())
        self.teacher_accuracy.reset()
        self.log("scenarios/teacher_accuracy", teacher)
        if self.takes_switch_decision:
            policy = values[f"scenarios/{self.scenario_accuracy_name}"]
            use_hrm = policy >= SWITCH_MIN_ACCURACY and policy >= SWITCH_TEACHER_RATIO * teacher
            self.log("switch/use_hrm", float(use_hrm))
