"""The experiment behind ``harness run``: baseline, training, held-out evaluation, report.

1. load the task and select ``limit`` examples (seeded);
2. with trainers, split them into train and held-out test by group (seeded);
3. baseline: generate, extract, judge and score on the test split for every reported
   extractor, and on the train split for what each trainer trains on (with calibrators: for
   every reported extractor, to choose the post-hoc bar);
4. train each trainer; 5. evaluate each trained model on the test split with its own
   extractor (never on its training questions); 6. post-hoc rows cross-fitted on the test
   split (``harness.statistics.posthoc``; evaluating only: on every selected example's answers, no bar
   selected), metrics with CIs, paired changes and verdicts; 7. the report.

Every stage writes its records into the run folder and resumes on a rerun (see
``harness.running.stages``). The core knows no strategy by name: trainers declare the extractor
they are evaluated with (``extractor``) and the one whose judged records they train on
(``train_extractor``).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.artifacts import read_json, write_json_atomic, write_jsonl_atomic
from harness.errors import HarnessError, InputError, ParameterError, StorageError
from harness.judging.settings import verdict
from harness.machinery import contract, registry
from harness.machinery.config import Config, Layer, Override, load_toml
from harness.machinery.kinds import KINDS
from harness.records import Example, ModelRef, TrainingRecord
from harness.running import distributed, stages
from harness.running.manifest import now, write_manifest
from harness.running.runlock import RunLock
from harness.running.threads import apply_threads, choose_threads
from harness.statistics.splits import group_split, question_key, select

PROFILE_FILE = "harness_profile.toml"
DEFAULT_CALIBRATORS = ("temperature", "isotonic")


EVAL_TASK = "eval_task"  # the prefix of -p overrides meant for the --eval-task's task


@attrs.frozen(kw_only=True)
class ExperimentSpec:
    task: str = "facts"
    #: train on ``task``'s training split, evaluate on this task (out of distribution)
    eval_task: str | None = None
    model: str = "tiny"
    backend: str = "hf"
    extractor: str = "logprob"
    #: more extractors reported beside ``extractor`` on the same questions (compared with it)
    extra_extractors: tuple[str, ...] = ()
    judge: str = "mock"
    trainers: tuple[str, ...] = ()
    #: post-hoc calibrators, cross-fitted on the held-out answers (``()``: none; see statistics.posthoc)
    calibrators: tuple[str, ...] = DEFAULT_CALIBRATORS
    #: fit them instead on this share of the held-out questions (by group); figures on the rest
    calibration_size: float | None = None
    metrics: tuple[str, ...] = ()
    limit: int | None = None
    seed: int = 0
    test_size: float = 0.5
    eval_on_train: bool = False
    bootstrap: str = "group"
    out: Path | None = None
    config_file: Path | None = None
    overrides: tuple[str, ...] = ()
    force: bool = False
    no_cache: bool = False
    progress: bool = True
    #: torch threads (None: ``OMP_NUM_THREADS``, else measured; see ``harness.running.threads``)
    threads: int | None = None

    @classmethod
    def from_cli(cls, **options: Any) -> ExperimentSpec:
        calibrators = tuple(dict.fromkeys(options.get("calibrators") or DEFAULT_CALIBRATORS))
        if "none" in calibrators:
            if len(calibrators) > 1:
                raise ParameterError("--calibrator none cannot be combined with other calibrators")
            calibrators = ()
        given = options["extractor"]  # one name (harness sweep's cells), or the repeated option
        given = [given] if isinstance(given, str) else given or ["logprob"]
        # a deprecated former name (``verbalized2``) runs, and names the run, as the strategy's name now
        extractors = list(dict.fromkeys(registry.current_name("extractor", n) for n in given))
        return cls(
            calibrators=calibrators, bootstrap=options.get("bootstrap") or "group",
            calibration_size=options.get("calibration_size"),
            task=options["task"], eval_task=options.get("eval_task"),
            model=options["model"], backend=options["backend"],
            extractor=extractors[0], extra_extractors=tuple(extractors[1:]), judge=options["judge"],
            trainers=tuple(dict.fromkeys(options["trainers"])),
            metrics=tuple(dict.fromkeys(options["metrics"])), limit=options["limit"],
            seed=options["seed"], test_size=options["test_size"],
            eval_on_train=options["eval_on_train"], out=options["out"],
            config_file=options["config_file"], overrides=tuple(options["overrides"]),
            force=options["force"], no_cache=options["no_cache"], threads=options.get("threads"),
        )

    def default_out(self) -> Path:
        model = self.model.rstrip("/").replace("/", "_").replace(":", "_")
        what = "+".join(self.trainers) if self.trainers else "eval"
        task = f"{self.task}-on-{self.eval_task}" if self.eval_task else self.task
        extractors = "+".join((self.extractor, *self.extra_extractors))
        return Path("runs") / f"{task}-{model}-{extractors}-{what}-seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["out"] = str(self.out) if self.out else None
        data["config_file"] = str(self.config_file) if self.config_file else None
        return data


class Log:
    """Stage headers on stderr with the time since the run started."""

    def __init__(self, quiet: bool = False) -> None:
        self.start = time.monotonic()
        self.quiet = quiet
        self.timings: dict[str, float] = {}

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.start:7.1f}s] {message}", file=sys.stderr, flush=True)

    def timed(self, key: str, began: float) -> None:
        self.timings[key] = round(self.timings.get(key, 0.0) + time.monotonic() - began, 2)


def load_profile(model_path: str) -> dict[str, Any] | None:
    """The parameter profile a local model folder carries (e.g. the embedded ``tiny``)."""
    path = Path(model_path) / PROFILE_FILE
    return load_toml(path) if path.is_file() else None


class Experiment:
    def __init__(self, spec: ExperimentSpec) -> None:
        self.spec = spec
        self.log = Log(quiet=not spec.progress)
        self.threads = choose_threads(spec.threads)  # before any model is built
        self.threads_used = apply_threads(self.threads)
        self.out = spec.out or spec.default_out()
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"{self.out}: exists and is not a folder; --out names the run folder")
        own, eval_task = _eval_task_overrides(spec.overrides)
        self.own_overrides = own
        if spec.eval_task is None and eval_task:
            raise ParameterError(f"-p {EVAL_TASK}.{eval_task[0][len('task.'):]}: there is no --eval-task")
        if spec.eval_task is not None and not spec.trainers:
            raise ParameterError(f"--eval-task needs a --trainer (to evaluate only: --task {spec.eval_task})")
        if spec.eval_task is not None and spec.eval_on_train:
            raise ParameterError("--eval-task and --eval-on-train exclude each other")
        if spec.calibration_size is not None:
            if not 0.0 < spec.calibration_size < 1.0:
                raise ParameterError(f"--calibration-size {spec.calibration_size}: expected a share "
                                     "of the held-out questions, strictly between 0 and 1")
            if spec.eval_on_train or not spec.calibrators:
                raise ParameterError("--calibration-size needs questions no model was trained on and "
                                     "calibrators (no --eval-on-train, not --calibrator none)")
        #: the held-out (or, evaluating only, selected) examples the post-hoc maps are fitted on
        #: under --calibration-size
        self.calibration_ids: frozenset[str] = frozenset()
        self.config = Config.load(spec.config_file, own)
        # the evaluation task's parameters: -p eval_task.KEY (the run's -p task.* never apply to it)
        self.eval_config = Config.load(spec.config_file, eval_task)
        for kind, name in self._selected_names():
            registry.get(kind, name)  # unknown names fail before any work
        from harness.reporting.run_folder import METRIC_LISTS, report_metrics

        #: the terminal summary's metric columns (the [report] columns setting), each a registered metric
        self.report_columns = report_metrics(self.config, "columns")
        for key in METRIC_LISTS:  # and the diagrams' legend: a typo fails before any work
            for name in report_metrics(self.config, key):
                registry.get("metric", name)
        began = time.monotonic()  # an embedded model is built here on first use
        self.backend = registry.create("backend", spec.backend, self.config, model=spec.model)
        self.log.timed("model", began)
        profile = load_profile(self.backend.model_path)
        self.profile_source = None
        if profile:
            self.profile_source = f"profile of model {spec.model!r}"
            self.config = self.config.with_layer(Layer(self.profile_source, profile))
            self.backend = registry.create("backend", spec.backend, self.config, model=spec.model)
        self.base = ModelRef(base=self.backend.model_path)
        self.config = self._seed_trainers(self.config)
        self.trainers = {n: registry.create("trainer", n, self.config) for n in spec.trainers}
        self.train_extractor = {
            n: getattr(t, "train_extractor", t.extractor) for n, t in self.trainers.items()
        }
        reported = [spec.extractor, *spec.extra_extractors] + [t.extractor for t in self.trainers.values()]
        self.reported = list(dict.fromkeys(reported))
        needed = list(dict.fromkeys(self.reported + list(self.train_extractor.values())))
        self.extractors = {n: registry.create("extractor", n, self.config) for n in needed}
        for name, extractor in self.extractors.items():
            check_capabilities(name, extractor, spec.backend, self.backend)
        # what was generated and judged in this run, by the requests that made it: extractors
        # that prompt alike share one greedy answer per example, judged once
        self.shared: dict[str, dict[str, Any]] = {}
        self.judge, self.judge_settings = registry.create_judge(spec.judge, self.config)
        from harness.judging.budget import CostBudget

        # --max-judge-cost: one budget for every judged stage of this run
        cap = self.judge_settings.max_cost
        self.judge_budget = CostBudget(cap) if cap > 0 else None
        self.task = registry.create("task", spec.task, self.config)
        self.eval_task = None
        if spec.eval_task is not None:
            self.eval_task = registry.create("task", spec.eval_task, self.eval_config)
            self.eval_config.check_overrides({"task": [(spec.eval_task, registry.get("task", spec.eval_task)
                                                        .parameters())]}, registry.get)
        self.config.check_overrides(self._accepted(), registry.get)
        # None: every registered metric, where one that cannot be computed is reported as n/a
        self.metric_names: list[str] | None = list(spec.metrics) or None
        self.judging: dict[str, dict[str, Any]] = {}  # judge-runner summary per stage

    def _seed_trainers(self, config: Config) -> Config:
        """``--seed`` seeds training too: a trainer's ``seed`` follows it unless the user set it
        (``--config`` or ``-p``); the registry's and a profile's value do not count as set."""
        user = {str(self.spec.config_file), "-p"} - {"None"}
        extra = []
        for name in self.spec.trainers:
            strategy = registry.get("trainer", name)
            if "seed" not in (strategy.parameters() or {}):
                continue
            if strategy.parameter_sources(config).get("seed") not in user:
                extra.append(Override(kind="trainer", name=name, key="seed", value=self.spec.seed))
        return attrs.evolve(config, overrides=tuple(config.overrides) + tuple(extra)) if extra else config

    def _selected_names(self) -> list[tuple[str, str]]:
        s = self.spec
        names = [("task", s.task), ("backend", s.backend), ("extractor", s.extractor), ("judge", s.judge)]
        names += [("task", s.eval_task)] if s.eval_task else []
        names += [("trainer", t) for t in s.trainers] + [("metric", m) for m in s.metrics]
        names += [("calibrator", c) for c in s.calibrators]
        return names

    def _accepted(self) -> dict[str, list[tuple[str, Any]]]:
        selected: dict[str, list[tuple[str, Any]]] = {}
        pairs = [("task", self.spec.task), ("backend", self.spec.backend), ("judge", self.spec.judge)]
        pairs += [("extractor", n) for n in self.extractors] + [("trainer", n) for n in self.trainers]
        pairs += [("metric", m) for m in (self.spec.metrics or registry.names("metric"))]
        pairs += [("calibrator", c) for c in self.spec.calibrators]
        for kind, name in pairs:
            selected.setdefault(kind, []).append((name, registry.get(kind, name).parameters()))
        return selected

    # ----------------------------------------------------------------- configuration
    @functools.cached_property
    def effective_config(self) -> dict[str, Any]:
        """Every selected strategy's effective parameters (no secrets: keys come from env)."""
        def entry(kind: str, name: str, config: Config = self.config) -> dict[str, Any]:
            return {"name": name, "source": registry.get(kind, name).source,
                    "params": _jsonable(registry.resolve_params(kind, name, config))}

        evaluated = {}
        if self.spec.eval_task:
            evaluated = {"eval_task": entry("task", self.spec.eval_task, self.eval_config)}
        return {
            "task": entry("task", self.spec.task), **evaluated,
            "backend": entry("backend", self.spec.backend),
            "extractors": [entry("extractor", n) for n in self.extractors],
            "judge": entry("judge", self.spec.judge),
            "trainers": [entry("trainer", n) for n in self.trainers],
            "calibrators": [entry("calibrator", n) for n in self.spec.calibrators],
            "metrics": [entry("metric", m) for m in (self.metric_names or registry.names("metric"))],
            "criteria": _jsonable(self.config.section("criteria")),
            "layers": self.config.describe(),
        }

    @functools.cached_property
    def seed_defaults(self) -> dict[str, Any]:
        """The trainers' parameters without the model's profile (the seed's registry values)."""
        plain = Config.load(self.spec.config_file, self.own_overrides)
        return {n: _jsonable(registry.resolve_params("trainer", n, plain)) for n in self.trainers}

    # ----------------------------------------------------------------- stages
    def evaluate(self, folder: Path, backend: Any, model: ModelRef, extractor_name: str,
                 examples: Sequence[Example], answers_from: dict[str, Any] | None = None) -> dict[str, Any]:
        """Generate, follow up, extract and judge ``examples`` into ``folder``. ``answers_from``: an
        earlier result whose greedy answers (and verdicts) these are, taken instead of generating."""
        extractor = self.extractors[extractor_name]
        inputs = {
            "model": model.to_dict(), "backend": self.spec.backend,
            "backend_params": _jsonable(registry.resolve_params("backend", self.spec.backend, self.config)),
            "extractor": extractor_name,
            "extractor_params": _jsonable(registry.resolve_params("extractor", extractor_name, self.config)),
            "examples": stages.fingerprint([e.id for e in examples]),
        }
        stages.prepare(folder, inputs, force=self.spec.force)
        # the same prompts to the same model: the greedy answers (and their verdicts) are shared
        answers_key = stages.fingerprint({k: v for k, v in inputs.items() if not k.startswith("extractor")}
                                         | {"requests": [attrs.astuple(r) for r in
                                                         stages.requests_for(extractor, examples)]})
        sibling = answers_from or self.shared.get(answers_key)
        began = time.monotonic()
        generations = stages.generate(folder / "generations.jsonl", backend, extractor, examples,
                                      progress=self.spec.progress,
                                      reuse=sibling["generations"] if sibling else None)
        responses = None
        if hasattr(extractor, "follow_ups"):
            responses = stages.follow_up(folder / "follow_ups.jsonl", backend, extractor, examples,
                                         generations, progress=self.spec.progress)
        self.log.timed("generate", began)
        if responses is not None and hasattr(extractor, "to_judge"):  # e.g. samples judged against the answer
            began = time.monotonic()
            grader = self._grader(folder / "follow_up_judging")
            responses = stages.judge_follow_ups(extractor, examples, generations, responses, grader)
            if grader.stats["items"]:  # the judging summary's fields, as a judged stage has them
                self.judging[f"{folder.relative_to(self.out)}/follow-ups"] = {
                    "judge": self.spec.judge, "requests": int(grader.stats["asked"]),
                    **{k: round(v, 2) for k, v in grader.stats.items()}}
            self.log.timed("judge", began)
        predictions = stages.extract(folder / "predictions.jsonl", extractor, examples, generations,
                                     responses)
        _, judge_params = KINDS["judge"].split_settings(
            registry.resolve_params("judge", self.spec.judge, self.config))
        judge_inputs = {"judge": self.spec.judge, "model": getattr(self.judge, "model", ""),
                        "prompt_version": getattr(self.judge, "prompt_version", ""),
                        # the judge's own parameters; the runner's (concurrency, ...) change no verdict
                        "params": _jsonable(judge_params)}
        # another judge's verdicts are dropped; the generations stay
        stages.prepare(folder, judge_inputs, force=self.spec.force, marker="judge.json",
                       stale=("judgments.jsonl",))
        if sibling:  # the runner keeps a verdict only for the very answer it was given
            stages.copy_judgments(sibling["folder"] / "judgments.jsonl", folder / "judgments.jsonl",
                                  predictions)
        began = time.monotonic()
        summary = self._judge(folder, examples, predictions, generations)
        self.log.timed("judge", began)
        self.judging[str(folder.relative_to(self.out))] = summary
        judgments = stages.read_judgments(folder / "judgments.jsonl")
        result = {"examples": examples, "generations": generations, "predictions": predictions,
                  "judgments": judgments, "judging": summary, "folder": folder, "extractor": extractor_name,
                  "label": str(folder.relative_to(self.out).parent),
                  "answers_from": sibling["label"] if sibling else None}
        self.shared.setdefault(answers_key, result)
        return result

    def _judge(self, folder: Path, examples: Sequence[Example], predictions: dict,
               generations: dict) -> dict[str, Any]:
        from harness.judging import judge_predictions

        items = [(e, predictions[e.id]) for e in examples]
        # the whole response, for a judge that reads it (HLE's)
        responses = {e.id: generations[e.id].text for e in examples if e.id in generations}
        summary = judge_predictions(
            self.judge, self.judge_settings, items, folder / "judgments.jsonl", name=self.spec.judge,
            use_cache=not self.spec.no_cache, progress=self.spec.progress, responses=responses,
            budget=self.judge_budget,
        )
        return summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)

    def training_records(self, result: dict[str, Any]) -> list[TrainingRecord]:
        records = []
        for example in result["examples"]:
            judgment = result["judgments"].get(example.id)
            prediction = result["predictions"][example.id]
            generation = result["generations"][example.id]
            correct = verdict(None if judgment is None else judgment.grade, self.judge_settings.not_attempted)
            if correct is None:
                continue  # a failed judgment is no label, nor an excluded abstention
            records.append(TrainingRecord(
                example=example, prompt=generation.prompt, completion=generation.text,
                answer=prediction.answer, confidence=prediction.confidence,
                correct=correct,
            ))
        return records

    def train(self, name: str, records: list[TrainingRecord]) -> ModelRef:
        trainer = self.trainers[name]
        folder = self.out / "train" / name
        from harness.running.tracking import RUN_ONLY_PARAMS

        params = registry.resolve_params("trainer", name, self.config)
        inputs = {"trainer": name, "base": self.base.to_dict(),  # where it reports changes no model
                  "params": _jsonable({k: v for k, v in params.items() if k not in RUN_ONLY_PARAMS}),
                  "records": stages.fingerprint([r.to_dict() for r in records])}
        judge = self._training_judge(trainer, folder)
        if judge:  # a trainer that grades its own answers while it trains: its model depends on the judge
            inputs["judge"] = self.spec.judge
        done = folder / "model.json"
        kept = stages.prepare(folder, inputs, force=self.spec.force)
        distributed.barrier()  # the other processes train once the folder is ready
        if kept:
            if done.exists():
                self.log(f"train {name}: reusing {done}")
                return ModelRef.from_dict(read_json(done))
            # an earlier attempt with the same inputs was killed mid-training: the folder is kept,
            # and the trainer resumes from what it left (the built-ins: their last checkpoint)
            self.log(f"train {name}: resuming the attempt in {folder}")
        self.log(f"train {name} on {len(records)} judged answers")
        began = time.monotonic()
        extractor = self.extractors[trainer.extractor]
        ref = trainer.train(self.base, records, folder, extractor, **judge)
        self.log.timed(f"train {name}", began)
        write_json_atomic(done, ref.to_dict())
        return ref

    def _grader(self, folder: Path) -> Any:
        """The run's judge as a batch grader through the runner and its cache (for trainers and
        extractors that grade their own answers)."""
        from harness.judging.training import TrainingJudge

        return TrainingJudge(self.judge, self.judge_settings, name=self.spec.judge, folder=folder,
                             use_cache=not self.spec.no_cache, budget=self.judge_budget,
                             make_judge=lambda name: registry.create_judge(name, self.config))

    def _training_judge(self, trainer: Any, folder: Path) -> dict[str, Any]:
        """``{"judge": TrainingJudge}`` for a trainer whose ``train`` takes a ``judge`` (it grades
        its own answers while it trains, through the runner and the cache), else ``{}``."""
        from harness.judging.training import judge_keyword

        return judge_keyword(trainer.train, lambda: self._grader(folder / "judging"))

    def _examples(self, task: Any, name: str) -> list[Example]:
        """A task's examples, checked, then ``--limit`` of them drawn with the seed."""
        examples = contract.check_examples(task.examples(), contract.label(task, "task"))
        if not examples:
            raise HarnessError(f"task {name!r} has no examples")
        own = getattr(task, "select", None)  # a task may pick --limit's examples as its reference does
        chosen = own(examples, self.spec.limit, self.spec.seed) if callable(own) else None
        return select(examples, self.spec.limit, self.spec.seed) if chosen is None else list(chosen)

    def split(self) -> tuple[list[Example], list[Example], list[Example], str]:
        """The selected examples, the training and evaluated splits and the evaluated one's name
        (``test``; ``train`` with --eval-on-train; ``all`` without trainers). Seeded: every
        process of a launch gets the same."""
        spec = self.spec
        examples = self._examples(self.task, spec.task)
        if self.trainers and not spec.eval_on_train:
            train, test = group_split(examples, spec.test_size, spec.seed)
            return examples, train, test, "test"
        if self.trainers:
            return examples, examples, examples, "train"
        return examples, [], examples, "all"

    def _train_beside_main(self) -> None:
        """A process other than the main one: wait for the judged baseline, read the training
        records the main process wrote, and train with it (each on its shard); nothing is written."""
        _, train, _, _ = self.split()
        distributed.barrier()  # the main process has judged the baseline
        for name, trainer in self.trainers.items():
            extractor = self.train_extractor[name]
            folder = self.out / "baseline" / extractor / "train"
            generations = stages.read_generations(folder / "generations.jsonl")
            responses = None
            if hasattr(self.extractors[extractor], "follow_ups"):
                responses = stages.read_follow_ups(folder / "follow_ups.jsonl")
            predictions = stages.extract(None, self.extractors[extractor], train, generations, responses)
            records = self.training_records({"examples": train, "generations": generations,
                                             "predictions": predictions,
                                             "judgments": stages.read_judgments(folder / "judgments.jsonl")})
            distributed.barrier()  # the main process has prepared the training folder
            out = self.out / "train" / name
            if not (out / "model.json").exists():
                trainer.train(self.base, records, out, self.extractors[trainer.extractor],
                              **self._training_judge(trainer, out))

    def _answers_of(self, trainer: str, ref: ModelRef, extractor: str) -> bool:
        """Whether the trained model's answers are the baseline's: its adapter serves only the
        follow-up requests (``scope = "follow_ups"``), which its extractor must have."""
        if ref.scope != "follow_ups":
            return False
        if not hasattr(self.extractors[extractor], "follow_ups"):
            raise HarnessError(f"trainer {trainer!r}: its adapter serves follow-up requests only, but "
                               f"extractor {extractor!r} asks none")
        return True

    # ----------------------------------------------------------------- the whole run
    def run(self) -> dict[str, Any] | None:
        """The whole run, holding the run folder's lock (one writer per folder). Under a
        multi-process launch the other processes only train (``harness.running.distributed``): None."""
        if not distributed.is_main():
            self._train_beside_main()
            return None
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError.from_os(exc, self.out, "cannot create the run folder") from None
        with RunLock(self.out):
            return self._run()

    def _run(self) -> dict[str, Any]:
        spec, log = self.spec, self.log
        started = now()
        manifest = {"status": "running", "started": started, "spec": spec.to_dict(),
                    "seeds": {"selection": spec.seed, "split": spec.seed,
                              "training": {n: registry.resolve_params("trainer", n, self.config).get("seed")
                                           for n in self.trainers},
                              "bootstrap": spec.seed},
                    "config": self.effective_config, "seed_defaults": self.seed_defaults,
                    "threads": {**self.threads.to_dict(), "threads": self.threads_used},
                    "processes": distributed.world_size()}
        write_manifest(self.out / "manifest.json", manifest)

        began = time.monotonic()
        examples, train, test, test_name = self.split()
        split: dict[str, Any] = {"held_out": bool(self.trainers) and not spec.eval_on_train,
                                 "train_task": spec.task, "test_task": spec.task}
        if self.eval_task is not None:  # A's held-out part is not used: the questions are B's
            test = self._examples(self.eval_task, spec.eval_task)
            trained_on, evaluated = [question_key(e) for e in train], [question_key(e) for e in test]
            split.update(test_task=spec.eval_task, train_questions=trained_on, test_questions=evaluated,
                         held_out=not set(trained_on) & set(evaluated))
        if spec.calibration_size is not None and test_name != "train":  # carved by group, seeded
            _, calibration = group_split(test, spec.calibration_size, spec.seed)
            self.calibration_ids = frozenset(e.id for e in calibration)
            split["calibration"] = [e.id for e in calibration]
        write_json_atomic(self.out / "split.json", {**split, "train": [e.id for e in train],
                                                     "test": [e.id for e in test]})
        # the evaluated questions and gold answers (of --eval-task's task when given), for
        # `harness view`'s per-example browser
        write_jsonl_atomic(self.out / "examples.jsonl", [e.to_dict() for e in test])
        self.log.timed("task", began)
        where = f"; evaluated on task {spec.eval_task}" if self.eval_task is not None else ""
        log(f"{spec.task}: {len(examples)} examples; train {len(train)}, {test_name} {len(test)}{where}; "
            f"run folder {self.out}")

        results: dict[tuple[str, str], dict[str, Any]] = {}  # (label, extractor) -> eval on test
        on_train: dict[tuple[str, str], dict[str, Any]] = {}  # the same on the training split
        if test_name == "train":
            on_train = results  # --eval-on-train: one split plays both parts
        for name in self.reported:
            log(f"baseline, {name} extractor, on {test_name} ({len(test)})")
            results[("baseline", name)] = self.evaluate(
                self.out / "baseline" / name / test_name, self.backend, self.base, name, test)
        # post-hoc maps are fitted on answers no model was trained on: the held-out split, or
        # every selected example of an evaluation-only run (no training split: no bar to select)
        fit_posthoc = bool(spec.calibrators) and test_name != "train"
        selecting = fit_posthoc and test_name == "test"
        wanted = set(self.train_extractor.values()) | (set(self.reported) if selecting else set())
        for name in sorted(wanted - {e for (_, e) in on_train}):
            log(f"baseline, {name} extractor, on train ({len(train)})")
            on_train[("baseline", name)] = self.evaluate(
                self.out / "baseline" / name / "train", self.backend, self.base, name, train)
        distributed.barrier()  # the other processes of a launch read the judged baseline now
        models: dict[str, ModelRef] = {}
        for trainer_name in self.trainers:
            train_result = on_train[("baseline", self.train_extractor[trainer_name])]
            models[trainer_name] = self.train(trainer_name, self.training_records(train_result))
        for trainer_name, ref in models.items():
            ext = self.trainers[trainer_name].extractor
            backend = registry.create("backend", spec.backend, self.config,
                                      model=ref.base, adapter=ref.adapter)
            answers = self._answers_of(trainer_name, ref, ext)
            log(f"{trainer_name}: evaluate the trained model, {ext} extractor, on {test_name}")
            results[(trainer_name, ext)] = self.evaluate(
                self.out / "trained" / trainer_name / test_name, backend, ref, ext, test,
                answers_from=results[("baseline", ext)] if answers else None)
            del backend

        began = time.monotonic()
        from harness.reporting.markdown import summary_table
        from harness.reporting.report import build_report, write_report

        posthoc_note = None
        if not spec.calibrators:
            posthoc_note = "No post-hoc calibrator rows: --calibrator none."
        elif test_name == "train":
            posthoc_note = ("No post-hoc calibrator rows: --eval-on-train leaves no held-out questions, "
                            "and a map fitted and scored on the same answers is not a result.")
        # the bar's selection reads the baseline's training answers; no map is fitted on them
        selection = {key: r for key, r in on_train.items()
                     if key[0] == "baseline" and key[1] in self.reported}
        report = build_report(self, results, selection if selecting else {}, models, train=train, test=test,
                              test_name=test_name, posthoc_note=posthoc_note, posthoc=fit_posthoc)
        write_report(self.out, report)
        self.log.timed("report", began)
        manifest.update(status="complete", finished=now(), timings=self.log.timings,
                        posthoc=report["posthoc"],  # which scheme fitted the post-hoc maps
                        judging={"stages": self.judging, "total": _judging_total(self.judging)},
                        wall_seconds=round(time.monotonic() - self.log.start, 1))
        write_manifest(self.out / "manifest.json", manifest)
        print(summary_table(report))
        trackers = [t for trainer in self.trainers.values() for t in getattr(trainer, "report_to", ())]
        if trackers:
            from harness.running.tracking import log_report

            for where in log_report(report, trackers, self.out):
                log(f"metrics logged to {where}")
        failed = {name: error for row in report["rows"]
                  for name, error in row.get("failed_metrics", {}).items()}
        for error in failed.values():
            print(f"harness: warning: {error}", file=sys.stderr)
        log(f"report: {self.out / 'report.md'}")
        return report


def check_capabilities(name: str, extractor: Any, backend_name: str, backend: Any) -> None:
    """Refuse, before any work, an extractor that needs what the backend does not serve (a
    backend that does not declare ``capabilities`` is not checked: its answers say)."""
    offered = getattr(backend, "capabilities", None)
    needed = set(getattr(extractor, "requires", ()) or ())
    if offered is None or not needed:
        return
    missing = sorted(needed - set(offered))
    if missing:
        what = {"logprobs": "token log-probabilities", "entropies": "token entropies",
                "samples": "several samples per prompt", "scores": "scores of given continuations"}
        raise ParameterError(
            f"extractor {name!r} needs {', '.join(what.get(m, m) for m in missing)} ({', '.join(missing)}), "
            f"which backend {backend_name!r} as configured does not give"
            + (f" (it gives: {', '.join(sorted(offered))})" if offered else ""))


def _eval_task_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """The run's own ``-p`` overrides, and those of ``-p eval_task.KEY=VALUE`` rewritten as
    ``task.KEY=VALUE`` for the evaluation task's config."""
    own, evaluated = [], []
    for text in overrides:
        if text.startswith(f"{EVAL_TASK}."):
            evaluated.append("task." + text[len(EVAL_TASK) + 1:])
        else:
            own.append(text)
    return own, evaluated


def _judging_total(stages_: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Requests, errors, token usage and cost summed over every judged stage."""
    total: dict[str, Any] = {"requests": 0, "errors": 0, "cached": 0, "usage": {}, "cost_usd": None}
    for summary in stages_.values():
        for key in ("requests", "errors", "cached"):
            total[key] += int(summary.get(key) or 0)
        for key, value in (summary.get("usage") or {}).items():
            total["usage"][key] = total["usage"].get(key, 0) + value
        if summary.get("cost_usd") is not None:
            total["cost_usd"] = (total["cost_usd"] or 0.0) + summary["cost_usd"]
    return total


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def run_experiment(spec: ExperimentSpec) -> dict[str, Any] | None:
    """Run the whole experiment and return the report (also written to the run folder); None in
    a process other than the main one of a multi-process launch."""
    return Experiment(spec).run()


__all__ = ["ExperimentSpec", "Experiment", "run_experiment"]
