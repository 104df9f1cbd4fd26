"""What a run prints: its own lines, and only the third-party lines that matter.

Lightning greets every Trainer with its devices, precision, seed and a tip; wandb narrates its run in
twenty lines; a model summary draws a table. By default (`verbose=false`) those are silenced, as are the
warnings that are expected by design here; anything unexpected still shows. `verbose=true` shows all.
"""

from __future__ import annotations

import logging
import os
import warnings

# Warnings that are expected by design here and only bury the ones that matter.
EXPECTED_WARNINGS = (
    r"Precision .* is not supported by the model summary",  # the summary just counts fp32 bytes
    r".*isinstance\(treespec, LeafSpec\)",  # a deprecation inside Lightning itself
    r"Checkpoint directory .* exists and is not empty",  # checkpoints/<experiment>/ is stable on purpose
    r"You're resuming from a checkpoint that ended before the epoch ended",  # our sampler resumes exactly
    r"The '.*dataloader' does not have many workers",  # data.num_workers is a config choice
    r"Found \d+ module\(s\) in eval mode at the start of training",  # a distillation's frozen teacher
    # best.ckpt's metric exists only after the first validation; last.ckpt may be saved before it
    r"`ModelCheckpoint\(monitor=.*\)` could not find the monitored key",
    r"Experiment logs directory .* exists and is not empty",  # the run dir's csv/, written once per run
    # a checkpoint of another dir, evaluated or started from: its best-k bookkeeping is that dir's
    r"The dirpath has changed from",
    # hrm.predict's test-time adaptation trains on demonstrations only; there is nothing to validate on
    r"You defined a `validation_step` but have no `val_dataloader`",
    # RL with PPO (manual optimization): a rollout's checkpoint is meant to hold the weights after its updates
    r"Using ModelCheckpoint with manual optimization and every_n_train_steps",
)
# Libraries whose informational lines (devices, precision, seed, tips) a default run does not print.
CHATTY_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


def silence_expected_warnings() -> None:
    for pattern in EXPECTED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def quiet_third_parties(verbose: bool) -> None:
    """Expected warnings always; with `verbose` false, also Lightning's info lines and wandb's narration."""
    silence_expected_warnings()
    if verbose:
        return
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("WANDB_SILENT", "true")
