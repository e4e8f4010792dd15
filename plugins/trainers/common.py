"""What the trainers share: parameters, device and precision, LoRA, seeding, logging, saving.

The trainers receive the judged training split and a base model reference; this module
turns the shared hyperparameters (LoRA rank, epochs, learning rate, batch, ...) into
peft and transformers objects, and writes the run folder's training artefacts: the
per-step ``train_log.jsonl``, the adapter and tokenizer, an optional merged model.

Heavy libraries (torch, transformers, peft) are imported inside the functions, so the
plugin package stays instant to import.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.errors import InsufficientDataError, ParameterError
from harness.records import ModelRef

TARGET_MODULES_CHOICES = ("auto", "all-linear")
ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
INPUT_MERGED_DIR = "input_merged"
LOG_FILE = "train_log.jsonl"
SUMMARY_FILE = "train_summary.json"
CHECKPOINTS_DIR = "checkpoints"
#: a checkpoint every tenth of a phase's steps (the Trainer reads a fraction of its steps)
CHECKPOINT_EVERY = 0.1


@attrs.frozen(kw_only=True)
class TrainSettings:
    """The hyperparameters every trainer shares (the seed's values are the defaults)."""

    lora_r: int = 16
    lora_alpha: float = 32
    lora_dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "auto"
    epochs: float = 3
    learning_rate: float = 1e-5
    batch_size: int = 4
    gradient_accumulation_steps: int = 4
    seed: int = 0
    merge: bool = False
    max_length: int = 256
    #: experiment trackers the HF Trainer reports to (``harness.running.tracking.TRACKERS``); () for none
    report_to: tuple[str, ...] = ()
    #: more ``TrainingArguments`` fields, passed through as given (names checked: ``passthrough``)
    training_args: dict[str, Any] = attrs.field(factory=dict)

    @classmethod
    def build(cls, trainer: str, **params: Any) -> TrainSettings:
        """Validated settings; a bad value is a ``ParameterError`` naming the parameter."""
        targets = params.get("target_modules", "auto")
        if isinstance(targets, str):
            if targets not in TARGET_MODULES_CHOICES:
                targets = (targets,)  # a single module name
        elif isinstance(targets, Sequence) and targets and all(isinstance(t, str) for t in targets):
            targets = tuple(targets)
        else:
            bad(trainer, "target_modules", targets, "'auto', 'all-linear' or a list of module names")
        params["target_modules"] = targets
        check_positive_ints(trainer, params, "lora_r", "batch_size", "gradient_accumulation_steps",
                            "max_length")
        _positive(trainer, params, "lora_alpha", "epochs", "learning_rate")
        dropout = params.get("lora_dropout", 0.05)
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            bad(trainer, "lora_dropout", dropout, "a number in [0, 1)")
        if not isinstance(params.get("seed", 0), int):
            bad(trainer, "seed", params.get("seed"), "an integer")
        if not isinstance(params.get("merge", False), bool):
            bad(trainer, "merge", params.get("merge"), "true or false")
        from harness.running.tracking import check_trackers

        params["report_to"] = check_trackers(f"trainer {trainer!r}", params.get("report_to", "none"))
        params["training_args"] = training_arguments(trainer, params.get("training_args", {}))
        return cls(**params)

    @classmethod
    def from_parameters(cls, trainer: str, parameters: Mapping[str, Any]) -> TrainSettings:
        """``build`` from a trainer's shared keyword parameters (all of ``SHARED``, as ``shared``
        fills them in)."""
        return cls.build(trainer, **{name: parameters[name] for name in attrs.fields_dict(cls)})


#: the shared parameters whose typed form differs from the stored one (annotation, default):
#: a single name or a list, and ``"none"`` for no tracker
_AS_TYPED: dict[str, tuple[Any, Any]] = {
    "target_modules": (str | list[str], "auto"),
    "report_to": (str | list[str], "none"),
    "training_args": (dict[str, Any] | str, {}),
}
#: not a training setting but taken by every trainer: prompts through the tokenizer's chat template
_CHAT_TEMPLATE = inspect.Parameter("chat_template", inspect.Parameter.KEYWORD_ONLY, default="auto",
                                   annotation=str | bool)


def shared_parameters(**defaults: Any) -> dict[str, inspect.Parameter]:
    """The parameters every trainer takes, declared once: ``TrainSettings``' fields (their types and
    defaults) and ``chat_template``. ``defaults``: a trainer's own defaults for some of them.

    A trainer takes them as ``**shared`` and names them in ``__keyword_params__`` (where the
    registry reads its parameters): ``__keyword_params__ = shared_parameters(epochs=1)``."""
    unknown = set(defaults) - set(attrs.fields_dict(TrainSettings)) - {_CHAT_TEMPLATE.name}
    if unknown:
        raise TypeError(f"not a shared trainer parameter: {', '.join(sorted(unknown))}")
    out: dict[str, inspect.Parameter] = {}
    for field in attrs.fields(attrs.resolve_types(TrainSettings)):
        annotation, default = _AS_TYPED.get(field.name, (field.type, field.default))
        out[field.name] = inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY,
                                            default=defaults.get(field.name, default), annotation=annotation)
    out[_CHAT_TEMPLATE.name] = _CHAT_TEMPLATE.replace(default=defaults.get("chat_template", "auto"))
    return out


def shared(
    trainer: str, declared: Mapping[str, inspect.Parameter], given: Mapping[str, Any]
) -> dict[str, Any]:
    """The shared parameters a trainer was built with: ``given`` over the ``declared`` defaults; a
    keyword that is not one of them is a ``TypeError``, as for a keyword missing from a signature."""
    unknown = set(given) - set(declared)
    if unknown:
        names = ", ".join(sorted(unknown))
        raise TypeError(f"trainer {trainer!r} got unexpected keyword argument(s) {names}")
    return {name: given.get(name, p.default) for name, p in declared.items()}


def bad(trainer: str, name: str, value: Any, expected: str) -> None:
    raise ParameterError(f"trainer {trainer!r}: {name} = {value!r}; expected {expected}")


def check_positive_ints(trainer: str, params: dict[str, Any], *names: str) -> None:
    for name in names:
        value = params.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            bad(trainer, name, value, "a positive integer")


def _positive(trainer: str, params: dict[str, Any], *names: str) -> None:
    for name in names:
        value = params.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            bad(trainer, name, value, "a positive number")


#: ``TrainingArguments`` fields the harness sets from a parameter of its own (or owns: the checkpoints
#: a killed run resumes from live under the run folder): a passthrough may not set them
OWNED_FIELDS = {
    "per_device_train_batch_size": "batch_size", "gradient_accumulation_steps": "gradient_accumulation_steps",
    "num_train_epochs": "epochs", "learning_rate": "learning_rate", "seed": "seed", "data_seed": "seed",
    "report_to": "report_to", "output_dir": "the run folder (checkpoints/<phase>, where a rerun resumes)",
}


def as_table(trainer: str, name: str, value: Any) -> dict[str, Any]:
    """A passthrough's value as a dict: a TOML table (``-p trainer.rl.training_args='{max_grad_norm =
    0.5}'``), a JSON object in a string (``'{"max_grad_norm": 0.5}'``) or ``""`` for none."""
    from harness.plugins.backends.common import TABLE_FORM, table_parameter

    table = table_parameter(value)
    if table is None:
        bad(trainer, name, value, TABLE_FORM)
    return table or {}


def passthrough(trainer: str, name: str, value: Any, config_class: Any, owned: Mapping[str, str],
                base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``value`` (``as_table``) checked against the fields of ``config_class`` (a ``TrainingArguments``
    dataclass): an unknown field, one the trainer sets from its own parameter (``owned``: field ->
    parameter) or a value the class refuses beside the trainer's own arguments ``base`` is one
    ``ParameterError`` line, before any work."""
    import warnings

    table = as_table(trainer, name, value)
    if not table:
        return table
    fields = {f.name for f in dataclasses.fields(config_class) if f.init}
    unknown = sorted(set(table) - fields)
    if unknown:
        raise ParameterError(
            f"trainer {trainer!r}: {name}: {', '.join(unknown)}: not a field of {config_class.__name__} "
            f"({_library_of(config_class)})")
    taken = sorted(set(table) & set(owned))
    if taken:
        raise ParameterError(f"trainer {trainer!r}: {name}: {taken[0]} is set by the trainer's own "
                             f"parameter {owned[taken[0]]}; set that instead")
    if base is None:
        precision = choose_precision()
        base = {"use_cpu": precision.use_cpu, "bf16": precision.bf16, "report_to": "none"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config_class(**{**base, **table})  # the class's own checks of the values
    except (TypeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParameterError(f"trainer {trainer!r}: {name}: {config_class.__name__} refused {table}: {reason}"
                             ) from None
    return table


def _library_of(config_class: Any) -> str:
    import importlib.metadata

    package = config_class.__module__.partition(".")[0]
    try:
        return f"{package} {importlib.metadata.version(package)}"
    except importlib.metadata.PackageNotFoundError:
        return package


def training_arguments(trainer: str, value: Any) -> dict[str, Any]:
    """The ``training_args`` passthrough, checked against the installed ``TrainingArguments``."""
    if not as_table(trainer, "training_args", value):
        return {}
    from transformers import TrainingArguments

    return passthrough(trainer, "training_args", value, TrainingArguments, OWNED_FIELDS)


def check_choice(trainer: str, name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        bad(trainer, name, value, " | ".join(repr(c) for c in choices))


def check_records(trainer: str, records: Sequence[Any]) -> None:
    if not records:
        raise InsufficientDataError(f"trainer {trainer!r}: no training records (the training split is empty)")


# --- device and precision ------------------------------------------------------------------


@attrs.frozen
class Precision:
    """Where and in which dtype to train: fp32 on CPU, bf16 where the GPU supports it."""

    use_cpu: bool
    bf16: bool

    @property
    def dtype(self) -> Any:
        import torch

        return torch.bfloat16 if self.bf16 else torch.float32


def choose_precision() -> Precision:
    import torch

    if torch.cuda.is_available():
        return Precision(use_cpu=False, bf16=torch.cuda.is_bf16_supported(including_emulation=False))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Precision(use_cpu=False, bf16=False)
    return Precision(use_cpu=True, bf16=False)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (LoRA initialisation and data order depend on it)."""
    from transformers import set_seed

    set_seed(seed)


# --- models ---------------------------------------------------------------------------------


def prepare_base(model: ModelRef, out_dir: Path) -> str:
    """The folder or hub id of the model to train on (``tiny`` becomes its cached folder). A
    reference that already carries an adapter is merged first and saved to ``out_dir/input_merged``,
    so the new adapter has a base a generation backend can load."""
    from harness.plugins.models import resolve_model

    base = str(resolve_model(model.base))
    if not model.adapter:
        return base
    from peft import PeftModel

    folder = out_dir / INPUT_MERGED_DIR
    merged = PeftModel.from_pretrained(load_model(base, Precision(use_cpu=True, bf16=False)), model.adapter)
    merge_and_save(merged, load_tokenizer(base), folder)
    return str(folder)


def load_for_training(model: ModelRef, out_dir: Path, chat_template: Any) -> tuple[str, Any, Any, bool]:
    """The resolved base (``prepare_base``), its tokenizer, the model in the training dtype, and
    whether prompts go through the chat template."""
    base = prepare_base(model, out_dir)
    tokenizer = load_tokenizer(base)
    lm_model = load_model(base, choose_precision())
    return base, tokenizer, lm_model, chat_enabled(tokenizer, chat_template)


def check_chat_template(trainer: str, setting: Any) -> None:
    from harness.plugins.backends.common import chat_setting

    try:
        chat_setting(setting)
    except ParameterError as exc:
        raise ParameterError(f"trainer {trainer!r}: {exc}") from None


def chat_enabled(tokenizer: Any, setting: Any) -> bool:
    """Whether prompts go through the chat template, decided as the ``hf`` backend decides it
    (``auto``: when the tokenizer has one), so training sees prompts as generation did."""
    from harness.plugins.backends.common import use_chat_template

    return use_chat_template(tokenizer, setting)


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(path: str, precision: Precision) -> Any:
    """A causal LM in the training dtype."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=precision.dtype)


def lora_config(model: Any, settings: TrainSettings) -> Any:
    """A peft ``LoraConfig``; ``target_modules="auto"`` picks peft's modules for the architecture
    (q/v projections for Llama, Gemma, Qwen ...) and falls back to all linear layers."""
    from peft import LoraConfig
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as MAPPING

    targets: Any = settings.target_modules
    if targets == "auto":
        targets = MAPPING.get(getattr(model.config, "model_type", ""), "all-linear")
    elif isinstance(targets, tuple):
        targets = list(targets)
    return LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )


def is_main_process() -> bool:
    from harness.running.distributed import state

    return state().is_main_process


def wait_for_everyone() -> None:
    from harness.running.distributed import state

    state().wait_for_everyone()


def save_adapter(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Save a peft adapter and the tokenizer (main process only); loadable with
    ``PeftModel.from_pretrained(base, folder)``."""
    _save_on_main(model, tokenizer, folder)
    return folder


def merge_and_save(model: Any, tokenizer: Any, folder: Path) -> Any:
    """Merge a peft model's adapter into its base, save the result with the tokenizer
    (main process only) and return the merged, plain model."""
    merged = model.merge_and_unload()
    _save_on_main(merged, tokenizer, folder)
    return merged


def _save_on_main(model: Any, tokenizer: Any, folder: Path) -> None:
    """``save_pretrained`` of the model and the tokenizer into ``folder`` by the main process, through
    ``folder.partial`` and a rename (a kill mid-save leaves no half folder to resume from); every
    process waits until it is written."""
    import os
    import shutil

    from harness.artifacts import storing

    if is_main_process():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with storing(folder, "cannot save the model"):  # a full disk: one line, not a traceback
            model.save_pretrained(partial)
            tokenizer.save_pretrained(partial)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(partial, folder)
    wait_for_everyone()


def save_trained(trainer: Any, tokenizer: Any, folder: Path) -> Path:
    """Save a trainer's trained adapter and the tokenizer into ``folder``: every process calls the
    trainer's ``save_model()``, which is collective under ZeRO-3 or FSDP full sharding (the shards
    are gathered; rank 0 saving alone would write its own shard, or wait forever for the others);
    the main process writes, through ``folder.partial`` and a rename."""
    import os
    import shutil

    from harness.artifacts import storing

    partial = folder.with_name(folder.name + ".partial")
    if is_main_process():
        shutil.rmtree(partial, ignore_errors=True)
    wait_for_everyone()
    with storing(folder, "cannot save the model"):  # a full disk: one line, not a traceback
        trainer.save_model(str(partial))  # every process: the collective gathering
        if is_main_process():
            tokenizer.save_pretrained(partial)
            (partial / "training_args.bin").unlink(missing_ok=True)  # a pickle; train_summary.json says it
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(partial, folder)
    wait_for_everyone()
    return folder


def finish(model: Any, tokenizer: Any, base: str, out_dir: Path, merge: bool,
           trainer: Any = None) -> ModelRef:
    """Save the trained adapter (through ``trainer``'s collective ``save_model()`` where given:
    ``save_trained``) and the merged model when asked; the reference to generate with."""
    if trainer is not None:
        adapter_dir = save_trained(trainer, tokenizer, out_dir / ADAPTER_DIR)
    else:
        adapter_dir = save_adapter(model, tokenizer, out_dir / ADAPTER_DIR)
    if merge:
        merged_dir = out_dir / MERGED_DIR
        merge_and_save(model, tokenizer, merged_dir)
        return ModelRef(base=str(merged_dir), adapter=None)
    return ModelRef(base=base, adapter=str(adapter_dir))


# --- checkpoints and resume -------------------------------------------------------------------


def checkpoints_dir(out_dir: Path, phase: str) -> Path:
    return out_dir / CHECKPOINTS_DIR / phase


def last_checkpoint(out_dir: Path, phase: str) -> Path | None:
    """The newest complete checkpoint of ``phase`` (the Trainer writes ``trainer_state.json``
    last, so a checkpoint without it was cut short by a kill), or None."""
    folder = checkpoints_dir(out_dir, phase)
    steps = []
    for path in folder.glob("checkpoint-*") if folder.is_dir() else ():
        step = path.name.rpartition("-")[2]
        if step.isdigit() and (path / "trainer_state.json").is_file():
            steps.append((int(step), path))
    return max(steps)[1] if steps else None


def run_phase(trainer: Any, out_dir: Path, phase: str) -> Any:
    """``trainer.train()``, resumed from the phase's last checkpoint when a killed attempt left one
    (model, optimizer, scheduler, RNG and data order are restored: no step is redone). The log
    keeps the rows of the steps that checkpoint holds and drops the ones after it."""
    checkpoint = last_checkpoint(out_dir, phase)
    step = int(checkpoint.name.rpartition("-")[2]) if checkpoint else 0
    if is_main_process():
        _trim_log(out_dir / LOG_FILE, phase, step)
    wait_for_everyone()
    return trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)


def _trim_log(path: Path, phase: str, step: int) -> None:
    from harness.artifacts import read_jsonl, write_jsonl_atomic

    if not path.exists():
        return
    rows = read_jsonl(path).rows
    kept = [r for r in rows if r.get("phase") != phase or 0 < r.get("step", 0) <= step]
    if len(kept) != len(rows):
        write_jsonl_atomic(path, kept)


def drop_checkpoints(out_dir: Path, phase: str) -> None:
    """Remove a finished phase's checkpoints (its result is saved); a tracker's files there
    (TensorBoard's ``runs/``) stay."""
    import shutil

    if is_main_process():
        for checkpoint in checkpoints_dir(out_dir, phase).glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)
    wait_for_everyone()


def settings_dict(settings: TrainSettings) -> dict[str, Any]:
    data = attrs.asdict(settings)
    if isinstance(data["target_modules"], tuple):
        data["target_modules"] = list(data["target_modules"])
    return data


def write_summary(out_dir: Path, **fields: Any) -> None:
    """``train_summary.json``: the trainer, its parameters, the records used, the final metrics
    and the model reference to generate with."""
    from harness.artifacts import write_json_atomic

    if not is_main_process():
        return
    fields = {k: (v.to_dict() if isinstance(v, ModelRef) else v) for k, v in fields.items()}
    if "metrics" in fields:
        fields["metrics"] = {k: _json_value(v) for k, v in fields["metrics"].items()}
    write_json_atomic(out_dir / SUMMARY_FILE, fields)


# --- logging and progress ---------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def logging_callbacks(log_path: Path, phase: str, progress: bool = True) -> list[Any]:
    """A callback appending every log of the main process to ``log_path`` (one JSON object per
    optimizer step, tagged with ``phase``) and, with ``progress``, a progress bar that shows the
    latest losses instead of printing each log line."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import ProgressCallback

    from harness.artifacts import JsonlAppender

    class JsonlLogCallback(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            row = {"phase": phase, "step": state.global_step}
            row.update({key: _json_value(value) for key, value in logs.items()})
            with JsonlAppender(log_path) as appender:
                appender.write(row)

    class LossProgressCallback(ProgressCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if state.is_world_process_zero and self.training_bar is not None and logs:
                shown = {k: f"{v:.4g}" for k, v in logs.items() if _shown(k) and isinstance(v, float)}
                self.training_bar.set_postfix(shown, refresh=False)

    return [JsonlLogCallback(), LossProgressCallback()] if progress else [JsonlLogCallback()]


def _shown(key: str) -> bool:
    return key in ("loss", "lm_loss", "mse", "mean_prob") or key.startswith("rewards/margins")


def install_callbacks(trainer: Any, log_path: Path, phase: str) -> None:
    """Replace the trainer's printing of logs by ``train_log.jsonl`` and a quiet progress bar
    (none when ``disable_tqdm``)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    for callback in logging_callbacks(log_path, phase, progress=not trainer.args.disable_tqdm):
        trainer.add_callback(callback)


def common_arguments(
    settings: TrainSettings, precision: Precision, out_dir: Path, phase: str = "train"
) -> dict[str, Any]:
    """Keyword arguments of ``TrainingArguments`` (and TRL's configs) every trainer uses: a
    checkpoint every tenth of the steps into ``out_dir/checkpoints/<phase>`` (the last two kept,
    so a kill while writing one leaves the one before), for ``run_phase`` to resume from; then the
    ``training_args`` passthrough (which may change any of them but the ``OWNED_FIELDS``)."""
    import dataclasses

    from transformers import TrainingArguments

    # transformers 5 renamed gradient_checkpointing (TRL's configs default it to True)
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    checkpointing = "activation_checkpointing"
    if checkpointing not in names:
        checkpointing = "gradient_checkpointing"
    return {
        "output_dir": str(checkpoints_dir(out_dir, phase)),
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "num_train_epochs": settings.epochs,
        "learning_rate": settings.learning_rate,
        "seed": settings.seed,
        "data_seed": settings.seed,
        "use_cpu": precision.use_cpu,
        "bf16": precision.bf16,
        "fp16": False,
        checkpointing: False,
        "logging_steps": 1,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": CHECKPOINT_EVERY,
        "save_total_limit": 2,
        "report_to": list(settings.report_to),
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
        **settings.training_args,
    }


def train_and_save(trainer: Any, base: str, out_dir: Path, *, name: str, phase: str, merge: bool,
                   params: dict[str, Any], counts: dict[str, int], **extra: Any) -> ModelRef:
    """Run one built phase (resuming from its last checkpoint), save the model, write the
    summary (with ``extra`` fields), drop the checkpoints: the end of a one-phase trainer's ``train``."""
    result = run_phase(trainer, out_dir, phase)
    ref = finish(trainer.model, trainer.processing_class, base, out_dir, merge, trainer=trainer)
    write_summary(out_dir, trainer=name, params=params, counts=counts, metrics=result.metrics, model=ref,
                  **extra)
    drop_checkpoints(out_dir, phase)
    return ref
