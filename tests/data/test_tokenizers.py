"""The GPT-2 BPE shipped in the package, the small word vocabulary built from logs, and TextEncoder."""

import torch

from hrm.data.tokenizers import TextEncoder, build_word_tokenizer, load_tokenizer


def test_shipped_gpt2_tokenizer_is_the_real_one():
    tokenizer = load_tokenizer("gpt2")
    assert tokenizer.get_vocab_size() == 50257
    assert tokenizer.encode("Hello world").ids == [15496, 995]


def test_word_vocabulary_is_capped_deterministic_and_spells_any_number():
    words = ["".join(chr(97 + (n // 26**i) % 26) for i in range(3)) for n in range(100)]  # aaa, baa, ...
    texts = [f"curiosity {n}, knowledge {n * 7}: {words[n % 100]} {words[n % 7]}" for n in range(400)]
    first, second = build_word_tokenizer(texts, 40), build_word_tokenizer(reversed(texts), 40)
    assert first.get_vocab_size() == 40
    assert first.to_str() == second.to_str()  # the order of the texts does not matter
    unknown = first.token_to_id("[UNK]")
    assert unknown not in first.encode("knowledge 9876543210").ids  # digits are tokens of their own


def test_text_encoder_starts_pads_and_cuts_rows_to_max_tokens():
    tokenizer = build_word_tokenizer(["a b c d e f g h"]).to_str()
    encoder = TextEncoder(tokenizer, max_tokens=5)
    ids = encoder.encode(["a b", "a b c d e f g h"])
    start, pad = encoder.start_id, encoder.pad_id
    assert ids.shape == (2, 5) and ids.dtype == torch.long
    assert ids[0].tolist()[0] == start and ids[0].tolist()[3:] == [pad, pad]
    assert ids[1].tolist() == [start] + [encoder.tokenizer.token_to_id(w) for w in "abcd"]
    gpt2 = TextEncoder("gpt2", max_tokens=4)
    assert gpt2.encode(["Hello world"]).tolist() == [[50256, 15496, 995, 50256]]
