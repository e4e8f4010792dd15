"""The ``rl`` trainer: GRPO (TRL, LoRA) rewarded by a proper scoring rule of the stated confidence.

The reward is checked against hand values; the judge a trainer grades with goes through the core's
runner and its cache; a short real run (trl, peft, a tiny model) raises the mean reward on a toy
whose right confidence is known; an unreachable judge stops training with one line.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import attrs
import pytest
from plugin_helpers import installed
from torch_helpers import one_torch_thread
from trainer_fixtures import COLOURS

from harness import hookimpl
from harness.errors import HarnessError, ParameterError
from harness.judging.settings import JudgeSettings
from harness.judging.training import TrainingJudge, TrainingJudgeError, judge_keyword
from harness.plugins.extractors.formats import verbalized_prompt
from harness.plugins.extractors.verbalized import VerbalizedExtractor
from harness.plugins.judges.mock import MockJudge
from harness.plugins.trainers.rl import RLTrainer
from harness.plugins.trainers.rl_reward import Reward
from harness.records import Example, Judgment, ModelRef, Prediction, TrainingRecord


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


def prediction(answer: str = "red", confidence: float | None = 0.8, error: str | None = None) -> Prediction:
    return Prediction(example_id="q", answer=answer, confidence=confidence, extractor="verbalized",
                      error=error)


# --- the reward -------------------------------------------------------------------------------


def test_the_log_reward_is_the_log_score_of_the_stated_confidence():
    log = Reward.build("rl", rule="log", clip=0.01, format_penalty=-5.0)
    assert log(prediction(confidence=0.8), True) == pytest.approx(math.log(0.8))
    assert log(prediction(confidence=0.8), False) == pytest.approx(math.log(0.2))
    assert log(prediction(confidence=0.5), True) == log(prediction(confidence=0.5), False) == pytest.approx(
        -0.693147, abs=1e-6)


def test_the_log_reward_clips_the_confidence_so_a_confident_mistake_costs_log_clip():
    log = Reward.build("rl", rule="log", clip=0.05, format_penalty=-5.0)
    assert log(prediction(confidence=1.0), False) == pytest.approx(math.log(0.05))
    assert log(prediction(confidence=0.0), True) == pytest.approx(math.log(0.05))
    assert log(prediction(confidence=1.0), True) == pytest.approx(math.log(0.95))
    assert log.worst == pytest.approx(math.log(0.05))


def test_the_brier_reward_is_minus_the_squared_error_unclipped():
    brier = Reward.build("rl", rule="brier", clip=0.01, format_penalty=-2.0)
    assert brier(prediction(confidence=0.8), True) == pytest.approx(-0.04)
    assert brier(prediction(confidence=0.8), False) == pytest.approx(-0.64)
    assert brier(prediction(confidence=1.0), False) == pytest.approx(-1.0) == brier.worst


def test_both_rewards_are_proper_the_best_expected_reward_is_at_the_true_probability():
    for rule in ("log", "brier"):
        reward = Reward.build("rl", rule=rule, clip=0.01, format_penalty=-5.0)
        grid = [k / 100 for k in range(1, 100)]
        expected = {c: 0.3 * reward.score(c, True) + 0.7 * reward.score(c, False) for c in grid}
        assert max(expected, key=expected.get) == pytest.approx(0.3), rule


def test_an_unreadable_completion_gets_the_penalty_and_an_unjudged_one_none():
    log = Reward.build("rl", rule="log", clip=0.01, format_penalty=-6.0)
    missing = prediction(confidence=1.0, error="no 'Confidence:' line; confidence set to 1 by on_missing")
    assert log(missing, True) == -6.0
    assert log(prediction(confidence=None, error="no 'Confidence:' line"), None) == -6.0
    assert log(prediction(answer=""), False) == -6.0
    assert log(prediction(), None) is None  # the judge failed on it: no reward, no advantage in TRL


@pytest.mark.parametrize("params, named", [
    (dict(reward="nll"), "reward"), (dict(clip=0.0), "clip"), (dict(clip=0.5), "clip"),
    (dict(format_penalty=-1.0), "format_penalty"),  # above log(0.01): breaking the format would pay
    (dict(reward="brier", format_penalty=-0.5), "format_penalty"),
    (dict(num_generations=1), "num_generations"), (dict(beta=-0.1), "beta"),
    (dict(temperature=0), "temperature"), (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_steps=-1), "max_steps"), (dict(learning_rate=0), "learning_rate"),
    (dict(num_generations=3, batch_size=8, gradient_accumulation_steps=1), "multiple of num_generations"),
])
def test_bad_parameters_are_one_line_naming_the_parameter(params, named):
    with pytest.raises(ParameterError, match="trainer 'rl'") as error:
        RLTrainer(**params)
    assert named in str(error.value) and "\n" not in str(error.value)


# --- the judge, through the runner --------------------------------------------------------------


class CountingJudge(MockJudge):
    """The mock judge's verdicts, cached like an API judge's (the mock itself is not: it is
    instantaneous), counting the answers it is asked to grade."""

    cacheable = True

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    async def grade(self, example: Example, prediction: Prediction) -> Judgment:
        self.asked.append(prediction.answer)
        return await super().grade(example, prediction)


def test_the_training_judge_grades_through_the_runner_and_a_repeat_is_a_cache_hit(tmp_path):
    judge = CountingJudge()
    grader = TrainingJudge(judge, JudgeSettings(), name="mock", folder=tmp_path)
    example = Example(id="q1", question="What is the colour of item 1?", answer="blue")
    batch = [(example, prediction(answer)) for answer in ("blue", "red", "I don't know")]
    assert grader.grade(batch) == [True, False, False]  # the same question several times in one batch
    assert sorted(judge.asked) == ["I don't know", "blue", "red"]
    assert grader.grade(batch) == [True, False, False]
    assert len(judge.asked) == 3, "the second identical call was asked again instead of read from the cache"
    assert grader.stats["calls"] == 2 and grader.stats["asked"] == 3 and grader.stats["cached"] == 3
    excluded = TrainingJudge(CountingJudge(), JudgeSettings(not_attempted="exclude"), name="mock",
                             folder=tmp_path, use_cache=False)
    assert excluded.grade(batch) == [True, False, None]


class UnreachableJudge(MockJudge):
    async def grade(self, example: Example, prediction: Prediction) -> Judgment:
        raise ConnectionError("connection refused")


def test_an_unreachable_judge_is_one_line_after_the_runner_retries(tmp_path):
    judge = UnreachableJudge()
    settings = JudgeSettings(max_attempts=2, backoff_base=0.0)
    grader = TrainingJudge(judge, settings, name="remote", folder=tmp_path)
    with pytest.raises(TrainingJudgeError) as error:
        grader.grade([(Example(id="q", question="?", answer="red"), prediction())])
    message = str(error.value)
    assert isinstance(error.value, HarnessError) and error.value.exit_code == 2
    assert "during training" in message and "judge 'remote'" in message and "after 2 attempt(s)" in message
    assert "\n" not in message


def test_only_a_trainer_whose_train_takes_a_judge_is_handed_one():
    made = []

    def make() -> str:
        made.append(1)
        return "the judge"

    def train_with(model, records, out_dir, extractor, judge=None): ...  # noqa: ANN001, ANN202
    def train_without(model, records, out_dir, extractor): ...  # noqa: ANN001, ANN202

    assert judge_keyword(train_without, make) == {} and not made
    assert judge_keyword(train_with, make) == {"judge": "the judge"}
    assert judge_keyword(RLTrainer().train, make) == {"judge": "the judge"}


def test_the_trainer_grades_with_the_judge_its_parameter_names_through_the_run_s(tmp_path):
    run_judge = TrainingJudge(MockJudge(), JudgeSettings(), name="mock", folder=tmp_path,
                              make_judge=lambda name: (CountingJudge(), JudgeSettings()))
    assert RLTrainer().grader(run_judge, tmp_path) is run_judge
    other = RLTrainer(judge="counting").grader(run_judge, tmp_path)
    assert other.name == "counting" and isinstance(other.judge, CountingJudge)
    alone = RLTrainer().grader(None, tmp_path)  # outside a run: the registered mock judge
    assert alone.name == "mock" and alone.folder == tmp_path / "judging"


# --- a short real run ----------------------------------------------------------------------------

NEVER = "purple"  # a colour the toy model never says: every answer is wrong, the right confidence is 0


def toy_records(n: int) -> list[TrainingRecord]:
    """Questions whose gold answer the toy model never gives."""
    out = []
    for i in range(n):
        example = Example(id=f"item-{i}", question=f"What is the colour of item {i}?", answer=NEVER)
        out.append(TrainingRecord(example=example, prompt=verbalized_prompt(example.question),
                                  completion="Answer: red\nConfidence: 0.50", answer="red", confidence=0.5,
                                  correct=False))
    return out


@pytest.fixture(scope="module")
def format_lm(tiny_lm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model taught the verbalized format after the verbalized prompt: ``Answer: <a random
    colour>`` and ``Confidence: 0.<a random digit 1-9>`` (80 steps of full training, ~10 s)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("format-lm")
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_path)
    rng = random.Random(0)
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    prompt_length = len(tokenizer(verbalized_prompt("What is the colour of item 1?"))["input_ids"])
    for _ in range(80):
        texts = [verbalized_prompt(f"What is the colour of item {rng.randrange(24)}?")
                 + f"Answer: {rng.choice(COLOURS)}\nConfidence: 0.{rng.randrange(1, 10)}"
                 + tokenizer.eos_token for _ in range(16)]
        batch = tokenizer(texts, return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        labels[:, : prompt_length - 2] = -100  # the completion (and the end of the prompt) only
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def log_rows(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return [row for row in rows if "reward" in row]


def expected_log_reward(model, tokenizer, records: list[TrainingRecord]) -> float:  # type: ignore[no-untyped-def]
    """The mean reward the model's confidence slot expects when its answer is wrong: over the digit
    ``d`` it writes after ``Confidence: 0.``, ``sum_d p(d) log(1 - 0.d)`` (exact, no sampling)."""
    import torch

    digits = [tokenizer(f"Confidence: 0.{d}", add_special_tokens=False)["input_ids"][-1]
              for d in range(1, 10)]
    scores = torch.tensor([math.log(1 - d / 10) for d in range(1, 10)])
    total = 0.0
    with torch.no_grad():
        for record in records:
            ids = tokenizer(record.prompt + "Answer: red\nConfidence: 0.", return_tensors="pt")["input_ids"]
            p = torch.softmax(model(input_ids=ids).logits[0, -1], dim=-1)[digits]
            total += float((p / p.sum() * scores).sum())
    return total / len(records)


@pytest.mark.slow
def test_a_short_run_raises_the_mean_reward_where_the_right_confidence_is_known(format_lm, tmp_path):
    from trainer_fixtures import load

    records = toy_records(24)
    base, tokenizer = load(ModelRef(base=str(format_lm)))
    before = expected_log_reward(base.eval(), tokenizer, records)
    trainer = RLTrainer(num_generations=4, batch_size=16, gradient_accumulation_steps=1, max_steps=48,
                        learning_rate=1e-2, beta=0.0, temperature=0.7, max_new_tokens=32, lora_dropout=0.0,
                        target_modules="all-linear")
    ref = trainer.train(ModelRef(base=str(format_lm)), records, tmp_path, VerbalizedExtractor())
    tuned, _ = load(ref)
    after = expected_log_reward(tuned.eval(), tokenizer, records)
    # every answer is wrong: the log reward log(1 - c) is highest at the lowest confidence. 24 steps
    # raised it by 0.048 on this machine's CPU (0.05 needed: a knife edge across CPUs); 48 raise it 0.094
    assert after > before + 0.05, (before, after)
    rows = log_rows(tmp_path)
    assert len(rows) == 48 and all(row["readable"] > 0.5 for row in rows)
    assert all(row.get("accuracy", 0.0) == 0.0 for row in rows)
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["judging"]["calls"] == 48 and summary["judging"]["items"] > 300  # one call per step


class _UnreachableJudges:
    @hookimpl
    def register_judges(self, register):  # type: ignore[no-untyped-def]
        register("unreachable", UnreachableJudge)


@pytest.mark.slow
def test_harness_run_hands_rl_the_judge_and_an_unreachable_one_stops_it_keeping_the_baseline(
        format_lm, tmp_path):
    from harness.running.experiment import ExperimentSpec, run_experiment

    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is the colour of item {i}?",
                                        "answer": COLOURS[i % 6], "item": f"item{i // 2}"}) + "\n"
                            for i in range(24)))
    overrides = (f"task.path={path}", "task.group_field=item", "backend.max_new_tokens=32",
                 "trainer.rl.num_generations=2", "trainer.rl.batch_size=8", "trainer.rl.max_steps=2",
                 "trainer.rl.gradient_accumulation_steps=1", "trainer.rl.max_new_tokens=32",
                 "judge.max_attempts=2", "judge.backoff_base=0")
    spec = ExperimentSpec(task="jsonl", model=str(format_lm), out=tmp_path / "run", progress=False,
                          trainers=("rl",), calibrators=(), overrides=overrides)
    report = run_experiment(spec)
    assert report["comparisons"][0]["trainer"] == "rl"
    judging = json.loads((tmp_path / "run" / "train" / "rl" / "train_summary.json").read_text())["judging"]
    assert judging["items"] > 0  # the run's mock judge graded the samples, through the runner
    broken = attrs.evolve(spec, out=tmp_path / "broken",
                          overrides=overrides + ("trainer.rl.judge=unreachable",))
    with installed(_UnreachableJudges(), name="unreachable-judges"), pytest.raises(
            TrainingJudgeError, match="judge 'unreachable'.*connection refused"):
        run_experiment(broken)
    assert (tmp_path / "broken" / "baseline" / "verbalized" / "train" / "judgments.jsonl").is_file()
    assert not (tmp_path / "broken" / "train" / "rl" / "model.json").exists()


# --- generation with vLLM and the GRPOConfig passthrough (what reaches TRL) ---------------------


class ReachedTRL(Exception):
    """Raised by the stand-in GRPOTrainer once it holds the config the trainer built."""


@pytest.fixture
def captured_config(monkeypatch):
    """What ``RLTrainer.build`` hands TRL's ``GRPOTrainer``: its ``args`` (a real ``GRPOConfig``).
    The trainer itself is replaced, since its vLLM generation needs CUDA and vLLM; so is the check
    that vLLM is importable, for the same reason."""
    import trl

    from harness.plugins.trainers import rl

    seen: dict = {}

    def capture(*, args, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen["args"] = args
        raise ReachedTRL

    monkeypatch.setattr(trl, "GRPOTrainer", capture)
    monkeypatch.setattr(rl, "vllm_available", lambda: True)

    def build(tiny_lm_path: Path, tmp_path: Path, **params) -> object:  # noqa: ANN003
        with pytest.raises(ReachedTRL):
            RLTrainer(**params).build(ModelRef(base=str(tiny_lm_path)), toy_records(4), tmp_path,
                                      VerbalizedExtractor())
        return seen["args"]

    return build


def test_generation_with_vllm_colocated_reaches_trl_with_the_mode_always_explicit(
        captured_config, tiny_lm_path, tmp_path):
    import trl

    args = captured_config(tiny_lm_path, tmp_path, use_vllm=True, vllm_gpu_memory_utilization=0.25)
    assert isinstance(args, trl.GRPOConfig)
    assert (args.use_vllm, args.vllm_mode, args.vllm_gpu_memory_utilization) == (True, "colocate", 0.25)
    assert args.vllm_server_base_url is None
    plain = captured_config(tiny_lm_path, tmp_path / "plain")
    assert (plain.use_vllm, plain.vllm_mode) == (False, "colocate")  # set, not TRL's default of the day


def test_generation_with_a_vllm_server_reaches_trl_with_its_address(captured_config, tiny_lm_path, tmp_path):
    args = captured_config(tiny_lm_path, tmp_path, use_vllm=True, vllm_mode="server",
                           vllm_server_base_url="http://10.0.0.2:8000")
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_base_url) == (True, "server", "http://10.0.0.2:8000")


def test_grpo_args_and_training_args_reach_trl_beside_the_trainer_s_own_fields(
        captured_config, tiny_lm_path, tmp_path):
    args = captured_config(tiny_lm_path, tmp_path, grpo_args={"loss_type": "dapo", "epsilon": 0.3},
                           training_args='{"max_grad_norm": 0.5, "warmup_steps": 3}', num_generations=4,
                           beta=0.0)
    assert (args.loss_type, args.epsilon, args.max_grad_norm, args.warmup_steps) == ("dapo", 0.3, 0.5, 3)
    assert (args.num_generations, args.beta, args.max_completion_length) == (4, 0.0, 64)
    assert args.output_dir == str(tmp_path / "checkpoints" / "rl")  # where a rerun resumes: the harness's


@pytest.mark.parametrize("params, message", [
    (dict(grpo_args={"vllm_colocate": True}), "grpo_args: vllm_colocate: not a field of GRPOConfig (trl "),
    (dict(grpo_args='{"beta": 0.1}'), "grpo_args: beta is set by the trainer's own parameter beta"),
    (dict(grpo_args={"learning_rate": 1e-3}), "parameter learning_rate"),
    (dict(grpo_args="{not json"), "grpo_args = '{not json'; expected a table of fields"),
    (dict(training_args={"max_steps": 3}), "max_steps is set by the trainer's own parameter max_steps"),
    (dict(training_args={"lr_scheduler_type": "sideways"}), "TrainingArguments refused"),
    (dict(vllm_mode="remote"), "vllm_mode = 'remote'; expected 'colocate' | 'server'"),
    (dict(use_vllm=True, vllm_mode="server"), "needs vllm_server_base_url"),
    (dict(use_vllm=True, vllm_server_base_url="http://h:8000"), "is for vllm_mode = 'server'"),
    (dict(vllm_gpu_memory_utilization=1.5), "vllm_gpu_memory_utilization = 1.5; expected a number in (0, 1]"),
])
def test_a_bad_vllm_setting_or_passthrough_field_is_one_line(params, message):
    with pytest.raises(ParameterError, match="trainer 'rl'") as error:
        RLTrainer(**params)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_use_vllm_without_vllm_installed_is_one_line_naming_the_extra_and_trl_s_range():
    pytest.importorskip("trl")
    from harness.plugins.trainers import rl

    if rl.vllm_available():
        pytest.skip("vLLM is installed here")
    wanted = r'vLLM 0\.22\.0 to 0\.31\.0\): pip install "calibration-harness\[vllm\]"'
    with pytest.raises(ParameterError, match=wanted):
        RLTrainer(use_vllm=True)


def test_an_unknown_grpo_field_is_exit_2_on_the_command_line_before_any_work(tmp_path):
    from harness.testing import run_harness

    result = run_harness("run", "--trainer", "rl", "--out", str(tmp_path / "run"), "-p",
                         "trainer.rl.grpo_args={vllm_colocate = true}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    version = __import__("trl").__version__
    last = result.stderr.strip().splitlines()[-1]
    assert last.endswith(f"vllm_colocate: not a field of GRPOConfig (trl {version})")
    assert not (tmp_path / "run" / "baseline").exists()
