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
from torch.utils.checkpoint import checkpoint

SHORT_SEQUENCE = 160  # tokens; see Attention.forward
ATTN_BIAS_GAIN = 10.0  # see Attention.__init__
LOCAL_SLOPE = 2.0  # see Attention.__init__


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


@dataclass(frozen=True)
class CellOffsets:
    """Which offset between two cells each pair of positions has (`index` [positions, positions], ids into
    a table of offsets), and each offset's distance (`distance` [offsets], in steps)."""

    index: torch.Tensor
    distance: torch.Tensor


class Attention(nn.Module):
    """Non-causal multi-head self-attention: every cell of a puzzle may look at every other."""

    def __init__(self, hidden_size: int, num_heads: int, bias_positions: int = 0, offsets: CellOffsets | None = None):
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
        # A learned score bias per head and offset between cells (GridNetConfig.relative_bias), the same for
        # every pair at that offset. A head can then read "the cell above" everywhere at once, which local
        # rules (a maze's paths) need. The heads start at ranges from local to global (a bias of -slope x
        # distance, slopes from LOCAL_SLOPE down to 0): a zero start left mazes unlearned, since no
        # gradient favours one offset before the model already uses its neighbours.
        self.relative_bias = None
        if offsets is not None:
            slopes = torch.linspace(LOCAL_SLOPE, 0.0, num_heads)
            self.relative_bias = nn.Parameter(-slopes[:, None] * offsets.distance.float() / ATTN_BIAS_GAIN)
            self.register_buffer("relative_index", offsets.index, persistent=False)

    def score_bias(self) -> torch.Tensor | None:
        """[heads, seq, seq] added to the attention scores, or None."""
        bias = self.attn_bias
        if self.relative_bias is not None:
            relative = self.relative_bias[:, self.relative_index]
            bias = relative if bias is None else bias + relative
        return None if bias is None else ATTN_BIAS_GAIN * bias

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        batch, seq, _ = x.shape
        qkv = self.qkv_proj(x).view(batch, seq, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [batch, heads, seq, head_dim]
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        bias = self.score_bias()
        if x.device.type == "cpu" and seq <= SHORT_SEQUENCE:
            # torch's CPU flash kernel is slow on short sequences (its backward above all): up to ~200
            # tokens plain matmuls and a softmax are 2-4x faster; beyond, flash wins (ARC's 900 tokens: 4x).
            scores = (q @ k.transpose(-2, -1)).float() * self.head_dim**-0.5
            if bias is not None:
                scores = scores + bias.float()
            weights = torch.softmax(scores, dim=-1)
            out = weights.to(v.dtype) @ v
        else:
            mask = None if bias is None else bias.to(q.dtype)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
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
                 bias_positions: int = 0, mlp_positions: int = 0, offsets: CellOffsets | None = None):
        super().__init__()
        self.mix = SequenceMLP(mlp_positions, expansion, norm_eps) if mlp_positions else None
        self.attn = None if mlp_positions else Attention(hidden_size, num_heads, bias_positions, offsets)
        self.mlp = SwiGLU(hidden_size, expansion)
        self.norm_eps = norm_eps

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        if self.mix is not None:
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
    """A stack of blocks applied to `state + injection`: HRM's additive input injection (TRM's too).
    With `recompute` (checkpoint_levels), a block keeps only its input for the backward pass and runs its
    forward again there: the same numbers, a fraction of the activation memory, one more forward's time."""

    def __init__(self, num_layers: int, hidden_size: int, num_heads: int, expansion: float, norm_eps: float = 1e-5,
                 bias_positions: int = 0, mlp_positions: int = 0, offsets: CellOffsets | None = None):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerBlock(hidden_size, num_heads, expansion, norm_eps, bias_positions, mlp_positions, offsets)
            for _ in range(num_layers)
        )
        self.recompute = False

    def forward(self, state: torch.Tensor, injection: torch.Tensor | None, rope) -> torch.Tensor:
        if injection is not None:
            state = state + injection
        for layer in self.layers:
            if self.recompute and torch.is_grad_enabled():
                state = checkpoint(layer, state, rope, use_reentrant=False)
            else:
                state = layer(state, rope)
        return state


def reasoning_levels(net: nn.Module) -> list[ReasoningLevel]:
    """Every stack of blocks in `net`."""
    return [module for module in net.modules() if isinstance(module, ReasoningLevel)]


def checkpoint_levels(net: nn.Module) -> None:
    """Activation checkpointing for every stack of blocks in `net` (ReasoningLevel.recompute)."""
    for level in reasoning_levels(net):
        level.recompute = True


def compile_levels(net: nn.Module) -> None:
    """torch.compile every stack of blocks in `net` (fuses the RMSNorm/RoPE/SwiGLU elementwise work, after
    some seconds of compiling). Not the whole net: inductor cannot trace the sparse puzzle-embedding
    gradient."""
    for level in reasoning_levels(net):
        level.compile()


def compile_blocks(net: nn.Module) -> None:
    """torch.compile each block of `net` once for every batch size (`dynamic=True`), for a model fed batches
    of many sizes (the agent policy: an epoch's last batch, evaluation batches, a world per episode in RL).
    There compile_levels would compile each stack again per batch size and per grad mode, which costs more
    seconds than a short run's faster steps save; the blocks share their compiled code instead, so compiling
    takes a few seconds once."""
    for level in reasoning_levels(net):
        for block in level.layers:
            block.compile(dynamic=True)
