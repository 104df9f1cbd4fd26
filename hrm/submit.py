"""python -m hrm.submit ckpt=<checkpoint or saved folder> tasks=<challenges JSON or folder> out=<submission.json>
budget_s=<seconds> [adapt=true] [variants=8] [batch_size=64]

An ARC Prize submission within a total time budget, offline (as on Kaggle): a complete submission.json from
the first seconds on, improved task by task until the budget runs out (hrm/predict/offline.py), and its log
beside it (<out>.log). Nothing is downloaded: set HF_HUB_OFFLINE=1 and WANDB_MODE=disabled on such a machine.
"""

from __future__ import annotations

import time

START = time.monotonic()  # the budget counts from here, before the heavy imports

import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

from omegaconf import MISSING  # noqa: E402

from hrm.errors import UserError  # noqa: E402
from hrm.utils.cli import one_line_errors  # noqa: E402
from hrm.utils.settings_cli import parse_key_values  # noqa: E402


@dataclass
class SubmitSettings:
    ckpt: str = MISSING  # a checkpoint, or a folder saved by `python -m hrm.hub save`
    tasks: str = MISSING  # the ARC Prize's challenges file ({task_id: task}), or a folder of task files
    out: str = "submission.json"
    budget_s: float = MISSING  # seconds for everything, loading included
    adapt: bool = True  # fine-tune on the demonstrations of tasks the model never trained on, first
    adapt_share: float = 0.8  # of the time left after answering the known tasks, at most, for that
    adapt_steps: int = 1000
    variants: Optional[int] = 8  # augmented variants beside identity per test input (null: as trained)
    batch_size: int = 64


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        settings = parse_key_values(SubmitSettings, sys.argv[1:] if argv is None else argv, __doc__)
        if not settings.budget_s > 0 or not 0 <= settings.adapt_share < 1:
            raise UserError("budget_s must be more than 0 and adapt_share between 0 and 1")
        from hrm.console import quiet_third_parties, silence_expected_warnings
        from hrm.hub.pretrained import read_model_source
        from hrm.load import model_from_checkpoint
        from hrm.predict.adapt import AdaptSettings
        from hrm.predict.inputs import read_arc_items
        from hrm.predict.offline import Budget, submit
        from hrm.utils.resolvers import cpu_precision

        silence_expected_warnings()
        quiet_third_parties(verbose=False)
        tasks = read_arc_items(settings.tasks)
        checkpoint, where = read_model_source(settings.ckpt)
        module = model_from_checkpoint(checkpoint, where)
        if not hasattr(module, "run_to_halt"):
            raise UserError(f"{settings.ckpt}: not a token-grid model (HRM, TRM, transformer)")
        budget = Budget(settings.budget_s, settings.adapt_share, settings.variants,
                        AdaptSettings(steps=settings.adapt_steps) if settings.adapt else None)
        submit(module, checkpoint, where, tasks, Path(settings.out), budget, cpu_precision(), settings.batch_size,
               START)
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    raise SystemExit(main())
