"""What every net over a token grid is sized by (`GridNetConfig`) and starts with (`GridInput`).

HRM, TRM and the plain transformer read the same input: a grid of tokens, flattened, with an optional
learned vector per puzzle id in front of it (the prefix) and a position encoding. Each net composes one
`GridInput` (`self.input = GridInput(config)`) and builds its stacks of blocks with `reasoning_level`,
which sizes them for the positions the input has, prefix included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hrm.models.layers import CellOffsets, ReasoningLevel, RotaryEmbedding, trunc_normal_
from hrm.utils.validation import InvalidSetting, at_least, at_most, one_of, positive

POS_ENCODINGS = ("rope", "learned", "grid", "none")
MIXERS = ("attention", "mlp")
MAX_BIASED_POSITIONS = 1024  # attn_bias learns positions^2 numbers per head


@dataclass
class GridNetConfig:
    """What every net over a token grid is sized by (HRM, TRM and the transformer add their own shape)."""

    vocab_size: int  # from the data (never typed twice): train.py fills it in
    seq_len: int  # from the data
    num_puzzle_identifiers: int = 0  # from the data; 0 disables the per-puzzle embedding
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    pos_encoding: str = "rope"  # or "learned" (a table per position), "grid" (a row plus a column table), "none"
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    puzzle_emb: bool = True  # learn a vector per puzzle id, prepended as a prefix
    # Positions the prefix takes: the puzzle's vector in the first, zeros in the rest (TRM: 16, extra
    # positions the recursion can write to; HRM: 1).
    puzzle_emb_len: int = 1
    mixer: str = "attention"  # or "mlp": an MLP across the positions (TRM's Sudoku model), no attention
    attn_bias: bool = False  # a learned attention bias per head and pair of positions (small grids only)
    relative_bias: bool = False  # a learned attention bias per head and (row, column) offset (square grids)

    def __post_init__(self):
        at_least(self, 1, "vocab_size", "seq_len", "hidden_size", "num_heads")
        at_least(self, 0, "num_puzzle_identifiers")
        at_most(self, 1 << 16, "hidden_size", "num_heads")  # far past any model here, short of exhausting memory
        positive(self, "expansion", "rope_theta", "norm_eps")
        one_of(self, "pos_encoding", POS_ENCODINGS)
        one_of(self, "mixer", MIXERS)
        at_least(self, 1, "puzzle_emb_len")
        at_most(self, 1024, "puzzle_emb_len")
        for key in ("attn_bias", "relative_bias"):
            if self.mixer == "mlp" and getattr(self, key):
                raise InvalidSetting(key, True, "has no attention to bias with mixer='mlp'")
        if self.relative_bias and self.grid_side is None:
            raise InvalidSetting("relative_bias", True, f"needs a square grid, got seq_len {self.seq_len}")
        if self.hidden_size % self.num_heads:
            raise InvalidSetting("hidden_size", self.hidden_size, f"must be divisible by num_heads={self.num_heads}")
        if self.pos_encoding == "rope" and (self.hidden_size // self.num_heads) % 2:
            raise InvalidSetting("hidden_size", self.hidden_size,
                                 f"RoPE needs an even width per head (hidden_size / num_heads={self.num_heads})")

    @property
    def grid_side(self) -> int | None:
        """The side of a square grid of seq_len cells, None when seq_len is not a square."""
        side = math.isqrt(self.seq_len)
        return side if side * side == self.seq_len else None

    @property
    def prefix_len(self) -> int:
        """Positions in front of the grid: the puzzle-embedding prefix, when there is a table to read."""
        return self.puzzle_emb_len if self.puzzle_emb and self.num_puzzle_identifiers > 0 else 0

    @property
    def positions(self) -> int:
        """The length of every state a net keeps: prefix + grid."""
        return self.prefix_len + self.seq_len


class GridInput(nn.Module):
    """Token embeddings, the optional learned vector per puzzle id prepended as the prefix, and the position
    encoding: RoPE tables over the whole sequence (returned for the attention layers), or a learned table
    added to the embeddings ("learned": one vector per position; "grid": a row vector plus a column one)."""

    def __init__(self, config: GridNetConfig):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.scale = math.sqrt(d)  # embeddings start at std 1/sqrt(d) and are scaled back to ~1
        self.embed_tokens = nn.Embedding(config.vocab_size, d)
        trunc_normal_(self.embed_tokens.weight, std=1.0 / self.scale)
        # One learned vector per puzzle id (an augmented variant of an ARC task). Sparse gradients: only
        # the rows of this batch get updated (by sign-SGD, see hrm.optim), so a 400k-row table is cheap.
        self.puzzle_emb = None
        if config.prefix_len:
            self.puzzle_emb = nn.Embedding(config.num_puzzle_identifiers, d, sparse=True)
            nn.init.zeros_(self.puzzle_emb.weight)
        # RoPE (HRM's default) encodes 1-D offsets; a learned table lets attention find any relation
        # between cells, e.g. Sudoku's same row, column or box, which a flattened grid hides from RoPE.
        self.rotary = None
        if config.pos_encoding == "rope":
            self.rotary = RotaryEmbedding(d // config.num_heads, config.positions, config.rope_theta)
        elif config.pos_encoding == "learned":
            self.embed_pos = self._table(config.positions)
        elif config.pos_encoding == "grid":
            # A square grid's position as row + column: "same row" and "same column" are then one vector
            # each, which attention finds from the first steps instead of learning them cell by cell.
            side = config.grid_side
            if side is None:
                raise ValueError(f"pos_encoding 'grid' needs a square grid, got seq_len {config.seq_len}")
            cells = torch.arange(config.seq_len)
            prefix = torch.full((config.prefix_len,), side)  # the prefix gets a row and a column of its own
            self.register_buffer("grid_rows", torch.cat((prefix, cells // side)), persistent=False)
            self.register_buffer("grid_cols", torch.cat((prefix, cells % side)), persistent=False)
            self.embed_row, self.embed_col = self._table(side + 1), self._table(side + 1)
        # "none": the MLP mixer knows every position by its own weights

    def _table(self, rows: int) -> nn.Embedding:
        table = nn.Embedding(rows, self.config.hidden_size)
        trunc_normal_(table.weight, std=1.0 / self.scale)
        return table

    def embed(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor | None) -> torch.Tensor:
        """[B, seq_len] tokens (and [B] puzzle ids) -> [B, prefix + seq_len, hidden] in float32."""
        x = self.embed_tokens(inputs)
        if self.puzzle_emb is not None:
            prefix = self.puzzle_emb(puzzle_identifiers).unsqueeze(1).to(x.dtype)
            blank = prefix.new_zeros(prefix.shape[0], self.config.prefix_len - 1, prefix.shape[2])
            x = torch.cat((prefix, blank, x), dim=1)
        encoding = self.config.pos_encoding
        if encoding == "learned":
            x = x + self.embed_pos.weight.to(x.dtype)
        elif encoding == "grid":
            x = x + (self.embed_row(self.grid_rows) + self.embed_col(self.grid_cols)).to(x.dtype)
        return self.scale * x

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """(the embedded sequence, the RoPE tables or None), in the autocast dtype when autocast is on: the
        whole recurrent state then runs in it (bf16), as in HRM; RMSNorm still computes in float32."""
        dtype = forward_dtype(batch["inputs"].device)
        x = self.embed(batch["inputs"], batch.get("puzzle_identifiers")).to(dtype)
        rope = None if self.rotary is None else tuple(table.to(dtype) for table in self.rotary(x.shape[1]))
        return x, rope


def reasoning_level(config: GridNetConfig, num_layers: int) -> ReasoningLevel:
    """A stack of `num_layers` blocks sized by the config, over all its positions (prefix included)."""
    positions = config.positions
    if config.attn_bias and positions > MAX_BIASED_POSITIONS:
        raise ValueError(f"attn_bias: {positions} positions would need {positions}^2 biases per head")
    offsets = grid_offsets(config.grid_side, config.prefix_len) if config.relative_bias else None
    return ReasoningLevel(num_layers, config.hidden_size, config.num_heads, config.expansion, config.norm_eps,
                          positions if config.attn_bias else 0, positions if config.mixer == "mlp" else 0, offsets)


def grid_offsets(side: int, prefix_len: int) -> CellOffsets:
    """The (row, column) offsets of a side x side grid's cells, (2 side - 1)^2 of them, by Manhattan distance;
    every pair with a prefix position (if any) shares one more offset, at distance 0."""
    cells = torch.arange(side * side)
    rows, cols = cells // side, cells % side
    width = 2 * side - 1
    index = torch.full((prefix_len + side * side,) * 2, width * width, dtype=torch.long)
    row_offset, col_offset = rows[None, :] - rows[:, None] + side - 1, cols[None, :] - cols[:, None] + side - 1
    index[prefix_len:, prefix_len:] = row_offset * width + col_offset
    steps = (torch.arange(width) - (side - 1)).abs()
    distance = (steps[:, None] + steps[None, :]).flatten()
    if prefix_len:
        distance = torch.cat((distance, torch.zeros(1, dtype=torch.long)))
    return CellOffsets(index, distance)


def forward_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype when autocast is on for this device, else float32."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return torch.float32
