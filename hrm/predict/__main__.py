"""python -m hrm.predict ckpt=<checkpoint> input=<puzzle, file or folder> [key=value ...]

Runs a trained token-grid model (HRM, TRM, transformer) on puzzles of your own:

- ARC: a task JSON file or a folder of them -> submission.json (two attempts per test input after voting
  over augmented variants), votes.json, per_task.csv, pictures/; tasks whose test outputs are given are
  scored;
- Sudoku: the puzzle itself (81 characters, '.' or '0' a blank; or 16 / 36), a text file holding one, or
  a CSV with a column q (and optionally a) -> each answer, whether it is a valid grid keeping the givens,
  and the segments used, in predictions.csv;
- a maze: n lines of '# SG' (a text file, or the argument itself) or a CSV -> the path drawn with 'o'.

Settings (key=value; see PredictSettings): out (default experiments/predict/<input name>, a new folder
each run), kind (auto | arc | sudoku | maze), variants (ARC: augmented variants beside identity per test
input; null: as the model trained), halting (stop where the halting head says; null: as the model
evaluates), halting_confidence (how sure the halting head must be to stop; null: as the model evaluates), batch_size, pictures, progress, force (replace an existing out folder); ARC tasks the model
never trained on: adapt=true fine-tunes on their demonstrations first (adapt_steps, adapt_seconds,
adapt_num_aug, adapt_batch_size). Every file is written into a temporary folder that takes the name `out`
only once complete.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

from omegaconf import MISSING

from hrm.console import quiet_third_parties, silence_expected_warnings
from hrm.errors import UserError
from hrm.hub.pretrained import read_model_source
from hrm.load import model_from_checkpoint
from hrm.predict.inputs import KINDS, input_kind, read_arc_items, read_grid_items
from hrm.utils.cli import one_line_errors
from hrm.utils.io import atomic_write_text, replace_dir
from hrm.utils.resolvers import cpu_precision
from hrm.utils.settings_cli import parse_key_values

DEFAULT_OUT = Path("experiments/predict")


@dataclass
class PredictSettings:
    ckpt: str = MISSING  # a checkpoint train.py wrote (or hrm.convert), a saved folder (hrm.hub) or a hub repo id
    input: str = MISSING  # the puzzle itself, a file, a CSV, or a folder of ARC task files
    out: Optional[str] = None  # None: experiments/predict/<input name>, a new folder each run
    kind: str = "auto"  # auto | arc | sudoku | maze
    variants: Optional[int] = None  # ARC: augmented variants beside identity per test input (None: as trained)
    halting: Optional[bool] = None  # stop each puzzle where the halting head says (None: as the model evaluates)
    halting_confidence: Optional[float] = None  # stop once the head is this sure (None: as the model evaluates)
    batch_size: int = 64
    pictures: int = 16  # ARC: tasks drawn
    progress: bool = True
    force: bool = False  # replace an existing `out` folder
    # ARC: first fine-tune on the demonstrations of the tasks the model never trained on (hrm/predict/adapt.py)
    adapt: bool = False
    adapt_steps: int = 300
    adapt_seconds: Optional[float] = None  # wall time at most, beside the steps
    adapt_num_aug: int = 8  # augmented variants of each new task, each a puzzle id learned from its demonstrations
    adapt_batch_size: int = 16


def parse_settings(argv: list[str]) -> PredictSettings:
    settings = parse_key_values(PredictSettings, argv, __doc__)
    if settings.kind not in KINDS:
        raise UserError(f"kind={settings.kind!r}: must be one of {', '.join(KINDS)}")
    for name in ("batch_size", "pictures", "variants", "adapt_steps", "adapt_num_aug", "adapt_batch_size"):
        value, least = getattr(settings, name), 0 if name in ("pictures", "variants", "adapt_num_aug") else 1
        if value is not None and value < least:
            raise UserError(f"{name}={value}: must be at least {least}")
    if settings.halting_confidence is not None and not 0 <= settings.halting_confidence <= 1:
        raise UserError(f"halting_confidence={settings.halting_confidence}: must be between 0 and 1")
    if settings.adapt_seconds is not None and not settings.adapt_seconds > 0:
        raise UserError(f"adapt_seconds={settings.adapt_seconds}: must be more than 0")
    return settings


def output_dir(settings: PredictSettings) -> Path:
    if settings.out is not None:
        out = Path(settings.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())) and not settings.force:
            raise UserError(f"{out}: exists and is not empty; pass force=true to replace it, or another out=")
        return out
    name = Path(settings.input).stem if Path(settings.input).exists() else "input"
    out = DEFAULT_OUT / name
    for number in range(2, 10_000):
        if not out.exists():
            return out
        out = DEFAULT_OUT / f"{name}-{number}"
    raise UserError(f"{DEFAULT_OUT}: too many earlier predictions named {name}; pass out=")


def load(settings: PredictSettings):
    checkpoint, where = read_model_source(settings.ckpt)  # a checkpoint file, a saved folder or a hub repository
    module = model_from_checkpoint(checkpoint, where)
    if not hasattr(module, "run_to_halt"):
        raise UserError(f"{settings.ckpt}: a {type(module).__name__} checkpoint; hrm.predict runs the token-grid "
                        "models (HRM, TRM, transformer)")
    if settings.halting is not None:
        module.act_config = replace(module.act_config, eval_halting=settings.halting)
    if settings.halting_confidence is not None:
        module.act_config = replace(module.act_config, eval_halt_confidence=settings.halting_confidence)
    return checkpoint, module


def predict_grids(settings: PredictSettings, module, out: Path) -> None:
    from hrm.predict.grid_puzzles import check_fits, solve

    items = read_grid_items(settings.input, settings.kind)
    check_fits(module, items, settings.ckpt)
    answers = solve(module, items, cpu_precision(), settings.batch_size, settings.progress and len(items.names) > 1)

    def write(folder: Path) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(asdict(answers[0])), lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(a) for a in answers)
        atomic_write_text(folder / "predictions.csv", buffer.getvalue())

    replace_dir(out, write)
    what = "Sudoku" if items.kind == "sudoku" else "maze"
    rule = "a valid grid keeping the givens" if items.kind == "sudoku" else "a shortest path from S to G"
    if len(answers) == 1:
        a = answers[0]
        print(f"{what} ({items.source}):\n{a.puzzle}\n\nanswer ({'solved' if a.solved else 'NOT solved'}: "
              f"{'' if a.solved else 'not '}{rule}; {a.segments} segment{'s' * (a.segments != 1)}, halting "
              f"confidence {a.confidence:.2f}):\n{a.answer}")
    else:
        solved = sum(a.solved for a in answers)
        given = [a.equals_given_answer for a in answers if a.equals_given_answer is not None]
        print(f"{len(answers)} {what}s from {items.source}: solved {solved} ({solved / len(answers):.1%}; {rule})"
              + (f", equal to the given answer {sum(given)}" if given else "")
              + f"; mean segments {sum(a.segments for a in answers) / len(answers):.2f}")
    print(f"written: {out}/predictions.csv")


def predict_tasks(settings: PredictSettings, checkpoint: dict, module, out: Path) -> None:
    from hrm.predict.adapt import AdaptSettings
    from hrm.predict.arc import predict_arc

    tasks = read_arc_items(settings.input)
    adapting = AdaptSettings(steps=settings.adapt_steps, seconds=settings.adapt_seconds,
                             num_aug=settings.adapt_num_aug, batch_size=settings.adapt_batch_size) \
        if settings.adapt else None
    lines = []
    replace_dir(out, lambda folder: lines.append(predict_arc(
        module, checkpoint, settings.ckpt, tasks, folder, out, settings.variants, cpu_precision(), settings.batch_size,
        settings.pictures, settings.progress, adapting)))
    print(f"the model: {lines[0]}\nwritten: {out}/ (submission.json, votes.json, per_task.csv, pictures/)")


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        settings = parse_settings(sys.argv[1:] if argv is None else argv)
        silence_expected_warnings()
        quiet_third_parties(verbose=False)
        out = output_dir(settings)
        kind = input_kind(settings.input, settings.kind)
        checkpoint, module = load(settings)
        if kind == "arc":
            predict_tasks(settings, checkpoint, module, out)
        else:
            predict_grids(settings, module, out)
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    raise SystemExit(main())
