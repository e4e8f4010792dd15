"""How the trainers turn a prompt and a generated completion into token ids and masks."""

from __future__ import annotations

import pytest

from harness.plugins.extractors.logprob import answer_token_indices
from harness.plugins.trainers.encoding import collate, encode
from harness.plugins.trainers.implicit import terminated


@pytest.fixture(scope="module")
def tokenizer(tiny_lm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_lm_path)


PROMPT = "Question: What is the colour of item 3?\nAnswer:"


def masked_text(tokenizer, ids, mask):
    return tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])


def test_the_masks_mark_the_completion_and_the_answer_tokens(tokenizer):
    enc = encode(tokenizer, PROMPT, " yellow\n")
    assert tokenizer.decode(enc.input_ids) == PROMPT + " yellow\n"
    assert masked_text(tokenizer, enc.input_ids, enc.completion_mask) == " yellow\n"
    assert masked_text(tokenizer, enc.input_ids, enc.answer_mask).strip() == "yellow"


def test_the_answer_tokens_are_those_the_logprob_extractor_reads(tokenizer):
    enc = encode(tokenizer, PROMPT, " yellow\n")
    generated = [i for i, m in enumerate(enc.completion_mask) if m]
    tokens = [tokenizer.decode([enc.input_ids[i]]) for i in generated]
    picked = {generated[i] for i in answer_token_indices(tokens)}
    assert picked == {i for i, m in enumerate(enc.answer_mask) if m}


def test_eos_is_appended_to_the_completion_and_long_prompts_lose_their_start(tokenizer):
    enc = encode(tokenizer, PROMPT, " red", append_eos=True, max_length=5)
    assert len(enc.input_ids) == 5
    assert enc.input_ids[-1] == tokenizer.eos_token_id
    assert enc.completion_mask[-1] == 1 and enc.answer_mask[-1] == 0
    assert masked_text(tokenizer, enc.input_ids, enc.answer_mask).strip() == "red"


def test_a_chat_template_renders_the_prompt_as_the_hf_backend_does(tokenizer):
    from harness.plugins.backends.common import prompt_token_ids

    chat = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    chat.chat_template = (
        "{% for m in messages %}<s>{{ m['role'] }}:{{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant:{% endif %}"
    )
    enc = encode(chat, PROMPT, " red", chat=True, end_turn=True)
    prompt_ids = prompt_token_ids(chat, PROMPT, True)
    assert enc.input_ids[: len(prompt_ids)] == prompt_ids
    assert chat.decode(enc.input_ids[len(prompt_ids) :]) == " red</s>"  # the turn is closed
    assert masked_text(chat, enc.input_ids, enc.answer_mask).strip() == "red"  # not the end of turn


def test_collate_pads_right_and_keeps_the_label_columns(tokenizer):
    short = encode(tokenizer, PROMPT, " red")
    long = encode(tokenizer, PROMPT + " Think.", " yellow")
    features = [
        {
            "input_ids": e.input_ids,
            "lm_mask": e.completion_mask,
            "answer_mask": e.answer_mask,
            "is_correct": c,
        }
        for e, c in ((short, True), (long, False))
    ]
    batch = collate(features, pad_token_id=tokenizer.pad_token_id)
    assert batch["input_ids"].shape == batch["lm_labels"].shape == batch["answer_mask"].shape
    assert batch["attention_mask"][0].sum() == len(short.input_ids)
    assert batch["is_correct"].tolist() == [1.0, 0.0]
    assert (batch["lm_labels"][0][len(short.input_ids) :] == -100).all()


def test_the_stop_a_backend_cut_off_is_put_back_for_the_lm_loss():
    assert terminated(" Velmora", ("\n",), chat=False) == " Velmora\n"
    assert terminated(" Velmora\n", ("\n",), chat=False) == " Velmora\n"
    assert terminated(" Velmora", ("\n",), chat=True) == " Velmora"  # the template closes the turn
    assert terminated("  ", ("\n",), chat=False) == "  "
