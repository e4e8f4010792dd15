"""What all backends share: where a generation ends, and which tokens make its text."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ParameterError
from harness.plugins.backends.common import (
    chat_setting,
    cut_at_stop,
    tokens_covering,
    trim_output,
    use_chat_template,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_lm_path: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm_path)


def ids_of(tokenizer, *pieces: str) -> list[int]:  # type: ignore[no-untyped-def]
    return [i for piece in pieces for i in tokenizer(piece, add_special_tokens=False)["input_ids"]]


def decoder(tokenizer):  # type: ignore[no-untyped-def]
    return lambda ids: tokenizer.decode(
        list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
    )


def test_end_of_sequence_ends_the_text(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = ids_of(tokenizer, " red") + [tokenizer.eos_token_id] + ids_of(tokenizer, " blue")
    trimmed = trim_output(ids, decoder(tokenizer), stop=("\n",), eos_ids={tokenizer.eos_token_id})
    assert (trimmed.text, trimmed.finish_reason) == (" red", "eos")
    assert trimmed.n_tokens == len(ids_of(tokenizer, " red"))


def test_a_stop_string_drops_its_tokens_and_what_follows(tokenizer) -> None:  # type: ignore[no-untyped-def]
    answer = ids_of(tokenizer, " red")
    ids = answer + ids_of(tokenizer, "\n", "Question")
    trimmed = trim_output(ids, decoder(tokenizer), stop=("\n",), eos_ids={tokenizer.eos_token_id})
    assert (trimmed.text, trimmed.n_tokens, trimmed.finish_reason) == (" red", len(answer), "stop")


def test_a_token_that_straddles_the_stop_is_kept(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = ids_of(tokenizer, "Answer:", " red")  # ":" and " red" are separate tokens here
    trimmed = trim_output(ids, decoder(tokenizer), stop=("r: r",), eos_ids=set())
    assert trimmed.text == "Answe"
    assert tokenizer.decode(ids[: trimmed.n_tokens]).startswith("Answe")
    assert not tokenizer.decode(ids[: trimmed.n_tokens - 1]).startswith("Answe")


def test_a_multibyte_character_split_over_tokens_keeps_all_its_tokens(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = ids_of(tokenizer, "é\n")  # unseen by the tokenizer: one token per byte
    trimmed = trim_output(ids, decoder(tokenizer), stop=("\n",), eos_ids=set())
    assert trimmed.text == "é"
    assert trimmed.n_tokens == len("é".encode()) == 2


def test_running_out_of_tokens_is_length_and_keeps_everything(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids = ids_of(tokenizer, " red blue") + [tokenizer.bos_token_id]
    trimmed = trim_output(ids, decoder(tokenizer), stop=("\n",), eos_ids={tokenizer.eos_token_id})
    assert (trimmed.text, trimmed.n_tokens, trimmed.finish_reason) == (" red blue", len(ids), "length")


def test_the_earliest_of_several_stop_strings_wins() -> None:
    assert cut_at_stop("Paris.\nRome\n\n", ["\n\n", "\n"]) == ("Paris.", True)
    assert cut_at_stop("Paris", ["\n"]) == ("Paris", False)
    assert cut_at_stop("Paris", ["", "x"]) == ("Paris", False)


def test_server_token_strings_are_cut_to_the_text() -> None:
    assert tokens_covering([" Par", "is", "\n", "Q"], len(" Paris")) == 2
    assert tokens_covering([" Par", "is.\n"], len(" Paris.")) == 2
    assert tokens_covering([], 0) == 0


@pytest.mark.parametrize(
    ("value", "expected"), [("auto", None), (True, True), ("false", False), ("ON", True)]
)
def test_chat_template_setting(value, expected) -> None:  # type: ignore[no-untyped-def]
    assert chat_setting(value) is expected


def test_chat_template_auto_follows_the_tokenizer(tokenizer) -> None:  # type: ignore[no-untyped-def]
    assert use_chat_template(tokenizer, "auto") is False  # the tiny tokenizer has none
    with pytest.raises(ParameterError, match="no chat template"):
        use_chat_template(tokenizer, True)
    with pytest.raises(ParameterError, match="chat_template"):
        chat_setting("sometimes")


def test_continuations_that_differ_only_in_their_last_token_share_one_row() -> None:
    from harness.plugins.backends.common import split_last_tokens

    assert split_last_tokens([[7, 1], [7, 2]]) == ([7], [1, 2])  # " A" / " B" as space + letter
    assert split_last_tokens([[1], [2]]) == ([], [1, 2])
    assert split_last_tokens([[7, 1], [8, 2]]) is None  # different shared parts
    assert split_last_tokens([[7, 1], [7, 1]]) is None  # the same last token: not told apart
    assert split_last_tokens([[7, 1], []]) is None and split_last_tokens([]) is None
