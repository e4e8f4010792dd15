"""The ``implicit`` trainer (the seed's Option A): LoRA with ``lm_loss + lam * MSE(p, correct)``.

Input: the judged training split as generated with the ``logprob`` extractor's plain
prompt; ``p`` is the mean probability of the answer's tokens, the very confidence that
extractor reports, regressed onto the judge's verdict; the LM loss covers the answer
tokens of the examples ``lm_on`` selects (``correct`` by default: reinforcing wrong
answers would trade accuracy for calibration). Output: the adapter and tokenizer in
``out_dir/adapter`` (plus ``out_dir/merged`` with ``merge = true``), the per-step
``train_log.jsonl`` and ``train_summary.json``. The model is evaluated again with ``logprob``.
A killed training resumes from its last checkpoint (``out_dir/checkpoints/implicit``, one every
tenth of the steps, removed once the adapter is saved).

Several GPUs: the transformers ``Trainer`` underneath runs data-parallel under accelerate,
e.g. ``accelerate launch --multi_gpu --num_processes 4 -m harness.cli run --trainer implicit
--model google/gemma-2b``; the batch is per device, and gradient accumulation and the loss
normalisation stay exact across processes. Without CUDA the same command runs
CPU processes over gloo (``tests/running/test_multiprocess.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import InsufficientDataError, ParameterError
from harness.plugins.trainers import common
from harness.records import ModelRef, TrainingRecord

LM_ON = ("correct", "all", "none")


def build_features(
    tokenizer: Any,
    items: Sequence[tuple[str, str, bool, bool]],
    *,
    chat: bool = False,
    end_turn: bool = False,
    append_eos: bool = False,
    max_length: int | None = None,
) -> list[dict[str, Any]]:
    """Encoded training examples from ``(prompt, completion, is_correct, lm)`` items; ``lm`` says
    whether the LM loss covers this completion. Items without answer tokens are left out."""
    from harness.plugins.trainers.encoding import encode

    features = []
    for prompt, completion, correct, lm in items:
        enc = encode(
            tokenizer,
            prompt,
            completion,
            chat=chat,
            end_turn=end_turn,
            append_eos=append_eos,
            max_length=max_length,
        )
        if not any(enc.answer_mask):
            continue
        features.append(
            {
                "input_ids": enc.input_ids,
                "lm_mask": enc.completion_mask if lm else [0] * len(enc.input_ids),
                "answer_mask": enc.answer_mask,
                "is_correct": float(correct),
            }
        )
    return features


def terminated(completion: str, stops: Sequence[str], chat: bool) -> str:
    """The completion as the model ended it: backends hand back the text without the stop
    string that ended it, so the plain format's stop (``\\n``) is put back for the LM loss
    to keep teaching the model to stop (a chat turn is closed by its template instead)."""
    if chat or not stops or not completion.strip() or any(completion.endswith(s) for s in stops):
        return completion
    return completion + stops[0]


def make_trainer(
    model: Any,
    tokenizer: Any,
    features: list[dict[str, Any]],
    settings: common.TrainSettings,
    out_dir: Path,
    *,
    lam: float,
    phase: str,
    **overrides: Any,
) -> Any:
    """A ``CalibrationLossTrainer`` with a fresh LoRA adapter on ``model``, logging to
    ``out_dir/train_log.jsonl``; ``overrides`` go to ``TrainingArguments``."""
    from peft import get_peft_model
    from transformers import TrainingArguments

    from harness.plugins.trainers.encoding import collate
    from harness.plugins.trainers.implicit_loss import CalibrationLossTrainer

    precision = common.choose_precision()
    common.seed_everything(settings.seed)  # the LoRA initialisation is random
    peft_model = get_peft_model(model, common.lora_config(model, settings))
    args = TrainingArguments(**{**common.common_arguments(settings, precision, out_dir, phase), **overrides})
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    trainer = CalibrationLossTrainer(
        model=peft_model,
        args=args,
        train_dataset=features,
        data_collator=functools.partial(collate, pad_token_id=pad_id),
        processing_class=tokenizer,
        lam=lam,
    )
    common.install_callbacks(trainer, out_dir / common.LOG_FILE, phase)
    return trainer


class ImplicitTrainer:
    """LoRA training with the implicit calibration loss; evaluated with the ``logprob`` extractor."""

    name = "implicit"
    #: the shared trainer parameters (``common.shared_parameters``), taken as ``**params``
    __keyword_params__ = common.shared_parameters()
    extractor = "logprob"
    #: its training records are the judged answers of the plain (``logprob``) format
    train_extractor = "logprob"

    def __init__(
        self,
        *,
        lam: float = 1.0,
        lm_on: str = "correct",
        **params: Any,
    ) -> None:
        shared = common.shared(self.name, self.__keyword_params__, params)
        chat_template = shared["chat_template"]
        common.check_choice(self.name, "lm_on", lm_on, LM_ON)
        common.check_chat_template(self.name, chat_template)
        self.chat_template = chat_template
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or lam < 0:
            raise ParameterError(f"trainer 'implicit': lam = {lam!r}; expected a number >= 0")
        self.lam = float(lam)
        self.lm_on = lm_on
        self.settings = common.TrainSettings.from_parameters(self.name, shared)
        self.report_to = self.settings.report_to  # the run logs its metrics to these trackers too

    def build(
        self,
        model: ModelRef,
        records: Sequence[TrainingRecord],
        out_dir: Path,
        extractor: Any = None,
        **overrides: Any,
    ) -> tuple[Any, str, dict[str, int]]:
        """The ready-to-run transformers trainer, the resolved base, and counts of the records used;
        ``overrides`` go to ``TrainingArguments`` (e.g. ``max_steps``, ``optim``)."""
        common.check_records(self.name, records)
        out_dir = Path(out_dir)
        base, tokenizer, lm_model, chat = common.load_for_training(model, out_dir, self.chat_template)
        lm = {"all": lambda r: True, "correct": lambda r: r.correct, "none": lambda r: False}[self.lm_on]
        stops = tuple(s for s in getattr(extractor, "stop", ("\n",)) if s)
        items = [(r.prompt, terminated(r.completion, stops, chat), r.correct, lm(r)) for r in records]
        features = build_features(
            tokenizer, items, chat=chat, end_turn=chat, max_length=self.settings.max_length
        )
        if not features:
            raise InsufficientDataError(
                f"trainer 'implicit': none of the {len(records)} training records has a non-blank completion"
            )
        counts = {
            "records": len(records),
            "used": len(features),
            "skipped_blank": len(records) - len(features),
            "correct": sum(int(f["is_correct"]) for f in features),
        }
        trainer = make_trainer(
            lm_model, tokenizer, features, self.settings, out_dir, lam=self.lam, phase="implicit", **overrides
        )
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
        params = {"lam": self.lam, "lm_on": self.lm_on, "chat_template": self.chat_template,
                  **common.settings_dict(self.settings)}
        return common.train_and_save(trainer, base, out_dir, name=self.name, phase="implicit",
                                     merge=self.settings.merge, params=params, counts=counts)
