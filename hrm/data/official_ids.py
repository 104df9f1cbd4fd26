"""ARC variants named by an official HRM/TRM dataset build (its `identifiers.json`).

The official builder names each augmented variant `<task>_t<k>_<colours>` (`<task>` alone for the task as
given): k is its dihedral transform, <colours> the ten digits of its colour mapping (colour c becomes the
c-th digit, 0 first and fixed), and the variant's puzzle id is its index in identifiers.json (0 is
`<blank>`). A model trained on that build learned one puzzle-embedding row per id, so evaluating it here
needs the same variants under the same ids: this module reads them, as data, for the tasks of a split.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hrm.data.augment import Variants
from hrm.data.grids import NUM_COLORS
from hrm.errors import DataFormatError, UserError
from hrm.utils.files import read_json

# The official dihedral ids in this framework's numbering (hrm.data.augment.dihedral): theirs 4, 5, 6 are a
# left-right flip, an up-down flip and the transpose; ours 5, 6, 4.
OFFICIAL_DIHEDRAL = (0, 1, 2, 3, 5, 6, 4, 7)
VARIANT_NAME = re.compile(r"(?P<task>.+)_t(?P<k>[0-7])_(?P<colours>\d{10})")
MAX_BYTES = 1 << 30  # ARC-AGI-2's 1.9M names take ~60 MB


def read_identifiers(path: str | Path) -> list[str]:
    names = read_json(Path(path), "official identifiers.json", MAX_BYTES)
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise DataFormatError(f"{path}: expected a list of variant names (the official build's identifiers.json)")
    return names


def parse_name(name: str, where: str) -> tuple[str, int, np.ndarray]:
    """(task id, dihedral in our numbering, colour permutation) of one official variant name."""
    match = VARIANT_NAME.fullmatch(name)
    if match is None:
        return name, 0, np.arange(NUM_COLORS, dtype=np.uint8)
    colours = np.array([int(ch) for ch in match["colours"]], dtype=np.uint8)
    if colours[0] != 0 or sorted(colours.tolist()) != list(range(NUM_COLORS)):
        raise DataFormatError(f"{where}: {name!r}: its colour mapping is not a permutation of 0-9 keeping 0")
    return match["task"], OFFICIAL_DIHEDRAL[int(match["k"])], colours


def official_variants(path: str | Path, tasks: list) -> Variants:
    """The variants identifiers.json names for each of `tasks` (the task as given first, then the rest in the
    file's order), each with its official puzzle id. A task it does not name is one error: the model never
    trained on it."""
    names = read_identifiers(path)
    wanted = {task.id for task in tasks}
    by_task: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    for puzzle_id, name in enumerate(names):
        if puzzle_id == 0:
            continue  # <blank>
        task_id, k, colours = parse_name(name, f"{path}: entry {puzzle_id}")
        if task_id in wanted:
            by_task.setdefault(task_id, []).append((puzzle_id, k, colours))
    missing = [task.id for task in tasks if not any(k == 0 and (c == np.arange(NUM_COLORS)).all()
                                                    for _, k, c in by_task.get(task.id, []))]
    if missing:
        raise UserError(f"{path}: names no variant of task {missing[0]}"
                        f"{f' (nor of {len(missing) - 1} more)' if len(missing) > 1 else ''} as given: the model"
                        " was not trained on it (data.source, data.task_ids and data.extra_task_dirs choose the"
                        " tasks; the build's were its own)")
    rows = []
    for t, task in enumerate(tasks):
        # identity first, as Variants.build orders them (the test stage reads a prefix of each task's variants)
        entries = sorted(by_task[task.id], key=lambda e: not (e[1] == 0 and (e[2] == np.arange(NUM_COLORS)).all()))
        rows += [(t, *entry) for entry in entries]
    return Variants.from_arrays(
        task=np.array([r[0] for r in rows], dtype=np.int32),
        dihedral=np.array([r[2] for r in rows], dtype=np.uint8),
        colour_perm=np.stack([r[3] for r in rows]),
        puzzle_id=np.array([r[1] for r in rows], dtype=np.int64),
        table_rows=len(names),
    )


def check_table_rows(path: str | Path, rows: int) -> None:
    """A puzzle table trained on one build has a row per name of that build's identifiers.json."""
    names = len(read_identifiers(path))
    if names != rows:
        raise UserError(f"{path}: names {names:,} puzzle ids, but the checkpoint's puzzle table has {rows:,} rows:"
                        " it is not the identifiers.json of the build this model was trained on")
