"""The calibration-tuning loss (Kapoor et al. 2024) as a transformers ``Trainer``: cross-entropy
of the P(True) query's two options against the judged correctness of the model's own answer.

Each training text is the P(True) query about one of the model's answers followed by the
options' shared tokens (``" "`` where the tokenizer splits ``" A"`` as a space and a letter);
the logits at its last position, restricted to the two options' last tokens, give
``p = softmax(logit_A, logit_B)``, and the loss is ``-log p[A]`` for a correct answer and
``-log p[B]`` for a wrong one — exactly the ``ptrue`` extractor's normalised P(True). No
language-model loss: the answers are not trained (the adapter serves only the query).

Gradient accumulation is exact as for the implicit loss (``CalibrationLossTrainer``'s window).
This module imports torch and transformers at import time; the plugin imports it lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from harness.plugins.trainers.implicit_loss import CalibrationLossTrainer


class PTrueLossTrainer(CalibrationLossTrainer):
    """``Trainer`` whose loss is the mean cross-entropy of P(True) against the verdict; each step
    logs ``ptrue_ce`` and ``mean_ptrue`` (the window's mean P(True))."""

    components = ("ptrue_ce", "mean_ptrue")

    def __init__(self, *args: Any, option_ids: Sequence[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.option_ids = torch.tensor(list(option_ids), dtype=torch.long)  # true, false

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                        use_cache=False)
        marks = inputs["answer_mask"].bool()
        has_query = marks.any(dim=1)
        position = marks.float().argmax(dim=1)  # the last token of the text: it predicts the option
        rows = torch.arange(outputs.logits.shape[0], device=outputs.logits.device)
        options = outputs.logits[rows, position][:, self.option_ids.to(outputs.logits.device)].float()
        logp = torch.log_softmax(options, dim=-1)
        correct = inputs["is_correct"].bool()
        ce = -torch.where(correct, logp[:, 0], logp[:, 1])
        no_lm = torch.zeros_like(inputs["input_ids"][:, 1:], dtype=torch.bool)
        _, n_examples, scale = self.window(no_lm, has_query, model.training)
        per_example = max(n_examples, 1.0)
        mean_ce = (ce * has_query).sum() / per_example
        mean_ptrue = (logp[:, 0].exp() * has_query).sum() / per_example
        self.record(model.training, ptrue_ce=mean_ce, mean_ptrue=mean_ptrue)
        loss = mean_ce * scale
        return (loss, outputs) if return_outputs else loss

    def total(self, means: dict[str, float]) -> float:
        return means["ptrue_ce"]
