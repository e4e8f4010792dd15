"""The ``explicit`` trainer (the seed's Option B): DPO on stated-confidence preference pairs.

Input: the judged training split (answers and log-probability confidences of the plain
format) and the ``verbalized`` extractor, whose prompt and ``Answer:/Confidence:`` format
the pairs use (``pairs.py``: chosen = the model's own answer with a calibrated confidence,
rejected = the same answer with one at least ``min_distance`` away). Steps:

1. the pairs, written to ``out_dir/pairs.jsonl`` (and the fitted calibrator to
   ``out_dir/calibrator.json``);
2. optionally (``sft_epochs`` > 0) a supervised warm-up on the chosen completions with a
   LoRA adapter, merged and saved to ``out_dir/sft_merged``: it becomes DPO's reference.
   On a small model this step was decisive (DPO alone never moved the stated confidence);
3. TRL's ``DPOTrainer`` with a fresh LoRA adapter and ``ref_model=None`` (the reference is
   the model with the adapter disabled: no second copy in memory).

Output: ``ModelRef(base=<the SFT-merged folder, else the base>, adapter=out_dir/adapter)``
(plus ``out_dir/merged`` with ``merge = true``), ``train_log.jsonl`` with the ``sft`` and
``dpo`` steps (DPO's rewards and margins included) and ``train_summary.json``. The model
is evaluated again with ``verbalized``.

A killed training resumes: a finished warm-up (``sft_merged``, saved whole or not at all) is
reused, and each phase continues from its last checkpoint (``out_dir/checkpoints/<phase>``).

Several GPUs: both steps run on the transformers ``Trainer``, so they run data-parallel
under accelerate, e.g. ``accelerate launch --multi_gpu --num_processes 4 -m harness.cli run
--trainer explicit --extractor verbalized --model google/gemma-2b`` (batch per device).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import InsufficientDataError, ParameterError
from harness.plugins.trainers import common
from harness.records import ModelRef, TrainingRecord

LOSS_TYPES = (
    "sigmoid", "hinge", "ipo", "robust", "bco_pair", "sppo_hard", "nca_pair", "apo_zero", "apo_down", "sft",
)
PAIRS_FILE = "pairs.jsonl"
CALIBRATOR_FILE = "calibrator.json"
SFT_DIR = "sft_merged"
#: what the warm-up's LM loss covers: ``correct`` answers in full and only the stated
#: confidence of wrong ones (default), ``all`` completions in full, or only the stated
#: ``confidence`` of every answer (the answers themselves are never trained)
SFT_LM_ON = ("correct", "all", "confidence")


class ExplicitTrainer:
    """SFT warm-up (optional) and DPO on calibrated stated confidences; evaluated with ``verbalized``."""

    name = "explicit"
    #: the shared trainer parameters (``common.shared_parameters``), taken as ``**params``
    __keyword_params__ = common.shared_parameters()
    extractor = "verbalized"
    #: its training records are the judged answers of the plain (``logprob``) format
    train_extractor = "logprob"

    def __init__(
        self,
        *,
        beta: float = 0.1,
        loss_type: str | list[str] = ["sigmoid"],  # noqa: B006 (never mutated: equals the registry's list)
        target: str = "empirical",
        calibrator: str = "histogram",
        bins: int = 10,
        n_rejected: int = 1,
        min_distance: float = 0.3,
        sft_epochs: float = 0,
        sft_learning_rate: float = 1e-4,
        sft_lm_on: str = "correct",
        **params: Any,
    ) -> None:
        from harness.plugins.trainers.pairs import TARGETS, calibrator_name, check_min_distance

        shared = common.shared(self.name, self.__keyword_params__, params)
        chat_template = shared["chat_template"]
        common.check_choice(self.name, "target", target, TARGETS)
        common.check_choice(self.name, "sft_lm_on", sft_lm_on, SFT_LM_ON)
        loss_types = [loss_type] if isinstance(loss_type, str) else list(loss_type)
        if not loss_types:
            raise ParameterError("trainer 'explicit': loss_type is empty; e.g. [\"sigmoid\"]")
        for name in loss_types:
            common.check_choice(self.name, "loss_type", name, LOSS_TYPES)
        for key, value, ok in (
            ("beta", beta, isinstance(beta, (int, float)) and beta > 0),
            ("bins", bins, isinstance(bins, int) and bins >= 1),
            ("n_rejected", n_rejected, isinstance(n_rejected, int) and n_rejected >= 1),
            ("sft_epochs", sft_epochs, isinstance(sft_epochs, (int, float)) and sft_epochs >= 0),
            ("sft_learning_rate", sft_learning_rate, isinstance(sft_learning_rate, (int, float))
             and sft_learning_rate > 0),
        ):
            if isinstance(value, bool) or not ok:
                raise ParameterError(f"trainer 'explicit': {key} = {value!r} is out of range")
        common.check_chat_template(self.name, chat_template)
        self.chat_template = chat_template
        try:
            check_min_distance(min_distance)
            calibrator = calibrator_name(calibrator)  # "binned" is the monotone histogram
        except ParameterError as exc:
            raise ParameterError(f"trainer 'explicit': {exc}") from None
        self.beta = float(beta)
        self.loss_type = loss_types
        self.target = target
        self.calibrator = calibrator
        self.bins = bins
        self.n_rejected = n_rejected
        self.min_distance = float(min_distance)
        self.sft_epochs = sft_epochs
        self.sft_learning_rate = float(sft_learning_rate)
        self.sft_lm_on = sft_lm_on
        self.settings = common.TrainSettings.from_parameters(self.name, shared)
        self.report_to = self.settings.report_to  # the run logs its metrics to these trackers too

    def params(self) -> dict[str, Any]:
        return {
            "beta": self.beta,
            "loss_type": self.loss_type,
            "target": self.target,
            "calibrator": self.calibrator,
            "bins": self.bins,
            "n_rejected": self.n_rejected,
            "min_distance": self.min_distance,
            "sft_epochs": self.sft_epochs,
            "sft_learning_rate": self.sft_learning_rate,
            "sft_lm_on": self.sft_lm_on,
            "chat_template": self.chat_template,
            **common.settings_dict(self.settings),
        }

    # --- steps -------------------------------------------------------------------------------

    def pairs(self, records: Sequence[TrainingRecord], fmt: Any) -> tuple[list[Any], Any]:
        """The preference pairs and the fitted calibrator (``None`` for ``binary`` targets)."""
        from harness.plugins.trainers.pairs import calibrated_targets, make_pairs

        targets, fitted = calibrated_targets(
            records, target=self.target, calibrator=self.calibrator, bins=self.bins
        )
        pairs = make_pairs(
            records,
            targets,
            fmt,
            n_rejected=self.n_rejected,
            min_distance=self.min_distance,
            seed=self.settings.seed,
        )
        return pairs, fitted

    def fitting(self, pairs: Sequence[Any], tokenizer: Any, chat: bool) -> tuple[list[Any], int]:
        """The pairs whose prompt and completions fit in ``max_length`` tokens as TRL tokenizes them,
        and how many examples were left out. TRL cuts a longer sequence at its end, which can cut
        the ``Confidence:`` line that DPO is about: such an example is refused, with a warning."""
        limit = self.settings.max_length
        def fits(pair: Any) -> bool:
            return max(dpo_length(tokenizer, pair, c, chat) for c in (pair.chosen, pair.rejected)) <= limit

        kept = [p for p in pairs if fits(p)]
        examples = {p.example_id for p in pairs}
        refused = len(examples) - len({p.example_id for p in kept})
        if not kept:
            raise InsufficientDataError(
                f"trainer 'explicit': all {len(examples)} examples are longer than max_length = {limit} "
                "tokens (prompt and completion, which DPO would cut before the Confidence: line); "
                "raise max_length"
            )
        if refused and common.is_main_process():
            print(f"harness: warning: trainer 'explicit': {refused} of {len(examples)} examples are longer "
                  f"than max_length = {limit} tokens and are left out (cut, they would lose the Confidence: "
                  "line)", file=sys.stderr)
        return kept, refused

    def _warm_up_item(self, pair: Any, chat: bool) -> tuple[str, str, bool, bool]:
        """``(prompt, completion, correct, lm)`` for the warm-up. Where ``sft_lm_on`` leaves an
        answer out of the loss (a wrong one under ``correct``, every one under ``confidence``)
        its ``Answer:`` line moves into the prompt, so the loss teaches the calibrated
        ``Confidence:`` line without training the answer (in the plain format; a chat turn
        cannot be split, so there the whole completion is kept)."""
        keep_answer = self.sft_lm_on == "all" or (pair.correct and self.sft_lm_on == "correct")
        if keep_answer or chat:
            return (pair.prompt, pair.chosen, pair.correct, True)
        head, sep, tail = pair.chosen.partition("\n")
        if not sep:
            return (pair.prompt, pair.chosen, pair.correct, True)
        return (pair.prompt + head + sep, tail, pair.correct, True)

    def warm_up(self, model: Any, tokenizer: Any, pairs: Sequence[Any], out_dir: Path, chat: bool) -> Any:
        """Supervised LoRA training on the chosen completions, merged; the merged model is
        saved to ``out_dir/sft_merged`` and returned."""
        import attrs

        from harness.plugins.trainers.implicit import build_features, make_trainer

        chosen = {p.example_id: self._warm_up_item(p, chat) for p in pairs}  # one per example
        features = build_features(
            tokenizer,
            list(chosen.values()),
            chat=chat,
            end_turn=chat,  # closed as DPO closes it: the template's end of turn, else eos
            append_eos=not chat,
            max_length=self.settings.max_length,
        )
        settings = attrs.evolve(self.settings, epochs=self.sft_epochs, learning_rate=self.sft_learning_rate)
        trainer = make_trainer(model, tokenizer, features, settings, out_dir, lam=0.0, phase="sft")
        common.run_phase(trainer, out_dir, "sft")
        merged = common.merge_and_save(trainer.model, tokenizer, out_dir / SFT_DIR)
        common.drop_checkpoints(out_dir, "sft")
        return merged

    def dpo_trainer(
        self, model: Any, tokenizer: Any, pairs: Sequence[Any], out_dir: Path, chat: bool, **overrides: Any
    ) -> Any:
        """TRL's ``DPOTrainer`` with a fresh LoRA adapter on ``model`` (reference: adapter disabled);
        with ``chat`` the pairs are conversations, which TRL renders through the chat template."""
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer

        precision = common.choose_precision()
        arguments = {
            **common.common_arguments(self.settings, precision, out_dir, "dpo"),
            "beta": self.beta,
            "loss_type": list(self.loss_type),
            "max_length": self.settings.max_length,
            **overrides,
        }
        common.seed_everything(self.settings.seed)
        trainer = DPOTrainer(
            model=model,
            ref_model=None,
            args=DPOConfig(**arguments),
            train_dataset=Dataset.from_list([p.as_dpo(chat=chat) for p in pairs]),
            processing_class=tokenizer,
            peft_config=common.lora_config(model, self.settings),
        )
        common.install_callbacks(trainer, out_dir / common.LOG_FILE, "dpo")
        return trainer

    # --- the trainer contract -------------------------------------------------------------------

    def train(
        self,
        model: ModelRef,
        records: Sequence[TrainingRecord],
        out_dir: Path,
        extractor: Any = None,
    ) -> ModelRef:
        from harness.artifacts import write_json_atomic, write_jsonl_atomic

        common.check_records(self.name, records)
        out_dir = Path(out_dir)
        if extractor is None:  # the format the verbalized extractor prompts and parses
            from harness.plugins.extractors.verbalized import VerbalizedExtractor

            extractor = VerbalizedExtractor()
        pairs, fitted = self.pairs(records, extractor)
        if not pairs:
            raise InsufficientDataError(
                f"trainer 'explicit': none of the {len(records)} training records has a non-blank answer"
            )
        base, tokenizer, lm_model, chat = common.load_for_training(model, out_dir, self.chat_template)
        pairs, too_long = self.fitting(pairs, tokenizer, chat)
        if common.is_main_process():
            write_jsonl_atomic(out_dir / PAIRS_FILE, pairs)
            if fitted is not None:
                write_json_atomic(out_dir / CALIBRATOR_FILE, fitted.to_dict())

        if self.sft_epochs > 0:
            sft_dir = out_dir / SFT_DIR
            if sft_dir.is_dir():  # a killed attempt finished the warm-up: DPO starts from it
                lm_model = common.load_model(str(sft_dir), common.choose_precision())
            else:
                lm_model = self.warm_up(lm_model, tokenizer, pairs, out_dir, chat)
            base = str(sft_dir)
        trainer = self.dpo_trainer(lm_model, tokenizer, pairs, out_dir, chat)
        result = common.run_phase(trainer, out_dir, "dpo")
        ref = common.finish(trainer.model, tokenizer, base, out_dir, self.settings.merge, trainer=trainer)
        examples = {p.example_id for p in pairs}
        common.write_summary(
            out_dir,
            trainer=self.name,
            params=self.params(),
            counts={
                "records": len(records),
                "used": len(examples),
                "skipped_blank": len(records) - len(examples) - too_long,
                "too_long": too_long,
                "pairs": len(pairs),
                "correct": sum(1 for r in records if r.correct and r.example.id in examples),
            },
            metrics=result.metrics,
            model=ref,
        )
        common.drop_checkpoints(out_dir, "dpo")
        return ref


def dpo_length(tokenizer: Any, pair: Any, completion: str, chat: bool) -> int:
    """Tokens of ``pair.prompt`` with ``completion`` as TRL's ``DPOTrainer`` tokenizes them: the
    plain text with eos appended, or the conversation through the chat template."""
    if not chat:
        return len(tokenizer(pair.prompt + completion + (tokenizer.eos_token or ""))["input_ids"])
    turns = [{"role": "user", "content": pair.prompt}, {"role": "assistant", "content": completion}]
    ids = tokenizer.apply_chat_template(turns, tokenize=True)
    return len(ids["input_ids"] if isinstance(ids, Mapping) else ids)
