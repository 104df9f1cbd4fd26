"""ARCEvaluation: the test stage of an ARC experiment, from per-row predictions to pass@2 and pictures.

The ReasoningModule's test_step returns each row's predicted tokens, halting confidence and segments;
this callback maps every row back to its (task, test pair, augmentation) through the DataModule,
votes across the augmented variants, scores by the ARC Prize rule and writes, into the run dir:
`submission.json`, `votes.json` (each input's best answers, votes and halting confidence), `per_task.csv`,
`pictures/` (per-task PNGs and a contact sheet), and
`halting.csv` / `halting.png` (exact accuracy had every row stopped after 1..max segments).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np

from hrm.data.grids import PAD, VOCAB_SIZE
from hrm.evaluation.halting import SegmentCurve
from hrm.evaluation.pictures import render_all
from hrm.evaluation.scoring import (
    official_pass_at_k,
    score,
    truths_from_tasks,
    write_per_task_csv,
    write_submission,
    write_votes,
)
from hrm.evaluation.voting import Prediction, attempts_for_pairs, count_variants, vote
from hrm.modules.losses import IGNORE_LABEL

OFFICIAL_KS = (1, 2, 10)  # the official rule's k's reported (its notebook prints 1, 2, 5, 10, 100, 1000)


class ARCEvaluation(L.Callback):
    def __init__(self, output_dir: str, pictures: int = 16, failures_only: bool = False,
                 variants_setting: str = "data.test_num_aug", shown_dir: str | None = None):
        """output_dir: where the files go (the run dir). pictures: how many tasks to draw (0: none).
        failures_only: draw only tasks not fully solved. variants_setting: the setting that chooses the
        variants per input, as the start line names it. shown_dir: the folder the files are said to be in,
        where output_dir is a temporary one that takes its name when complete."""
        self.output_dir = Path(output_dir)
        self.variants_setting, self.shown_dir = variants_setting, shown_dir or str(output_dir)
        self.pictures, self.failures_only = pictures, failures_only
        self._reset()

    def _reset(self) -> None:
        self.predictions: list[Prediction] = []
        self.correct_by_segment: list[np.ndarray] = []
        self.halted_at: list[np.ndarray] = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reset()
        dataset = trainer.datamodule.test_dataset
        inputs = len(dataset.pair_index) if hasattr(dataset, "pair_index") else None
        if trainer.is_global_zero and inputs:
            # Each test input runs in every variant: on a CPU a large evaluation is slow; say so first.
            print(f"ARC evaluation of {inputs} test inputs in {len(dataset)} augmented variants"
                  f" ({self.variants_setting}=N evaluates N+1 variants of each)", flush=True)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        datamodule = trainer.datamodule
        tokens = outputs["predictions"].cpu().numpy()
        # 1 byte a cell; a token past ARC's 12 (a model with a larger vocabulary) is no colour: PAD
        tokens = np.where(tokens < VOCAB_SIZE, tokens, PAD).astype(np.uint8)
        q_halt = outputs["q_halt"].float().cpu().numpy()
        steps = outputs["steps"].cpu().numpy()
        for row, sample_index in enumerate(batch["sample_index"].tolist()):
            task_id, test_index, augmentation, _ = datamodule.describe("test", sample_index)
            self.predictions.append(Prediction(task_id, test_index, augmentation, tokens[row],
                                               float(q_halt[row]), int(steps[row])))
        # Only rows whose answer is known count towards the accuracy-by-segments curve.
        known = (batch["labels"] != IGNORE_LABEL).any(-1).cpu().numpy()
        self.correct_by_segment.append(outputs["exact_by_segment"].cpu().numpy()[known])
        self.halted_at.append(steps[known])

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.predictions:
            return
        datamodule = trainer.datamodule
        evaluated = {p.task_id for p in self.predictions}
        tasks = [task for task in datamodule.test_dataset.tasks if task.id in evaluated]
        truths = truths_from_tasks(tasks)
        unscored = len({(p.task_id, p.test_index) for p in self.predictions} - set(truths))
        candidates = vote(self.predictions, datamodule.canvas)
        scores, rows = score(candidates, truths, count_variants(self.predictions))
        official_votes = vote(self.predictions, datamodule.canvas, rule="official")
        official = {k: official_pass_at_k(official_votes, truths, k) for k in OFFICIAL_KS}
        attempts = attempts_for_pairs(candidates)
        curve = SegmentCurve(np.concatenate(self.correct_by_segment), np.concatenate(self.halted_at))

        # Under DDP every process evaluates the whole test set (same scores); one writes the files.
        pictures = []
        if trainer.is_global_zero:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            write_submission(self.output_dir / "submission.json", attempts)
            write_per_task_csv(self.output_dir / "per_task.csv", rows)
            write_votes(self.output_dir / "votes.json", candidates)
            curve.write_table(self.output_dir / "halting.csv")
            curve.plot(self.output_dir / "halting.png")
            if self.pictures > 0:
                pictures = render_all(tasks, attempts, truths, self.output_dir / "pictures",
                                      first_k=self.pictures, failures_only=self.failures_only)

        metrics = {
            "arc/pass@1": scores.pass_at_1,
            "arc/pass@2": scores.pass_at_2,
            "arc/all_correct@2": scores.all_correct_at_2,
            **{f"arc/official_pass@{k}": value for k, value in official.items()},
            "arc/num_tasks": float(scores.num_tasks),
            "arc/num_test_outputs": float(scores.num_test_outputs),
            "arc/num_unscored_test_inputs": float(unscored),
            "arc/num_variants": float(scores.num_variants),
            "arc/mean_segments": curve.mean_segments,
        }
        for segments, accuracy in zip(curve.segments, curve.accuracy):
            metrics[f"arc/exact_accuracy_after_{segments}_segments"] = float(accuracy)
        for key, value in metrics.items():
            pl_module.log(key, value)
        if not trainer.is_global_zero:
            return
        self._log_images(trainer)
        print(
            f"ARC evaluation: pass@2 {scores.pass_at_2:.4f}, pass@1 {scores.pass_at_1:.4f}, "
            f"all-correct@2 {scores.all_correct_at_2:.4f} (ARC Prize rule) over {scores.num_tasks} tasks, "
            f"{scores.num_test_outputs} test outputs, {scores.num_variants} augmented variants; "
            f"mean segments {curve.mean_segments:.2f}\n"
            f"  official rule (HRM's and TRM's papers): "
            + ", ".join(f"pass@{k} {value:.4f}" for k, value in official.items()) + "\n"
            + (f"  {unscored} test inputs without a known output: answered in submission.json, not scored\n"
               if unscored else "")
            + f"  files: {self.shown_dir}/submission.json, votes.json, per_task.csv, halting.csv/png"
            + (f", pictures/ ({len(pictures)} tasks)" if pictures else "")
        )

    def _log_images(self, trainer: L.Trainer) -> None:
        sheet = self.output_dir / "pictures" / "contact_sheet.png"
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):  # wandb
                if sheet.exists():  # one key each: wandb wants the images of one key to share a size
                    logger.log_image(key="arc/pictures", images=[str(sheet)])
                logger.log_image(key="arc/halting", images=[str(self.output_dir / "halting.png")])
