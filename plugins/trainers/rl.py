"""The ``rl`` trainer: GRPO (TRL's ``GRPOTrainer``, LoRA) with a proper-scoring-rule reward.

Input: the training split's questions (the judged verbalized baseline records give the exact
prompts; their answers and verdicts are not used). For each prompt the policy samples a group of
``num_generations`` completions at ``temperature``; each is read with the ``verbalized``
extractor (``Answer: X`` / ``Confidence: 0.NN``), its answer graded by the judge, and its stated
confidence scored by ``rl_reward.Reward`` (log score by default, or Brier). GRPO raises the
probability of the completions that score above their group's mean, with a KL penalty ``beta``
towards the untrained model. No target confidence is invented: the judge's verdicts on the
model's own samples are the only signal.

The judge is the one ``harness run`` hands ``train`` (``harness.judging.TrainingJudge``: the
run's judge, or the one the parameter ``judge`` names, graded through the runner with its
cache and retries); outside a run, ``judge`` names a registered judge (default ``mock``). An
unreachable judge stops training with one line (exit 2); a rerun resumes from the last
checkpoint.

``batch_size`` counts completions per device step, as TRL does: one optimizer step takes
``batch_size × gradient_accumulation_steps`` completions, which must be whole groups (a
multiple of ``num_generations``). ``max_steps > 0`` bounds the optimizer steps (else ``epochs``
over the questions). Output as the other trainers: the adapter in ``out_dir/adapter``,
``train_log.jsonl`` (per step: ``reward``, ``kl``, the mean stated ``confidence``, ``accuracy``
and ``readable`` share of the samples) and ``train_summary.json`` (with ``judging``: calls,
items, cache hits and seconds spent grading). Evaluated with ``verbalized``.

Sampling with vLLM (TRL's ``GRPOTrainer`` does it; this trainer only exposes it): ``use_vllm``
with ``vllm_mode = "colocate"`` (vLLM inside each training process, sharing its GPU:
``vllm_gpu_memory_utilization`` of its memory) or ``"server"`` (a ``trl vllm-serve`` process at
``vllm_server_base_url``). The mode is always passed to TRL, whose default has changed across
versions. ``grpo_args`` passes any other ``GRPOConfig`` field through (names checked against the
installed TRL's ``GRPOConfig``; an unknown one is one line, exit 2), ``training_args`` (shared by
every trainer) any ``TrainingArguments`` one.
"""

from __future__ import annotations

import importlib.util
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from harness.errors import InsufficientDataError, ParameterError
from harness.plugins.trainers import common
from harness.plugins.trainers.rl_reward import Reward, readable
from harness.records import Example, Generation, ModelRef, TrainingRecord

PHASE = "rl"
VLLM_MODES = ("colocate", "server")
#: the default of ``grpo_args``: no further ``GRPOConfig`` field
NO_ARGS: Mapping[str, Any] = types.MappingProxyType({})
#: ``GRPOConfig`` fields this trainer sets from its own parameters (field -> parameter)
OWNED_GRPO_FIELDS = {
    **common.OWNED_FIELDS, "num_generations": "num_generations", "beta": "beta", "temperature": "temperature",
    "max_completion_length": "max_new_tokens", "max_steps": "max_steps", "use_vllm": "use_vllm",
    "vllm_mode": "vllm_mode", "vllm_server_base_url": "vllm_server_base_url",
    "vllm_gpu_memory_utilization": "vllm_gpu_memory_utilization",
}
#: the vLLM versions TRL 1.16 generates with (its ``trl.import_utils.is_vllm_available``); the
#: ``vllm`` extra of pyproject.toml is pinned inside it
TRL_VLLM_RANGE = "0.22.0 to 0.31.0"
VLLM_HINT = ('use_vllm = true needs vLLM, CUDA only (TRL {trl} generates with vLLM {supported}): '
             'pip install "calibration-harness[vllm]"')


def vllm_available() -> bool:
    """Whether vLLM can be imported here (not imported: it is CUDA-only and slow to load)."""
    return importlib.util.find_spec("vllm") is not None


class RLTrainer:
    """GRPO with LoRA, rewarded by a proper scoring rule of the stated confidence; evaluated with
    ``verbalized``."""

    name = "rl"
    #: the shared trainer parameters (``common.shared_parameters``), taken as ``**params``
    __keyword_params__ = common.shared_parameters(epochs=1, batch_size=8)
    extractor = "verbalized"
    #: its questions (and prompts) are those of the verbalized training split
    train_extractor = "verbalized"

    def __init__(
        self,
        *,
        reward: str = "log",
        clip: float = 0.01,
        format_penalty: float = -5.0,
        num_generations: int = 8,
        beta: float = 0.04,
        temperature: float = 1.0,
        max_new_tokens: int = 64,
        max_steps: int = 0,
        judge: str = "",
        use_vllm: bool = False,
        vllm_mode: Literal["colocate", "server"] = "colocate",
        vllm_server_base_url: str = "",
        vllm_gpu_memory_utilization: float = 0.3,
        grpo_args: Mapping[str, Any] | str = NO_ARGS,
        **params: Any,
    ) -> None:
        shared = common.shared(self.name, self.__keyword_params__, params)
        chat_template = shared["chat_template"]
        self.reward = Reward.build(self.name, rule=reward, clip=clip, format_penalty=format_penalty)
        common.check_positive_ints(self.name, {"max_new_tokens": max_new_tokens}, "max_new_tokens")
        if isinstance(num_generations, bool) or not isinstance(num_generations, int) or num_generations < 2:
            common.bad(self.name, "num_generations", num_generations,
                       "an integer >= 2 (GRPO compares the completions of a group)")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
            common.bad(self.name, "max_steps", max_steps, "0 (epochs decide) or a positive integer")
        for key, value in (("beta", beta), ("temperature", temperature)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
                    key == "temperature" and value == 0):
                wanted = "a number >= 0" if key == "beta" else "a number > 0 (GRPO samples)"
                common.bad(self.name, key, value, wanted)
        if not isinstance(judge, str):
            common.bad(self.name, "judge", judge, "a judge's name ('' = the run's)")
        common.check_chat_template(self.name, chat_template)
        self.settings = common.TrainSettings.from_parameters(self.name, shared)
        per_step = self.settings.batch_size * self.settings.gradient_accumulation_steps
        if per_step % num_generations:
            raise ParameterError(
                f"trainer 'rl': batch_size x gradient_accumulation_steps = {per_step} completions per step "
                f"is not a multiple of num_generations = {num_generations} (a step takes whole groups)")
        self.num_generations, self.beta, self.temperature = num_generations, float(beta), float(temperature)
        self.max_new_tokens, self.max_steps, self.judge = max_new_tokens, max_steps, judge
        self.chat_template = chat_template
        self.report_to = self.settings.report_to  # the run logs its metrics to these trackers too
        if "max_steps" in self.settings.training_args:
            raise ParameterError("trainer 'rl': training_args: max_steps is set by the trainer's own "
                                 "parameter max_steps; set that instead")
        self.vllm = self._vllm_arguments(use_vllm, vllm_mode, vllm_server_base_url,
                                         vllm_gpu_memory_utilization)
        self.grpo_args: dict[str, Any] = {}
        self.grpo_args = self._grpo_arguments(grpo_args)

    def _vllm_arguments(self, use_vllm: Any, mode: Any, url: Any, memory: Any) -> dict[str, Any]:
        """The ``GRPOConfig`` fields of generation with vLLM, checked (``vllm_mode`` always set)."""
        if not isinstance(use_vllm, bool):
            common.bad(self.name, "use_vllm", use_vllm, "true or false")
        common.check_choice(self.name, "vllm_mode", mode, VLLM_MODES)
        if not isinstance(url, str):
            common.bad(self.name, "vllm_server_base_url", url, "a URL such as 'http://host:8000' ('' = none)")
        if isinstance(memory, bool) or not isinstance(memory, (int, float)) or not 0 < memory <= 1:
            common.bad(self.name, "vllm_gpu_memory_utilization", memory, "a number in (0, 1]")
        if use_vllm and mode == "server" and not url:
            raise ParameterError("trainer 'rl': vllm_mode = 'server' needs vllm_server_base_url (the address "
                                 "of `trl vllm-serve --model <base model>`, e.g. 'http://10.0.0.2:8000')")
        if use_vllm and mode == "colocate" and url:
            raise ParameterError(f"trainer 'rl': vllm_server_base_url = {url!r} is for vllm_mode = 'server'; "
                                 "colocate runs vLLM inside the training processes")
        if use_vllm and not vllm_available():
            from trl import __version__ as trl_version

            hint = VLLM_HINT.format(trl=trl_version, supported=TRL_VLLM_RANGE)
            raise ParameterError(f"trainer 'rl': {hint}")
        return {"use_vllm": use_vllm, "vllm_mode": mode, "vllm_server_base_url": url or None,
                "vllm_gpu_memory_utilization": float(memory)}

    def _grpo_arguments(self, value: Any) -> dict[str, Any]:
        """``grpo_args`` checked against the installed TRL's ``GRPOConfig``, together with what this
        trainer sets (a combination GRPOConfig refuses is one line here, not a traceback later)."""
        table = common.as_table(self.name, "grpo_args", value)
        if not table:
            return {}
        from trl import GRPOConfig

        precision = common.choose_precision()
        base = self.config_arguments(common.common_arguments(self.settings, precision, Path()))
        common.passthrough(self.name, "grpo_args", table, GRPOConfig, OWNED_GRPO_FIELDS, base)
        return table

    def config_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The ``GRPOConfig`` keywords: the shared ``arguments`` (``common.common_arguments``), this
        trainer's own fields, the vLLM ones, then ``grpo_args``."""
        return {**arguments, "num_generations": self.num_generations, "beta": self.beta,
                "temperature": self.temperature, "max_completion_length": self.max_new_tokens,
                "log_completions": False, "max_steps": self.max_steps or -1, **self.vllm, **self.grpo_args}

    def params(self) -> dict[str, Any]:
        """Every parameter, for ``train_summary.json``."""
        return {"reward": self.reward.rule, "clip": self.reward.clip,
                "format_penalty": self.reward.format_penalty, "num_generations": self.num_generations,
                "beta": self.beta, "temperature": self.temperature, "max_new_tokens": self.max_new_tokens,
                "max_steps": self.max_steps, "judge": self.judge, "chat_template": self.chat_template,
                **self.vllm, "grpo_args": self.grpo_args,
                **common.settings_dict(self.settings)}

    def grader(self, judge: Any, out_dir: Path) -> Any:
        """The judge to grade with: the one the run handed over (or the one ``judge`` names through
        it); outside a run, the registered judge ``judge`` names (``mock`` by default), built with
        the shipped configuration and graded through the runner all the same."""
        if judge is not None:
            return judge.named(self.judge)
        from harness.judging.training import TrainingJudge
        from harness.machinery import registry

        name = self.judge or "mock"
        made, settings = registry.create_judge(name)
        return TrainingJudge(made, settings, name=name, folder=out_dir / "judging",
                             make_judge=registry.create_judge)

    def reward_function(self, examples: Sequence[Example], extractor: Any, grader: Any) -> Any:
        """TRL's reward function: reads each completion, grades the readable ones in one batch,
        scores them (``rl_reward``) and logs the mean confidence, accuracy and readable share."""
        from harness.plugins.backends.common import cut_at_stop

        def proper_score(prompts: list[Any], completions: list[Any], example_index: list[int],
                         log_metric: Any = None, **_: Any) -> list[float | None]:
            predictions = []
            for completion, index in zip(completions, example_index, strict=True):
                text = completion if isinstance(completion, str) else completion[-1]["content"]
                text, _ = cut_at_stop(text, extractor.stop)
                example = examples[index]
                predictions.append(extractor.extract(Generation(example_id=example.id, prompt="", text=text)))
            judged = [i for i, p in enumerate(predictions) if readable(p)]
            verdicts: list[bool | None] = [None] * len(predictions)
            graded = grader.grade([(examples[example_index[i]], predictions[i]) for i in judged])
            for i, verdict in zip(judged, graded, strict=True):
                verdicts[i] = verdict
            if log_metric is not None:
                known = [v for v in verdicts if v is not None]
                log_metric("readable", len(judged) / max(1, len(predictions)))
                if judged:
                    log_metric("confidence", sum(predictions[i].confidence for i in judged) / len(judged))
                if known:
                    log_metric("accuracy", sum(known) / len(known))
            return [self.reward(p, v) for p, v in zip(predictions, verdicts, strict=True)]

        return proper_score

    def build(
        self,
        model: ModelRef,
        records: Sequence[TrainingRecord],
        out_dir: Path,
        extractor: Any,
        judge: Any = None,
        **overrides: Any,
    ) -> tuple[Any, str, dict[str, int], Any]:
        """The ready-to-run ``GRPOTrainer``, the resolved base, counts of the questions used and the
        grader; ``overrides`` go to ``GRPOConfig`` (e.g. ``max_steps``, ``logging_steps``)."""
        from datasets import Dataset
        from trl import GRPOConfig, GRPOTrainer

        common.check_records(self.name, records)
        if extractor is None or not callable(getattr(extractor, "extract", None)):
            raise ParameterError("trainer 'rl' needs the verbalized extractor to read its completions")
        out_dir = Path(out_dir)
        base, tokenizer, lm_model, chat = common.load_for_training(model, out_dir, self.chat_template)
        examples, rows, too_long = [], [], 0
        budget = self.settings.max_length - self.max_new_tokens
        for record in dict((r.example.id, r) for r in records).values():  # each question once
            if len(tokenizer(record.prompt)["input_ids"]) > budget:
                too_long += 1
                continue
            prompt: Any = [{"role": "user", "content": record.prompt}] if chat else record.prompt
            rows.append({"prompt": prompt, "example_index": len(examples)})
            examples.append(record.example)
        if not rows:
            raise InsufficientDataError(
                f"trainer 'rl': no question fits max_length = {self.settings.max_length} with "
                f"max_new_tokens = {self.max_new_tokens} ({too_long} too long)")
        counts = {"records": len(records), "questions": len(rows), "too_long": too_long}
        grader = self.grader(judge, out_dir)
        precision = common.choose_precision()
        common.seed_everything(self.settings.seed)  # the LoRA initialisation is random
        arguments = self.config_arguments(common.common_arguments(self.settings, precision, out_dir, PHASE))
        args = GRPOConfig(**{**arguments, **overrides})
        trainer = GRPOTrainer(
            model=lm_model, reward_funcs=self.reward_function(examples, extractor, grader), args=args,
            train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
            peft_config=common.lora_config(lm_model, self.settings),
        )
        common.install_callbacks(trainer, out_dir / common.LOG_FILE, PHASE)
        return trainer, base, counts, grader

    def train(
        self,
        model: ModelRef,
        records: Sequence[TrainingRecord],
        out_dir: Path,
        extractor: Any = None,
        judge: Any = None,
    ) -> ModelRef:
        out_dir = Path(out_dir)
        trainer, base, counts, grader = self.build(model, records, out_dir, extractor, judge)
        return common.train_and_save(trainer, base, out_dir, name=self.name, phase=PHASE,
                                     merge=self.settings.merge, params=self.params(), counts=counts,
                                     judging=grader.stats)
