import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge import embedding


def test_questions_encoded_together_get_their_own_vectors():
    questions = [f"How many days of leave do I get in year {i}?" for i in range(24)] + ["TOIL", "Parking rules"]
    with ThreadPoolExecutor(max_workers=12) as pool:
        together = list(pool.map(lambda q: embedding.encode_together([q])[0], questions))
    alone = embedding.encode(questions)
    assert np.allclose(np.stack(together), alone, atol=1e-4)
    assert len({tuple(np.round(v, 4)) for v in together}) == len(questions)


def test_a_failed_batch_wakes_every_caller_with_the_error():
    with pytest.raises(ValueError, match="Unsupported input type"):
        embedding.encode_together([None])  # type: ignore[list-item]
    assert embedding.encode_together(["still works"]).shape == (1, embedding.DIMENSIONS)


@functools.cache
def _reference_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(embedding.model_path(embedding.MODEL_NAME)))


def _tokenizer_count(text: str) -> int:
    return len(_reference_tokenizer()(text, add_special_tokens=False)["input_ids"])


_AWKWARD = [
    "",
    "   ",
    "a\x0bb a\x0cb a\x1fb a\x85b",  # Python splits here, BERT deletes the character and joins
    "a\u3000b a\u2028b a\xa0b",
    "a \u0301b café naïve",
    "日本語のテキスト and English",
    "x" * 300,
    ",".join("a" * 200),  # one space-free piece of 399 word pieces: no truncation
    "tab\there\r\nnew\n\nline",
    "a\x00b \ufffd",
    "emoji 😀 ok",
]


@pytest.mark.parametrize("text", _AWKWARD)
def test_token_counts_are_the_tokenizers_own_for_awkward_text(text):
    assert embedding.count_tokens(text) == _tokenizer_count(text)
    assert embedding.count_tokens(text) == _tokenizer_count(text)  # the second time from the cache


_PIECES = st.sampled_from(["Leave", "carry-over", "5.5", "days;", "Ünïcödé", " ", "\n", "\t", "\x0b", "\u3000", "日本"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join) | st.text(max_size=80))
def test_token_counts_summed_over_pieces_equal_one_pass_of_the_tokenizer(text):
    assert embedding.count_tokens(text) == _tokenizer_count(text)
