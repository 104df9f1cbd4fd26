"""Text tokenizers a model's vocabulary can come from, and `TextEncoder`, which turns texts into the
fixed-length id rows a model reads.

`gpt2` is the real GPT-2 byte-level BPE (50,257 tokens), its files shipped inside the package
(hrm/assets/gpt2-tokenizer/), so no model hub is needed. `words` is a small word-level vocabulary
(about 1,000 tokens, the original agent's HRM) built from the training texts; it is serialised to JSON
and saved with the checkpoint. A model's vocabulary size is read from its tokenizer, never typed a second
time: that is what keeps GPT-2 ids from overflowing a smaller embedding (the original agent's "index out of range").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.implementations import ByteLevelBPETokenizer
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

from hrm.errors import UserError

PAD, UNK, START = "[PAD]", "[UNK]", "[START]"  # the word vocabulary's special tokens (ids 0, 1, 2)
GPT2_END = "<|endoftext|>"  # GPT-2 has no pad or start token; its end-of-text token serves as both


def _asset(name: str) -> str:
    return str(resources.files("hrm") / "assets" / name)


def gpt2_tokenizer_dir() -> str:
    """GPT-2's BPE files (vocab.json, merges.txt), shipped inside the package."""
    return _asset("gpt2-tokenizer")


@functools.cache
def load_tokenizer(name: str) -> Tokenizer:
    """`gpt2`, or a tokenizer serialised by `Tokenizer.to_str()` (e.g. a built word vocabulary)."""
    if name == "gpt2":
        folder = gpt2_tokenizer_dir()
        return ByteLevelBPETokenizer(f"{folder}/vocab.json", f"{folder}/merges.txt")
    if name.lstrip().startswith("{"):
        try:
            return Tokenizer.from_str(name)
        except Exception as error:  # tokenizers raises a bare Exception for malformed JSON
            raise UserError(f"tokenizer: not a serialised tokenizer ({str(error).splitlines()[0][:120]})") from None
    if name == "words":
        raise UserError("the `words` tokenizer is built from the training texts first (build_word_tokenizer)")
    raise UserError(f"unknown tokenizer {name!r}; available: gpt2, words")


def tokenizer_vocab_size(name: str) -> int:
    return load_tokenizer(name).get_vocab_size()


def build_word_tokenizer(texts: Iterable[str], vocab_size: int = 1000) -> Tokenizer:
    """A lowercase word-level vocabulary of the `vocab_size` most frequent words of `texts` (ties broken
    alphabetically, so the same texts give the same vocabulary). Digits are single tokens: any number
    can be spelt, however large."""
    tokenizer = Tokenizer(WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    trainer = WordLevelTrainer(vocab_size=vocab_size, special_tokens=[PAD, UNK, START], min_frequency=1)
    tokenizer.train_from_iterator(sorted(texts), trainer=trainer)
    return tokenizer


class TextEncoder:
    """Texts -> [batch, max_tokens] ids: a start token, the text's tokens (cut at max_tokens), padding."""

    def __init__(self, tokenizer: str, max_tokens: int):
        if max_tokens < 2:
            raise UserError(f"model.max_tokens={max_tokens}: must be at least 2 (a start token and a word)")
        self.tokenizer = load_tokenizer(tokenizer)
        self.max_tokens = max_tokens
        self.vocab_size = self.tokenizer.get_vocab_size()
        start = self.tokenizer.token_to_id(START)
        if start is None:
            start = self.tokenizer.token_to_id(GPT2_END)
        if start is None:
            raise UserError(f"tokenizer: has neither {START} nor {GPT2_END}, so no start token")
        pad = self.tokenizer.token_to_id(PAD)
        self.start_id = start
        self.pad_id = start if pad is None else pad

    def encode(self, texts: list[str]) -> torch.Tensor:
        ids = torch.full((len(texts), self.max_tokens), self.pad_id, dtype=torch.long)
        for row, encoding in enumerate(self.tokenizer.encode_batch(list(texts))):
            tokens = [self.start_id, *encoding.ids[: self.max_tokens - 1]]
            ids[row, : len(tokens)] = torch.tensor(tokens)
        return ids
