"""ARC augmentations: the 8 dihedral transforms, colour permutations that keep black, translation.

An ARC rule survives rotating/reflecting every grid of a task the same way and renaming its colours
consistently, so each (task, augmentation) pair is a new puzzle with its own puzzle id. Black (0) is
the background in most tasks, so it never moves.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from hrm.data.grids import NUM_COLORS


def dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """The k-th of the 8 symmetries of the square: 0 identity, 1-3 rotations by 90/180/270 degrees
    (counter-clockwise), 4 transpose, 5 left-right flip, 6 up-down flip, 7 anti-transpose."""
    if k == 0:
        return grid
    if 1 <= k <= 3:
        return np.rot90(grid, k)
    if k == 4:
        return grid.T
    if k == 5:
        return np.fliplr(grid)
    if k == 6:
        return np.flipud(grid)
    if k == 7:
        return grid.T[::-1, ::-1]
    raise ValueError(f"dihedral index must be 0-7, got {k}")


# Rotations by 90 and 270 undo each other; every reflection is its own inverse.
_DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)


def inverse_dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    return dihedral(grid, _DIHEDRAL_INVERSE[k])


@dataclass(frozen=True)
class Augmentation:
    """A dihedral transform and a colour renaming: colour c becomes colour_perm[c]."""

    dihedral: int
    colour_perm: tuple[int, ...]

    def __post_init__(self):
        if not 0 <= self.dihedral < 8:
            raise ValueError(f"dihedral index must be 0-7, got {self.dihedral}")
        if sorted(self.colour_perm) != list(range(NUM_COLORS)) or self.colour_perm[0] != 0:
            raise ValueError(f"colour_perm must permute 0-9 and keep 0 fixed, got {self.colour_perm}")

    @property
    def is_identity(self) -> bool:
        return self == IDENTITY

    def apply(self, grid: np.ndarray) -> np.ndarray:
        lut = np.asarray(self.colour_perm, dtype=np.uint8)
        return np.ascontiguousarray(dihedral(lut[grid], self.dihedral))

    def invert(self, grid: np.ndarray) -> np.ndarray:
        inverse_lut = np.argsort(self.colour_perm).astype(np.uint8)
        return np.ascontiguousarray(inverse_lut[inverse_dihedral(grid, self.dihedral)])


IDENTITY = Augmentation(0, tuple(range(NUM_COLORS)))


def stable_hash(text: str) -> int:
    """A 64-bit hash of `text` that, unlike hash(), is the same in every process and run."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


_CHUNK = 64  # candidates drawn per rng call; fixed so a smaller num_aug gives a prefix of a larger one


def augmentation_table(task, num_aug: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The identity and up to `num_aug` distinct random augmentations of `task` as arrays:
    (dihedral uint8 [n], colour_perm uint8 [n, 10]), deterministic in (seed, task.id).

    Two augmentations are the same when they produce identical grids for every pair of the task (a
    symmetric task or one with few colours has few distinct variants), so candidates are de-duplicated
    on a digest of the augmented task and attempts are capped at 10 * num_aug.
    """
    grids = [g for pair in (*task.train, *task.test) for g in pair if g is not None]
    # The 8 transformed versions of the whole task, each flattened into one buffer: a candidate is
    # then one table lookup over that buffer plus one digest, whatever the number of grids.
    flat = [np.concatenate([dihedral(g, k).ravel() for g in grids]) for k in range(8)]
    shapes = [np.array([dihedral(g, k).shape for g in grids], dtype=np.int32).tobytes() for k in range(8)]

    def key(k: int, lut: np.ndarray) -> bytes:
        return shapes[k] + hashlib.blake2b(lut[flat[k]].tobytes(), digest_size=16).digest()

    identity_lut = np.arange(NUM_COLORS, dtype=np.uint8)
    seen = {key(0, identity_lut)}
    dihedrals, perms = [0], [identity_lut]
    rng = np.random.default_rng([seed, stable_hash(task.id)])
    attempts = 0
    while len(perms) <= num_aug and attempts < 10 * num_aug:
        ks = rng.integers(0, 8, size=_CHUNK)
        luts = np.zeros((_CHUNK, NUM_COLORS), dtype=np.uint8)  # column 0 stays 0: black is fixed
        luts[:, 1:] = np.argsort(rng.random((_CHUNK, NUM_COLORS - 1)), axis=1) + 1
        for k, lut in zip(ks.tolist(), luts):
            if len(perms) > num_aug or attempts >= 10 * num_aug:
                break
            attempts += 1
            digest = key(k, lut)
            if digest not in seen:
                seen.add(digest)
                dihedrals.append(k)
                perms.append(lut)
    return np.array(dihedrals, dtype=np.uint8), np.stack(perms)


def task_augmentations(task, num_aug: int, seed: int) -> list[Augmentation]:
    """`augmentation_table` as Augmentation objects: identity first, then the distinct random ones."""
    dihedrals, perms = augmentation_table(task, num_aug, seed)
    return [Augmentation(int(k), tuple(p.tolist())) for k, p in zip(dihedrals, perms)]


def random_offset(rng: np.random.Generator, shapes, canvas: int, eos_room: bool = True) -> tuple[int, int]:
    """A translation (r, c) at which every grid of `shapes` fits the canvas. With `eos_room` the grids'
    EOS row and column stay inside too (a grid as tall or wide as the canvas leaves no room and gets 0);
    without it the offsets run over the whole canvas, 0..canvas-h, as the official HRM/TRM builder draws
    them (a grid may then touch the far edge and lose its EOS mark there)."""
    max_h = max(h for h, _ in shapes)
    max_w = max(w for _, w in shapes)
    if max_h > canvas or max_w > canvas:
        raise ValueError(f"a {max_h}x{max_w} grid does not fit a {canvas}x{canvas} canvas")
    spare = 1 if eos_room else 0
    slack_r = max(canvas - max_h - spare, 0)
    slack_c = max(canvas - max_w - spare, 0)
    return int(rng.integers(0, slack_r + 1)), int(rng.integers(0, slack_c + 1))


@dataclass(frozen=True)
class Translation:
    """How training pairs are moved on the canvas. `enabled`: each pair at a random offset, the same for
    its input and output (deterministic in the seed and the sample). `to_edge`: offsets over the whole
    canvas (the official builder's range) instead of keeping the EOS marks inside. `keep_one`: one pair of
    every variant, drawn per variant, stays at the top-left (the official builder leaves one untranslated)."""

    enabled: bool = False
    to_edge: bool = False
    keep_one: bool = False


@dataclass
class Variants:
    """All (task, augmentation) puzzles, grouped by task. Variant v has puzzle id v + 1 (0 = none), or the
    id an official build gave it (hrm.data.official_ids)."""

    task: np.ndarray  # int32 [V]: index into the task list
    dihedral: np.ndarray  # uint8 [V]
    colour_perm: np.ndarray  # uint8 [V, 10]
    first: np.ndarray  # int64 [T]: the first variant of each task; task t owns first[t]:first[t+1]
    count: np.ndarray  # int64 [T]
    puzzle_id: np.ndarray | None = None  # int64 [V]; None: v + 1
    table_rows: int | None = None  # the puzzle-embedding table's rows; None: one per id used, and id 0

    def __post_init__(self):
        if self.puzzle_id is None:
            self.puzzle_id = np.arange(1, len(self.task) + 1, dtype=np.int64)

    @property
    def num_puzzle_identifiers(self) -> int:
        """Rows a puzzle-embedding table needs (id 0 is no puzzle)."""
        return self.table_rows if self.table_rows is not None else int(self.puzzle_id.max(initial=0)) + 1

    @classmethod
    def build(cls, tasks: list, num_aug: int, seed: int) -> "Variants":
        tables = [augmentation_table(task, num_aug, seed) for task in tasks]
        count = np.array([len(d) for d, _ in tables], dtype=np.int64)
        return cls(
            task=np.repeat(np.arange(len(tasks), dtype=np.int32), count),
            dihedral=np.concatenate([d for d, _ in tables]),
            colour_perm=np.concatenate([p for _, p in tables]),
            first=np.cumsum(count) - count,
            count=count,
        )

    @classmethod
    def from_arrays(cls, task: np.ndarray, dihedral: np.ndarray, colour_perm: np.ndarray,
                    puzzle_id: np.ndarray | None = None, table_rows: int | None = None) -> "Variants":
        """The table again from its per-variant arrays (as a precomputed dataset stores them); every task
        has at least its identity variant, so the counts per task follow from `task`."""
        count = np.bincount(task).astype(np.int64)
        return cls(task=task, dihedral=dihedral, colour_perm=colour_perm, first=np.cumsum(count) - count, count=count,
                   puzzle_id=puzzle_id, table_rows=table_rows)

    def augmentation(self, v: int) -> Augmentation:
        return Augmentation(int(self.dihedral[v]), tuple(self.colour_perm[v].tolist()))
