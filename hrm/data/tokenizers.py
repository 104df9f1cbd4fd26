"""Text tokenizers a model's vocabulary can come from.

`gpt2` is the real GPT-2 byte-level BPE (50,257 tokens), its files shipped inside the package
(hrm/assets/gpt2-tokenizer/), so no model hub is needed. A model config names its tokenizer
(`tokenizer: gpt2`) and the model's vocabulary size is read from it, never typed a second time:
that is what keeps GPT-2 ids from overflowing a smaller embedding (the seeds' "index out of range").
"""

from __future__ import annotations

import functools
from importlib import resources

from tokenizers import Tokenizer
from tokenizers.implementations import ByteLevelBPETokenizer

from hrm.errors import UserError


def _asset(name: str) -> str:
    return str(resources.files("hrm") / "assets" / name)


@functools.cache
def load_tokenizer(name: str) -> Tokenizer:
    if name == "gpt2":
        folder = _asset("gpt2-tokenizer")
        return ByteLevelBPETokenizer(f"{folder}/vocab.json", f"{folder}/merges.txt")
    raise UserError(f"unknown tokenizer {name!r}; available: gpt2")


def tokenizer_vocab_size(name: str) -> int:
    return load_tokenizer(name).get_vocab_size()
