"""The tokenized Brier loss (ConfTuner, 2025) as a transformers ``Trainer``.

For each judged answer the training text ends where the stated confidence's grid token
comes (``... Confidence: 0.``); the model's next-token distribution restricted to the grid
tokens (``0`` ... ``9``), renormalised, is a distribution ``p`` over confidence values
``v``, and its expected Brier score against the judged correctness ``y`` is
``sum_k p_k (v_k - y)^2``. The renormalisation leaves the grid's total probability free, so
a third term keeps the format: ``grid_nll = -log sum_k P(grid token k)``, the cross-entropy
of "the next token is a grid token" (without it the model learns to write no digit at all
after a wrong answer, and the stated confidence goes missing). The loss is
``lm_loss + lam * mean expected Brier + format_weight * mean grid_nll``, from one forward pass per
micro-batch; no target confidence is invented.

Batches come from ``encoding.collate``: ``answer_mask`` is one-hot on the last token of the
text (the position whose logits give the grid distribution). Gradient accumulation is exact
as for the implicit loss (``CalibrationLossTrainer``'s window), so one step of batch 4 equals
four accumulated steps of batch 1.

This module imports torch and transformers at import time; the plugin imports it lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from harness.plugins.trainers.encoding import IGNORE, token_logprobs
from harness.plugins.trainers.implicit_loss import CalibrationLossTrainer


def expected_brier(grid_logits: Any, values: Any, correct: Any) -> tuple[Any, Any]:
    """Per example: ``sum_k p_k (v_k - y)^2`` and the expected confidence ``sum_k p_k v_k``,
    ``p`` the softmax of ``grid_logits`` (B, K) over the grid."""
    p = torch.softmax(grid_logits.float(), dim=-1)
    y = correct.float()[:, None]
    return (p * (values[None, :] - y) ** 2).sum(dim=1), (p * values[None, :]).sum(dim=1)


class BrierLossTrainer(CalibrationLossTrainer):
    """``Trainer`` whose loss is ``lm_loss + lam * expected Brier score of the confidence token +
    format_weight * grid_nll``.

    Each optimizer step logs ``loss``, ``lm_loss``, ``brier``, ``grid_nll`` and
    ``mean_confidence`` (the expected stated confidence of the window).
    """

    components = ("lm_loss", "brier", "grid_nll", "mean_confidence")

    def __init__(self, *args: Any, grid_ids: Sequence[int], values: Sequence[float],
                 format_weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.format_weight = float(format_weight)
        self.grid_ids = torch.tensor(list(grid_ids), dtype=torch.long)
        self.values = torch.tensor(list(values), dtype=torch.float32)

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        outputs = model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False
        )
        logits = outputs.logits
        lm_mask = inputs["lm_labels"][:, 1:] != IGNORE
        logps = token_logprobs(logits, inputs["input_ids"], lm_mask)
        lm_sum = -(logps * lm_mask).sum()

        marks = inputs["answer_mask"].bool()
        has_grid = marks.any(dim=1)
        position = marks.float().argmax(dim=1)  # the last token of the text: it predicts the grid token
        rows = torch.arange(logits.shape[0], device=logits.device)
        next_logits = logits[rows, position].float()
        grid_logits = next_logits[:, self.grid_ids.to(logits.device)]
        brier, confidence = expected_brier(grid_logits, self.values.to(logits.device), inputs["is_correct"])
        grid_nll = torch.logsumexp(next_logits, dim=-1) - torch.logsumexp(grid_logits, dim=-1)

        n_tokens, n_examples, scale = self.window(lm_mask, has_grid, model.training)
        lm_loss = lm_sum / max(n_tokens, 1.0)
        per_example = max(n_examples, 1.0)
        mean_brier = (brier * has_grid).sum() / per_example
        mean_grid_nll = (grid_nll * has_grid).sum() / per_example
        loss = lm_loss + self.lam * mean_brier + self.format_weight * mean_grid_nll
        self.record(model.training, lm_loss=lm_loss, brier=mean_brier, grid_nll=mean_grid_nll,
                    mean_confidence=(confidence * has_grid).sum() / per_example)
        loss = loss * scale
        return (loss, outputs) if return_outputs else loss

    def total(self, means: dict[str, float]) -> float:
        return means["lm_loss"] + self.lam * means["brier"] + self.format_weight * means["grid_nll"]
