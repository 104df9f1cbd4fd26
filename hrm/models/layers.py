"""Transformer building blocks shared by the recursive models (HRM, TRM, plain transformer).

Pure PyTorch, no flash-attn: attention goes through `F.scaled_dot_product_attention`, which picks the
best kernel for the device (CPU included). Faithful to the HRM paper's choices: bias-free linears,
RoPE, SwiGLU, and post-norm RMSNorm without a learnable scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hrm.utils.validation import InvalidSetting, at_least, at_most, one_of, positive

POS_ENCODINGS = ("rope", "learned", "grid", "none")
MIXERS = ("attention", "mlp")
SHORT_SEQUENCE = 160  # tokens; see Attention.forward
ATTN_BIAS_GAIN = 10.0  # see Attention.__init__


def _truncated_std(bound: float) -> float:
    """The standard deviation of a standard normal truncated to [-bound, bound]."""
    density = math.exp(-bound * bound / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(bound / math.sqrt(2))
    return math.sqrt(1 - 2 * bound * density / mass)


TRUNCATION = 2.0  # in standard deviations of the underlying normal
TRUNCATED_STD = _truncated_std(TRUNCATION)


def trunc_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """The official HRM init: a normal truncated at +-2 of its standard deviations, widened so that the
    values' *actual* standard deviation is `std` (a plain truncation would leave 0.88 of it)."""
    if std == 0:
        return tensor.zero_()
    wide = std / TRUNCATED_STD
    return nn.init.trunc_normal_(tensor, mean=0.0, std=wide, a=-TRUNCATION * wide, b=TRUNCATION * wide)


def rms_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    # Computed in float32 even under bf16 autocast: the mean of squares loses too much in bf16.
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return x.to(dtype)


class Linear(nn.Linear):
    """Bias-free linear layer initialised with std 1/sqrt(fan_in) (truncated normal)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__(in_features, out_features, bias=bias)

    def reset_parameters(self) -> None:
        trunc_normal_(self.weight, std=1.0 / math.sqrt(self.in_features))
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class RotaryEmbedding(nn.Module):
    """Precomputed RoPE tables for a fixed maximum length (the whole sequence, prefix included)."""

    def __init__(self, head_dim: int, max_positions: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        # Not persistent: they are a pure function of the config, so checkpoints stay small.
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos[:seq_len], self.sin[:seq_len]


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [batch, heads, seq, head_dim]; cos/sin: [seq, head_dim], already in x's dtype."""
    return (x * cos) + (_rotate_half(x) * sin)


class Attention(nn.Module):
    """Non-causal multi-head self-attention: every cell of a puzzle may look at every other."""

    def __init__(self, hidden_size: int, num_heads: int, bias_positions: int = 0):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = Linear(hidden_size, 3 * hidden_size)
        self.o_proj = Linear(hidden_size, hidden_size)
        # A learned score bias per head and pair of positions (GridNetConfig.attn_bias): on a small fixed
        # grid, which cells a head reads is then learned directly, not only through q.k. Adam moves a
        # parameter by about lr per step, and a bias must reach several units to pin a head to its cells,
        # so it is used times ATTN_BIAS_GAIN: 10x faster (9x9 Sudoku, 5 min: 57% exact at gain 1, 82% at 10,
        # 57% at 30).
        self.attn_bias = nn.Parameter(torch.zeros(num_heads, bias_positions, bias_positions)) if bias_positions else None

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        batch, seq, _ = x.shape
        qkv = self.qkv_proj(x).view(batch, seq, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [batch, heads, seq, head_dim]
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        if x.device.type == "cpu" and seq <= SHORT_SEQUENCE:
            # torch's CPU flash kernel is slow on short sequences (its backward above all): up to ~200
            # tokens plain matmuls and a softmax are 2-4x faster; beyond, flash wins (ARC's 900 tokens: 4x).
            scores = (q @ k.transpose(-2, -1)).float() * self.head_dim**-0.5
            if self.attn_bias is not None:
                scores = scores + ATTN_BIAS_GAIN * self.attn_bias.float()
            weights = torch.softmax(scores, dim=-1)
            out = weights.to(v.dtype) @ v
        else:
            bias = None if self.attn_bias is None else (ATTN_BIAS_GAIN * self.attn_bias).to(q.dtype)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, -1))


def swiglu_width(hidden_size: int, expansion: float) -> int:
    """2/3 of expansion*d (so SwiGLU's three matrices cost what a 2-matrix MLP would), up to a multiple of 256."""
    width = round(expansion * hidden_size * 2 / 3)
    return 256 * math.ceil(width / 256)


class SwiGLU(nn.Module):
    def __init__(self, hidden_size: int, expansion: float):
        super().__init__()
        width = swiglu_width(hidden_size, expansion)
        self.gate_up_proj = Linear(hidden_size, 2 * width)
        self.down_proj = Linear(width, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class SequenceMLP(nn.Module):
    """TRM's attention-free token mixer (its Sudoku model): a SwiGLU across the positions, applied to each
    channel, then the post-norm taken across the positions too (as the TRM code does). It needs a fixed
    sequence length, which a token grid has."""

    def __init__(self, positions: int, expansion: float, norm_eps: float):
        super().__init__()
        self.mlp = SwiGLU(positions, expansion)
        self.norm_eps = norm_eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_first = x.transpose(1, 2)  # [batch, hidden, positions]
        return rms_norm(channels_first + self.mlp(channels_first), self.norm_eps).transpose(1, 2)


class TransformerBlock(nn.Module):
    """Post-norm block, as in HRM: the residual stream is re-normalised after every sub-layer, which keeps
    a state that is fed back through the same weights many times from drifting in scale. The first
    sub-layer mixes positions: attention, or (mixer="mlp", TRM's Sudoku variant) an MLP across them."""

    def __init__(self, hidden_size: int, num_heads: int, expansion: float, norm_eps: float = 1e-5,
                 bias_positions: int = 0, mlp_positions: int = 0):
        super().__init__()
        if mlp_positions:
            self.mix = SequenceMLP(mlp_positions, expansion, norm_eps)
        else:
            self.attn = Attention(hidden_size, num_heads, bias_positions)
        self.mlp = SwiGLU(hidden_size, expansion)
        self.norm_eps = norm_eps

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        if hasattr(self, "mix"):
            x = self.mix(x)
        else:
            x = rms_norm(x + self.attn(x, rope), self.norm_eps)
        return rms_norm(x + self.mlp(x), self.norm_eps)


def halting_head(hidden_size: int, outputs: int) -> nn.Linear:
    """ACT's Q head. It starts at "continue" (halt logit -5), so early in training every sequence runs
    all its segments."""
    head = nn.Linear(hidden_size, outputs, bias=True)
    nn.init.zeros_(head.weight)
    nn.init.constant_(head.bias, -5.0)
    return head


class ReasoningLevel(nn.Module):
    """A stack of blocks applied to `state + injection`: HRM's additive input injection (TRM's too)."""

    def __init__(self, num_layers: int, hidden_size: int, num_heads: int, expansion: float, norm_eps: float = 1e-5,
                 bias_positions: int = 0, mlp_positions: int = 0):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerBlock(hidden_size, num_heads, expansion, norm_eps, bias_positions, mlp_positions)
            for _ in range(num_layers)
        )

    def forward(self, state: torch.Tensor, injection: torch.Tensor | None, rope) -> torch.Tensor:
        if injection is not None:
            state = state + injection
        for layer in self.layers:
            state = layer(state, rope)
        return state


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

    def __post_init__(self):
        at_least(self, 1, "vocab_size", "seq_len", "hidden_size", "num_heads")
        at_least(self, 0, "num_puzzle_identifiers")
        at_most(self, 1 << 16, "hidden_size", "num_heads")  # far past any model here, short of exhausting memory
        positive(self, "expansion", "rope_theta", "norm_eps")
        one_of(self, "pos_encoding", POS_ENCODINGS)
        one_of(self, "mixer", MIXERS)
        at_least(self, 1, "puzzle_emb_len")
        at_most(self, 1024, "puzzle_emb_len")
        if self.mixer == "mlp" and self.attn_bias:
            raise InvalidSetting("attn_bias", self.attn_bias, "has no attention to bias with mixer='mlp'")
        if self.hidden_size % self.num_heads:
            raise InvalidSetting("hidden_size", self.hidden_size, f"must be divisible by num_heads={self.num_heads}")
        if self.pos_encoding == "rope" and (self.hidden_size // self.num_heads) % 2:
            raise InvalidSetting("hidden_size", self.hidden_size,
                                 f"RoPE needs an even width per head (hidden_size / num_heads={self.num_heads})")


class PuzzleInput(nn.Module):
    """What every net over a token grid starts with (HRM, TRM, the plain transformer): token embeddings,
    an optional learned vector per puzzle id prepended as one prefix token, and RoPE tables over the
    whole sequence (or a learned position table)."""

    def build_input(self, config: GridNetConfig) -> None:
        d = config.hidden_size
        self.embed_scale = math.sqrt(d)  # embeddings start at std 1/sqrt(d) and are scaled back to ~1
        self.embed_tokens = nn.Embedding(config.vocab_size, d)
        trunc_normal_(self.embed_tokens.weight, std=1.0 / self.embed_scale)
        # One learned vector per puzzle id (an augmented variant of an ARC task). Sparse gradients: only
        # the rows of this batch get updated (by sign-SGD, see hrm.optim), so a 400k-row table is cheap.
        self.prefix_len = config.puzzle_emb_len if config.puzzle_emb and config.num_puzzle_identifiers > 0 else 0
        if self.prefix_len:
            self.puzzle_emb = nn.Embedding(config.num_puzzle_identifiers, d, sparse=True)
            nn.init.zeros_(self.puzzle_emb.weight)
        positions = config.seq_len + self.prefix_len
        # RoPE (HRM's default) encodes 1-D offsets; a learned table lets attention find any relation
        # between cells, e.g. Sudoku's same row, column or box, which a flattened grid hides from RoPE.
        self.rotary = None
        if config.pos_encoding == "rope":
            self.rotary = RotaryEmbedding(d // config.num_heads, positions, config.rope_theta)
        elif config.pos_encoding == "learned":
            self.embed_pos = nn.Embedding(positions, d)
            trunc_normal_(self.embed_pos.weight, std=1.0 / self.embed_scale)
        elif config.pos_encoding == "grid":
            # A square grid's position as row + column: "same row" and "same column" are then one vector
            # each, which attention finds from the first steps instead of learning them cell by cell.
            side = math.isqrt(config.seq_len)
            if side * side != config.seq_len:
                raise ValueError(f"pos_encoding 'grid' needs a square grid, got seq_len {config.seq_len}")
            cells = torch.arange(config.seq_len)
            prefix = torch.full((self.prefix_len,), side)  # the prefix token gets a row and column of its own
            self.register_buffer("grid_rows", torch.cat((prefix, cells // side)), persistent=False)
            self.register_buffer("grid_cols", torch.cat((prefix, cells % side)), persistent=False)
            self.embed_row, self.embed_col = nn.Embedding(side + 1, d), nn.Embedding(side + 1, d)
            for table in (self.embed_row, self.embed_col):
                trunc_normal_(table.weight, std=1.0 / self.embed_scale)
        elif config.pos_encoding != "none":  # none: the MLP mixer knows every position by its own weights
            raise ValueError(f"pos_encoding must be one of {POS_ENCODINGS}, got {config.pos_encoding!r}")

    def build_level(self, num_layers: int) -> ReasoningLevel:
        """A stack of `num_layers` blocks sized by the config (after build_input: it knows the prefix)."""
        cfg = self.config
        positions = cfg.seq_len + self.prefix_len
        if cfg.attn_bias and positions > 1024:
            raise ValueError(f"attn_bias: {positions} positions would need {positions}^2 biases per head")
        return ReasoningLevel(num_layers, cfg.hidden_size, cfg.num_heads, cfg.expansion, cfg.norm_eps,
                              positions if cfg.attn_bias else 0, positions if cfg.mixer == "mlp" else 0)

    def compile_levels(self) -> None:
        """torch.compile every stack of blocks (fuses the RMSNorm/RoPE/SwiGLU elementwise work: ~25% faster
        steps on this CPU, after ~15 s of compiling). Not the whole net: inductor cannot trace the sparse
        puzzle-embedding gradient."""
        for module in self.modules():
            if isinstance(module, ReasoningLevel):
                module.compile()

    def embed(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor | None) -> torch.Tensor:
        x = self.embed_tokens(inputs)
        if self.prefix_len:
            prefix = self.puzzle_emb(puzzle_identifiers).unsqueeze(1).to(x.dtype)
            blank = prefix.new_zeros(prefix.shape[0], self.prefix_len - 1, prefix.shape[2])
            x = torch.cat((prefix, blank, x), dim=1)
        if hasattr(self, "embed_pos"):
            x = x + self.embed_pos.weight.to(x.dtype)
        elif hasattr(self, "embed_row"):
            x = x + (self.embed_row(self.grid_rows) + self.embed_col(self.grid_cols)).to(x.dtype)
        return self.embed_scale * x

    def embed_batch(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """(the embedded sequence, the RoPE tables), in the autocast dtype when autocast is on: the whole
        recurrent state then runs in it (bf16), as in HRM; RMSNorm still computes in float32."""
        dtype = forward_dtype(batch["inputs"].device)
        x = self.embed(batch["inputs"], batch.get("puzzle_identifiers")).to(dtype)
        rope = None if self.rotary is None else tuple(table.to(dtype) for table in self.rotary(x.shape[1]))
        return x, rope


def forward_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype when autocast is on for this device, else float32."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return torch.float32
