"""Prompt + completion -> token ids with masks, batching, and scoring completions.

The trainers learn from the very text the model was prompted with and generated, so a
training example is the exact prompt followed by the completion, tokenized together
(as generation saw them). Two masks mark the completion's tokens (the LM loss) and the
answer's tokens: those overlapping the stripped first line, as the ``logprob`` extractor
picks them, whose mean probability is the implicit confidence.

``completion_scores`` computes, for a batch, the per-example mean answer-token probability
and summed completion log-probability under a model: tests and the benchmark use it to
measure what training changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

IGNORE = -100


@attrs.frozen
class Encoded:
    input_ids: list[int]
    completion_mask: list[int]  # 1 on tokens of the completion (and the appended eos)
    answer_mask: list[int]  # 1 on tokens of the answer (completion minus trailing whitespace)


def render(tokenizer: Any, prompt: str, completion: str, *, chat: bool, end_turn: bool) -> tuple[str, str]:
    """The prompt as the model is given it and the completion text that follows it.

    Without a chat template both are as given. With one, the prompt is one user turn plus
    the generation prompt (as the ``hf`` backend renders it) and, with ``end_turn``, the
    completion is the assistant turn as the template closes it (its end-of-turn token).
    """
    if not chat:
        return prompt, completion
    user = [{"role": "user", "content": prompt}]
    prompt_text = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    if not end_turn:
        return prompt_text, completion
    turns = user + [{"role": "assistant", "content": completion}]
    full = tokenizer.apply_chat_template(turns, tokenize=False)
    if full.startswith(prompt_text):
        return prompt_text, full[len(prompt_text) :]
    return prompt_text, completion + (tokenizer.eos_token or "")


def encode(
    tokenizer: Any,
    prompt: str,
    completion: str,
    *,
    chat: bool = False,
    end_turn: bool = False,
    append_eos: bool = False,
    max_length: int | None = None,
) -> Encoded:
    """Tokenize ``prompt + completion`` once, the prompt rendered as generation saw it (``chat``:
    through the chat template, whose special tokens are not added twice; ``end_turn``: the
    completion closed as an assistant turn). ``append_eos`` ends it with the end-of-sequence
    token. A too long example loses the start of its prompt."""
    answer = completion.split("\n", 1)[0].strip()
    prompt, completion = render(tokenizer, prompt, completion, chat=chat, end_turn=end_turn)
    special = not chat
    lead = completion.find(answer) if answer else -1  # where the answer sits in the rendered turn
    line = completion.split("\n", 1)[0]
    if lead < 0:
        lead, answer = len(line) - len(line.lstrip()), line.strip()
    answer_start, answer_end = len(prompt) + lead, len(prompt) + lead + len(answer)
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(prompt + completion, return_offsets_mapping=True, add_special_tokens=special)
        ids = list(enc["input_ids"])
        completion_mask, answer_mask = [], []
        for start, end in enc["offset_mapping"]:
            added = start == end  # a special token the tokenizer added
            completion_mask.append(int(not added and end > len(prompt)))
            answer_mask.append(int(not added and end > answer_start and start < answer_end))
    else:  # a slow tokenizer has no offsets: tokenize the parts and concatenate
        parts = [completion[:lead], answer, completion[lead + len(answer) :]]
        ids = list(tokenizer(prompt, add_special_tokens=special)["input_ids"])
        completion_mask, answer_mask = [0] * len(ids), [0] * len(ids)
        for index, part in enumerate(parts):
            part_ids = list(tokenizer(part, add_special_tokens=False)["input_ids"]) if part else []
            ids += part_ids
            completion_mask += [1] * len(part_ids)
            answer_mask += [int(index == 1)] * len(part_ids)
    if append_eos and tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
        completion_mask.append(1)
        answer_mask.append(0)
    if max_length is not None and len(ids) > max_length:
        cut = len(ids) - max_length
        ids, completion_mask, answer_mask = ids[cut:], completion_mask[cut:], answer_mask[cut:]
    return Encoded(ids, completion_mask, answer_mask)


def collate(features: Sequence[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Right-pad a list of encoded examples into tensors.

    Each feature holds ``input_ids``, ``lm_mask`` (tokens the LM loss covers), ``answer_mask``
    and ``is_correct``; the batch holds ``input_ids``, ``attention_mask``, ``lm_labels``
    (``-100`` outside the LM loss), ``answer_mask`` and ``is_correct``.
    """
    import torch

    width = max(len(f["input_ids"]) for f in features)

    def pad(values: Sequence[int], fill: int) -> list[int]:
        return list(values) + [fill] * (width - len(values))

    input_ids = torch.tensor([pad(f["input_ids"], pad_token_id) for f in features])
    attention = torch.tensor([pad([1] * len(f["input_ids"]), 0) for f in features])
    lm_labels = torch.tensor(
        [
            pad([t if m else IGNORE for t, m in zip(f["input_ids"], f["lm_mask"], strict=True)], IGNORE)
            for f in features
        ]
    )
    answer_mask = torch.tensor([pad(f["answer_mask"], 0) for f in features])
    is_correct = torch.tensor([float(f["is_correct"]) for f in features])
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "lm_labels": lm_labels,
        "answer_mask": answer_mask,
        "is_correct": is_correct,
    }


def token_logprobs(logits: Any, input_ids: Any, needed: Any) -> Any:
    """Log-probability of each next token where ``needed`` (shifted: position i predicts token i+1),
    zero elsewhere; the log-softmax runs in fp32 over the needed positions only."""
    import torch

    shifted = logits[:, :-1]
    targets = input_ids[:, 1:]
    picked = torch.log_softmax(shifted[needed].float(), dim=-1)
    values = picked.gather(-1, targets[needed].unsqueeze(-1)).squeeze(-1)
    dense = torch.zeros(targets.shape, dtype=values.dtype, device=values.device)
    dense[needed] = values
    return dense


def completion_scores(
    model: Any,
    tokenizer: Any,
    items: Sequence[tuple[str, str]],
    *,
    chat: bool = False,
    end_turn: bool = False,
    append_eos: bool = False,
    batch_size: int = 16,
) -> tuple[list[float], list[float]]:
    """For each ``(prompt, completion)``: the mean probability of its answer tokens and the
    summed log-probability of its completion tokens, under ``model`` (no gradients)."""
    import torch

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    mean_probs: list[float] = []
    logps: list[float] = []
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            features = []
            for prompt, completion in chunk:
                enc = encode(
                    tokenizer, prompt, completion, chat=chat, end_turn=end_turn, append_eos=append_eos
                )
                features.append(
                    {
                        "input_ids": enc.input_ids,
                        "lm_mask": enc.completion_mask,
                        "answer_mask": enc.answer_mask,
                        "is_correct": 0.0,
                    }
                )
            batch = {k: v.to(device) for k, v in collate(features, pad_id).items()}
            with torch.no_grad():
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            completion = batch["lm_labels"][:, 1:] != IGNORE
            answer = batch["answer_mask"][:, 1:].bool()
            lp = token_logprobs(logits, batch["input_ids"], completion | answer)
            probs = (lp.exp() * answer).sum(1) / answer.sum(1).clamp(min=1)
            mean_probs += probs.tolist()
            logps += (lp * completion).sum(1).tolist()
    finally:
        model.train(was_training)
    return mean_probs, logps
