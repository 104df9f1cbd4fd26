"""Errors that a user can fix: bad input files, bad configs, mismatched checkpoints.

`train.py` (and every `python -m hrm...` entry point) catches `UserError` and prints its message as a
single line with a non-zero exit, instead of a traceback. Messages name the file or item and the problem.
"""


class UserError(Exception):
    """An error caused by the user's input or configuration; its message is shown as one line."""

    exit_code = 2


class DataFormatError(UserError):
    """A data file (ARC JSON, agent log, ...) is malformed."""


class VocabularyMismatchError(UserError):
    """Token ids would index past the model's embedding table."""


class CheckpointError(UserError):
    """A checkpoint is missing, truncated, or belongs to another model."""


class TrainingDiverged(UserError):
    """A loss, gradient or weight became NaN or infinite: the run stops before the weights change."""
