"""The implicit calibration loss as a transformers ``Trainer``: ``lm_loss + lam * MSE(p, correct)``.

One forward pass per micro-batch gives both terms: the log-probabilities of the
completion tokens (the LM loss, on the examples ``lm_on`` selects) and the mean
probability ``p`` of each example's answer tokens (the confidence the ``logprob``
extractor reads), regressed onto the judge's verdict.

Gradient accumulation is exact: the LM loss is a mean over every LM token of the
accumulation window and the MSE a mean over every example of it (across processes under
``accelerate launch``), so one step of batch 4 and four accumulated steps of batch 1 make
the same update. Each micro-batch's loss is already scaled for that, hence
``loss_is_scaled_for_ga = True`` (transformers would otherwise divide it again).

This module imports torch and transformers at import time; the plugin imports it lazily.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer

from harness.plugins.trainers.encoding import IGNORE, token_logprobs

COMPONENTS = ("lm_loss", "mse", "mean_prob")


class CalibrationLossTrainer(Trainer):
    """``Trainer`` whose loss is ``lm_loss + lam * MSE(mean answer-token probability, is_correct)``.

    Batches come from ``encoding.collate``: ``input_ids``, ``attention_mask``, ``lm_labels``,
    ``answer_mask``, ``is_correct``. Each optimizer step logs ``loss``, ``lm_loss``, ``mse``
    and ``mean_prob`` (mean answer probability of the window).
    """

    loss_is_scaled_for_ga = True
    #: the logged parts of the loss (``total`` combines them) and a mean
    components: tuple[str, ...] = COMPONENTS

    def __init__(self, *args: Any, lam: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lam = float(lam)
        self._window: tuple[float, float, float] | None = None  # (LM tokens, examples, world scale)
        self._sums: dict[str, Any] = {name: 0.0 for name in self.components}
        self._last_logged_step = 0

    def window(self, lm_mask: Any, has_answer: Any, training: bool) -> tuple[float, float, float]:
        """(LM tokens, examples, scale) of the accumulation window, or of this batch alone
        when called outside a training window (e.g. directly)."""
        if self._window is not None and training:
            return self._window
        return float(lm_mask.sum()), float(has_answer.sum()), 1.0

    def total(self, means: dict[str, float]) -> float:
        """The loss from the means of its logged parts."""
        return means["lm_loss"] + self.lam * means["mse"]

    def record(self, training: bool, **parts: Any) -> None:
        """Add a micro-batch's loss components to the sums logged at the next step."""
        if training:  # detached tensors: no device sync per micro-batch
            for name, value in parts.items():
                self._sums[name] += value.detach()

    # The accumulation window's counts, seen before any of its micro-batches runs.
    def get_batch_samples(self, epoch_iterator: Any, num_batches: int, device: Any) -> tuple[list, Any]:
        batches, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
        if not batches:
            return batches, num_items
        counts = torch.tensor(
            [
                sum((b["lm_labels"][:, 1:] != IGNORE).sum().item() for b in batches),
                sum(b["answer_mask"].bool().any(dim=1).sum().item() for b in batches),
            ],
            dtype=torch.float64,
            device=self.args.device,
        )
        scale = 1.0
        if self.args.world_size > 1:
            counts = self.accelerator.reduce(counts, reduction="sum")
            scale = float(self.args.world_size)  # DDP averages gradients over processes
        self._window = (counts[0].item(), counts[1].item(), scale)
        return batches, num_items

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
        lm_mask = inputs["lm_labels"][:, 1:] != IGNORE
        answer_mask = inputs["answer_mask"][:, 1:].bool()
        logps = token_logprobs(outputs.logits, inputs["input_ids"], lm_mask | answer_mask)

        has_answer = answer_mask.any(dim=1)
        mean_prob = (logps.exp() * answer_mask).sum(dim=1) / answer_mask.sum(dim=1).clamp(min=1)
        target = inputs["is_correct"].to(mean_prob.dtype)
        lm_sum = -(logps * lm_mask).sum()
        se_sum = ((mean_prob - target) ** 2 * has_answer).sum()

        n_tokens, n_examples, scale = self.window(lm_mask, has_answer, model.training)
        lm_loss = lm_sum / max(n_tokens, 1.0)
        mse = se_sum / max(n_examples, 1.0)
        loss = lm_loss + self.lam * mse
        self.record(model.training, lm_loss=lm_loss, mse=mse,
                    mean_prob=(mean_prob * has_answer).sum() / max(n_examples, 1.0))
        loss = loss * scale
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        steps = self.state.global_step - self._last_logged_step
        if "loss" in logs and steps > 0:
            names = self.components
            sums = torch.stack(
                [torch.as_tensor(self._sums[n], device=self.args.device).double() for n in names]
            )
            if self.args.world_size > 1:
                sums = self.accelerator.reduce(sums, reduction="sum")
            means = dict(zip(names, (sums / steps).tolist(), strict=True))
            logs["loss"] = self.total(means)
            logs.update(means)
            self._sums = {name: 0.0 for name in names}
            self._last_logged_step = self.state.global_step
        super().log(logs, start_time)
