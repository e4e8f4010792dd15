"""The ``brier`` trainer: LoRA with ConfTuner's tokenized Brier loss on the stated confidence.

Input: the judged training split as answered in the ``verbalized`` format. Each record
becomes the verbalized prompt, the model's own answer and the start of the confidence line
(``Answer: X\\nConfidence: 0.``); the model's next-token probabilities over the grid tokens
(``0`` ... ``9``: the confidence's first decimal), renormalised, define an expected Brier
score ``sum_k p_k (v_k - y)^2`` against the judge's verdict ``y``, minimised together with
the LM loss on the answers ``lm_on`` selects and ``format_weight`` times the negative log of
the grid tokens' total probability, which keeps the model writing a digit there
(``brier_loss.BrierLossTrainer``). No target
confidence is invented, unlike the DPO pairs of ``explicit``. The grid token ``k`` stands
for a confidence in ``[k/10, (k+1)/10)``; its value in the loss is ``values[k]`` (the bin
centre by default).

A grid the tokenizer cannot express as one token each right after the prefix is refused
before training (``ParameterError``). Output as ``implicit``: the adapter in
``out_dir/adapter``, ``train_log.jsonl`` (``brier``, ``lm_loss``, ``mean_confidence`` per
step) and ``train_summary.json``. Evaluated with ``verbalized``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import InsufficientDataError, ParameterError
from harness.plugins.trainers import common
from harness.plugins.trainers.implicit import LM_ON
from harness.records import ModelRef, TrainingRecord

DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]


def grid_values(grid: Sequence[str], values: Sequence[float]) -> list[float]:
    """The confidence each grid token stands for: ``values``, or the centres of equal bins."""
    if not values:
        return [(k + 0.5) / len(grid) for k in range(len(grid))]
    return [float(v) for v in values]


def grid_token_ids(tokenizer: Any, prompt: str, prefix: str, grid: Sequence[str], *, chat: bool) -> list[int]:
    """The token id of each grid string right after ``prompt + prefix``; a string that is not
    exactly one more token there is a ``ParameterError``."""
    from harness.plugins.trainers.encoding import encode

    base = encode(tokenizer, prompt, prefix, chat=chat).input_ids
    ids = []
    for text in grid:
        longer = encode(tokenizer, prompt, prefix + text, chat=chat).input_ids
        if len(longer) != len(base) + 1 or longer[: len(base)] != base:
            pieces = len(longer) - len(base)
            raise ParameterError(
                f"trainer 'brier': the confidence grid cannot be expressed as single tokens after "
                f"{prefix[-20:]!r}: {text!r} is {pieces} token(s) there (set grid/grid_prefix to what "
                f"the tokenizer writes as one token)"
            )
        ids.append(longer[-1])
    if len(set(ids)) != len(ids):
        raise ParameterError(f"trainer 'brier': grid strings {list(grid)} share a token")
    return ids


class BrierTrainer:
    """LoRA training with the tokenized Brier loss of the stated confidence; evaluated with ``verbalized``."""

    name = "brier"
    #: the shared trainer parameters (``common.shared_parameters``), taken as ``**params``
    __keyword_params__ = common.shared_parameters()
    extractor = "verbalized"
    #: its training records are the judged answers of the verbalized format
    train_extractor = "verbalized"

    def __init__(
        self,
        *,
        lam: float = 1.0,
        format_weight: float = 1.0,
        lm_on: str = "correct",
        marker: str = "Confidence:",
        grid_prefix: str = " 0.",
        grid: list[str] = DIGITS,  # noqa: B006 - read, never changed
        values: list[float] = [],  # noqa: B006 - read, never changed
        **params: Any,
    ) -> None:
        shared = common.shared(self.name, self.__keyword_params__, params)
        chat_template = shared["chat_template"]
        common.check_choice(self.name, "lm_on", lm_on, LM_ON)
        common.check_chat_template(self.name, chat_template)
        for key, weight in (("lam", lam), ("format_weight", format_weight)):
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise ParameterError(f"trainer 'brier': {key} = {weight!r}; expected a number >= 0")
        if len(grid) < 2 or not all(isinstance(g, str) and g for g in grid):
            raise ParameterError(f"trainer 'brier': grid = {grid!r}; expected two or more non-empty strings")
        if values and (len(values) != len(grid) or not all(0 <= v <= 1 for v in values)):
            raise ParameterError(f"trainer 'brier': values = {values!r}; expected one number in [0, 1] per "
                                 f"grid string ({len(grid)}), or [] for the bin centres")
        if not marker:
            raise ParameterError("trainer 'brier': marker must not be empty")
        self.lam, self.lm_on, self.chat_template = float(lam), lm_on, chat_template
        self.format_weight = float(format_weight)
        self.marker, self.grid_prefix = marker, grid_prefix
        self.grid, self.values = list(grid), grid_values(grid, values)
        self.settings = common.TrainSettings.from_parameters(self.name, shared)
        self.report_to = self.settings.report_to  # the run logs its metrics to these trackers too

    def text(self, record: TrainingRecord, extractor: Any) -> str:
        """The completion up to the grid token: ``Answer: X\\nConfidence: 0.``."""
        full = extractor.format_completion(record.answer, 0.5)
        at = full.find(self.marker)
        if at < 0:
            shown = getattr(extractor, "name", "extractor")
            raise ParameterError(f"trainer 'brier': the {shown} format has no {self.marker!r} (set marker)")
        return full[: at + len(self.marker)] + self.grid_prefix

    def build(
        self,
        model: ModelRef,
        records: Sequence[TrainingRecord],
        out_dir: Path,
        extractor: Any,
        **overrides: Any,
    ) -> tuple[Any, str, dict[str, int]]:
        """The ready-to-run transformers trainer, the resolved base, and counts of the records used;
        ``overrides`` go to ``TrainingArguments`` (e.g. ``max_steps``, ``optim``)."""
        from peft import get_peft_model
        from transformers import TrainingArguments

        from harness.plugins.trainers.brier_loss import BrierLossTrainer
        from harness.plugins.trainers.encoding import collate, encode

        common.check_records(self.name, records)
        if not callable(getattr(extractor, "format_completion", None)):
            raise ParameterError("trainer 'brier' needs an extractor with format_completion (verbalized)")
        out_dir = Path(out_dir)
        base, tokenizer, lm_model, chat = common.load_for_training(model, out_dir, self.chat_template)
        lm = {"all": lambda r: True, "correct": lambda r: r.correct, "none": lambda r: False}[self.lm_on]
        grid_ids = grid_token_ids(tokenizer, records[0].prompt, self.text(records[0], extractor), self.grid,
                                  chat=chat)
        features = []
        for record in records:
            enc = encode(tokenizer, record.prompt, self.text(record, extractor), chat=chat,
                         max_length=self.settings.max_length)
            mark = [0] * len(enc.input_ids)
            mark[-1] = 1  # this position's logits give the grid distribution
            features.append({"input_ids": enc.input_ids,
                             "lm_mask": enc.completion_mask if lm(record) else [0] * len(enc.input_ids),
                             "answer_mask": mark, "is_correct": float(record.correct)})
        if not features:
            raise InsufficientDataError(f"trainer 'brier': no training records ({len(records)})")
        counts = {"records": len(records), "used": len(features),
                  "correct": sum(int(f["is_correct"]) for f in features)}
        precision = common.choose_precision()
        common.seed_everything(self.settings.seed)  # the LoRA initialisation is random
        peft_model = get_peft_model(lm_model, common.lora_config(lm_model, self.settings))
        arguments = common.common_arguments(self.settings, precision, out_dir, "brier")
        args = TrainingArguments(**{**arguments, **overrides})
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        trainer = BrierLossTrainer(
            model=peft_model, args=args, train_dataset=features,
            data_collator=functools.partial(collate, pad_token_id=pad_id), processing_class=tokenizer,
            lam=self.lam, grid_ids=grid_ids, values=self.values, format_weight=self.format_weight,
        )
        common.install_callbacks(trainer, out_dir / common.LOG_FILE, "brier")
        return trainer, base, counts

    def train(
        self,
        model: ModelRef,
        records: Sequence[TrainingRecord],
        out_dir: Path,
        extractor: Any = None,
    ) -> ModelRef:
        out_dir = Path(out_dir)
        common.check_records(self.name, records)
        trainer, base, counts = self.build(model, records, out_dir, extractor)
        params = {"lam": self.lam, "format_weight": self.format_weight, "lm_on": self.lm_on,
                  "marker": self.marker, "grid_prefix": self.grid_prefix, "grid": self.grid,
                  "values": self.values, "chat_template": self.chat_template,
                  **common.settings_dict(self.settings)}
        return common.train_and_save(trainer, base, out_dir, name=self.name, phase="brier",
                                     merge=self.settings.merge, params=params, counts=counts)
