"""ARC grids: validation and the fixed-canvas token encoding.

A grid of at most 30x30 colours (0-9) becomes a flat sequence of canvas*canvas tokens:

    PAD=0 everywhere outside the grid, EOS=1 on the row just below the grid and on the column just
    right of it, colours shifted to 2..11.

The EOS marks are what let the model say how big its answer is; they are supervised, PAD is not.
"""

import numpy as np

from hrm.errors import DataFormatError

PAD = 0
EOS = 1
COLOR_OFFSET = 2
NUM_COLORS = 10
VOCAB_SIZE = COLOR_OFFSET + NUM_COLORS  # 12
IGNORE_LABEL = -100  # torch's cross_entropy default ignore_index


def validate_grid(grid, where: str, max_size: int = 30) -> np.ndarray:
    """Check that `grid` (nested lists or an array) is a rectangular grid of colours 0-9 that fits
    max_size x max_size; return it as a 2-D uint8 array. `where` names the grid in error messages."""
    if isinstance(grid, np.ndarray):
        if grid.ndim != 2:
            raise DataFormatError(f"{where}: expected a 2-D grid, got an array of shape {grid.shape}")
        rows = grid
    else:
        if not isinstance(grid, (list, tuple)) or not all(isinstance(row, (list, tuple)) for row in grid):
            got = "a list that is not a list of lists" if isinstance(grid, list) else f"a {type(grid).__name__}"
            raise DataFormatError(f"{where}: expected a grid (a list of rows of integers), got {got}")
        rows = grid
    if len(rows) == 0 or len(rows[0]) == 0:
        raise DataFormatError(f"{where}: grid is empty")
    width = len(rows[0])
    for r, row in enumerate(rows):
        if len(row) != width:
            raise DataFormatError(f"{where}: row {r} has {len(row)} cells, expected {width}")
    height = len(rows)
    if height > max_size or width > max_size:
        raise DataFormatError(f"{where}: grid is {height}x{width}, larger than {max_size}x{max_size}")

    arr = _integer_array(grid)
    if arr is None:  # JSON true/false, 1.0, "3", nested lists, huge ints: name the first culprit
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if not _is_int(value) or not 0 <= value < NUM_COLORS:
                    raise DataFormatError(f"{where}: value {value!r} at ({r}, {c}) is not a colour 0-9")
        raise DataFormatError(f"{where}: grid is not an array of integers")
    bad = np.argwhere((arr < 0) | (arr >= NUM_COLORS))
    if len(bad):
        r, c = bad[0]
        raise DataFormatError(f"{where}: colour {arr[r, c]} at ({r}, {c}) is outside 0-9")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _integer_array(grid) -> np.ndarray | None:
    """`grid` as a 2-D integer array, or None when it is anything else (ragged rows are checked before)."""
    try:
        arr = np.asarray(grid)
    except (ValueError, TypeError):
        return None
    if arr.ndim != 2 or arr.dtype.kind not in "iu":
        return None
    # numpy quietly turns [[0, True]] into integers; JSON's true is not a colour.
    if not isinstance(grid, np.ndarray) and any(isinstance(v, bool) for row in grid for v in row):
        return None
    return arr


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def encode_grid(grid: np.ndarray, canvas: int = 30, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Place `grid` at `offset` on a canvas x canvas board of tokens; return it flattened (uint8)."""
    h, w = grid.shape
    r, c = offset
    if r < 0 or c < 0 or r + h > canvas or c + w > canvas:
        raise ValueError(f"a {h}x{w} grid at offset {offset} does not fit a {canvas}x{canvas} canvas")
    board = np.zeros((canvas, canvas), dtype=np.uint8)  # PAD == 0
    board[r : r + h, c : c + w] = grid + COLOR_OFFSET
    # EOS only where it falls inside the canvas: a grid touching the edge needs no mark there.
    if r + h < canvas:
        board[r + h, c : c + w] = EOS
    if c + w < canvas:
        board[r : r + h, c + w] = EOS
    return board.reshape(-1)


def decode_grid(tokens, canvas: int = 30) -> np.ndarray:
    """Read a grid back from the top-left corner of a token board (the model's prediction, say).

    Width = leading colour tokens of row 0; height = leading rows whose first `width` tokens are all
    colours. Anything after the first non-colour is ignored, so any token sequence decodes to something.
    A token past the colours (a model with a larger vocabulary may predict one) is no colour either.
    """
    board = np.asarray(tokens).reshape(canvas, canvas)
    is_colour = (board >= COLOR_OFFSET) & (board < COLOR_OFFSET + NUM_COLORS)
    width = _leading_true(is_colour[0])
    if width == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    height = _leading_true(is_colour[:, :width].all(axis=1))
    return (board[:height, :width] - COLOR_OFFSET).astype(np.uint8)


def crop_official(tokens, canvas: int = 30) -> np.ndarray:
    """Read a grid back as HRM's evaluation does: the largest top-left rectangle of colours, where each
    row's run of colours (up to its first non-colour) can only narrow the rectangle going down; the
    largest area wins, the shortest on a tie. Empty (0x0) when the top-left cell is no colour."""
    board = np.asarray(tokens).reshape(canvas, canvas)
    is_colour = (board >= COLOR_OFFSET) & (board < COLOR_OFFSET + NUM_COLORS)
    width, best, size = canvas, 0, (0, 0)
    for row in range(canvas):
        width = min(width, _leading_true(is_colour[row]))
        if (row + 1) * width > best:
            best, size = (row + 1) * width, (row + 1, width)
    return (board[:size[0], :size[1]] - COLOR_OFFSET).astype(np.uint8)


def _leading_true(mask: np.ndarray) -> int:
    """Length of the run of True at the start of a 1-D boolean array."""
    falses = np.flatnonzero(~mask)
    return int(falses[0]) if len(falses) else len(mask)


def labels_from_tokens(tokens: np.ndarray) -> np.ndarray:
    """Training targets: the tokens themselves, with PAD ignored (EOS stays supervised so the model
    learns the output's shape)."""
    labels = tokens.astype(np.int64)
    labels[tokens == PAD] = IGNORE_LABEL
    return labels
