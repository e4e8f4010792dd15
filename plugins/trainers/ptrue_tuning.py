"""The ``ptrue_tuning`` trainer (calibration-tuning, Kapoor et al. 2024): leave the answers alone
and train only the self-evaluation — a LoRA adapter fitted with cross-entropy on the P(True)
query about each of the model's own training answers, against the judge's verdict on it.

Input: the judged training split as the ``ptrue`` extractor answered it (the plain greedy
answer). Each record becomes the extractor's P(True) query about that answer plus the options'
shared tokens, and the loss is the cross-entropy of the two options' softmax (``ptrue_loss``):
what the ``ptrue`` extractor reads at evaluation, exactly.

The trained model's ``ModelRef`` has ``scope = "follow_ups"``: at evaluation the base model
answers (the run reuses the baseline's answers and verdicts) and the adapter serves only the
P(True) query, so accuracy cannot fall by construction. ``merge`` is refused for that reason
(a merged adapter would answer too). Output: the adapter in ``out_dir/adapter``,
``train_log.jsonl`` (``ptrue_ce``, ``mean_ptrue`` per step) and ``train_summary.json``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.errors import InsufficientDataError, ParameterError
from harness.plugins.extractors import formats
from harness.plugins.trainers import common
from harness.records import ModelRef, TrainingRecord


def option_rows(tokenizer: Any, options: Sequence[str]) -> tuple[list[int], list[int]]:
    """The options' shared ids (to append to the query) and each option's last token id — as the
    backends' ``score`` tokenizes a continuation (on its own, appended to the prompt's ids). Options
    that do not end in one distinct token each after shared ones are a ``ParameterError``."""
    from harness.plugins.backends.common import split_last_tokens

    ids = [list(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in options]
    split = split_last_tokens(ids)  # as the hf backend's score() reads them: one shared row
    if split is None:
        raise ParameterError(f"trainer 'ptrue_tuning': the options {list(options)} are not told apart by one "
                             f"last token each after shared ones (tokenized: {ids})")
    return split


class PTrueTuningTrainer:
    """LoRA on the P(True) query only (cross-entropy against the verdict); answers untouched."""

    name = "ptrue_tuning"
    #: the shared trainer parameters (``common.shared_parameters``), taken as ``**params``
    __keyword_params__ = common.shared_parameters(
        lora_r=8, lora_alpha=16, epochs=2, learning_rate=1e-4, batch_size=8, gradient_accumulation_steps=2,
        max_length=512)
    extractor = "ptrue"
    #: its training records are the judged plain answers the ptrue extractor reads
    train_extractor = "ptrue"

    def __init__(
        self,
        **params: Any,
    ) -> None:
        shared = common.shared(self.name, self.__keyword_params__, params)
        chat_template = shared["chat_template"]
        merge = shared["merge"]
        common.check_chat_template(self.name, chat_template)
        if merge is True:
            raise ParameterError("trainer 'ptrue_tuning': merge = true would let the adapter answer too; "
                                 "it serves only the P(True) query (leave merge false)")
        self.chat_template = chat_template
        self.settings = common.TrainSettings.from_parameters(self.name, shared)
        self.report_to = self.settings.report_to

    def build(self, model: ModelRef, records: Sequence[TrainingRecord], out_dir: Path, extractor: Any,
              **overrides: Any) -> tuple[Any, str, dict[str, int]]:
        """The ready-to-run transformers trainer, the resolved base and counts of the records used;
        ``overrides`` go to ``TrainingArguments`` (e.g. ``max_steps``)."""
        from peft import get_peft_model
        from transformers import TrainingArguments

        from harness.plugins.backends.common import prompt_token_ids
        from harness.plugins.trainers.encoding import collate
        from harness.plugins.trainers.ptrue_loss import PTrueLossTrainer

        common.check_records(self.name, records)
        if not callable(getattr(extractor, "query", None)):
            raise ParameterError("trainer 'ptrue_tuning' needs the ptrue extractor (its query)")
        out_dir = Path(out_dir)
        base, tokenizer, lm_model, chat = common.load_for_training(model, out_dir, self.chat_template)
        shared, option_ids = option_rows(tokenizer, formats.PTRUE_OPTIONS)
        features, too_long = [], 0
        for record in records:
            if not record.answer:
                continue  # an empty answer has no query (the extractor asks none)
            ids = prompt_token_ids(tokenizer, extractor.query(record.example, record.answer), chat) + shared
            if len(ids) > self.settings.max_length:
                too_long += 1
                continue
            features.append({"input_ids": ids, "lm_mask": [0] * len(ids),
                             "answer_mask": [0] * (len(ids) - 1) + [1], "is_correct": float(record.correct)})
        if not features:
            raise InsufficientDataError(f"trainer 'ptrue_tuning': no training records with an answer "
                                        f"({len(records)}; {too_long} longer than max_length)")
        counts = {"records": len(records), "used": len(features), "too_long": too_long,
                  "correct": sum(int(f["is_correct"]) for f in features)}
        precision = common.choose_precision()
        common.seed_everything(self.settings.seed)  # the LoRA initialisation is random
        peft_model = get_peft_model(lm_model, common.lora_config(lm_model, self.settings))
        args = TrainingArguments(**{**common.common_arguments(self.settings, precision, out_dir, "ptrue"),
                                    **overrides})
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        trainer = PTrueLossTrainer(model=peft_model, args=args, train_dataset=features,
                                   data_collator=functools.partial(collate, pad_token_id=pad_id),
                                   processing_class=tokenizer, option_ids=option_ids)
        common.install_callbacks(trainer, out_dir / common.LOG_FILE, "ptrue")
        return trainer, base, counts

    def train(self, model: ModelRef, records: Sequence[TrainingRecord], out_dir: Path,
              extractor: Any = None) -> ModelRef:
        out_dir = Path(out_dir)
        trainer, base, counts = self.build(model, records, out_dir, extractor)
        params = {"chat_template": self.chat_template, **common.settings_dict(self.settings)}
        ref = common.train_and_save(trainer, base, out_dir, name=self.name, phase="ptrue", merge=False,
                                    params=params, counts=counts)
        return attrs.evolve(ref, scope="follow_ups")
