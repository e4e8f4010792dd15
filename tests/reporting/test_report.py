"""The report of a SimpleQA run gives SimpleQA's own metrics: `harness run --task simpleqa
--judge openai` against an OpenAI-compatible server (the local test server plays both the
served model and the grader), then `harness compare`."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_openai_server import FakeOpenAIServer
from judge_helpers import fields, fresh_cache  # noqa: F401 - fixture

from harness.reporting.compare import compare_runs
from harness.reporting.markdown import render_markdown, summary_table
from harness.running.experiment import ExperimentSpec, run_experiment

ANSWERS = {f"Which code has item {i}?": f"code-{i}" for i in range(20)}


def model_and_grader(body: dict[str, Any]) -> str:
    """Items 0-9 answered right, 10-14 wrong, 15-19 "I don't know"; graded as SimpleQA would."""
    f = fields(body)
    if f:
        said = f["PREDICTED ANSWER"]
        return "A" if said == f["GOLD TARGET"] else "C" if "know" in said else "B"
    question = re.search(r"Question: (.*?)\n", FakeOpenAIServer.prompt_text(body)).group(1)
    i = int(question.split()[-1].rstrip("?"))
    answer = f"code-{i}" if i < 10 else "code-x" if i < 15 else "I don't know"
    return f"Answer: {answer}\nConfidence: 0.7"


def simpleqa_csv(tmp_path: Path) -> Path:
    """``ANSWERS`` as a SimpleQA CSV (metadata, problem, answer)."""
    data = tmp_path / "simple_qa.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metadata", "problem", "answer"])
        for question, answer in ANSWERS.items():
            writer.writerow(["{'topic': 'Art', 'answer_type': 'Other'}", question, answer])
    return data


def test_a_simpleqa_run_reports_simpleqas_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    data = simpleqa_csv(tmp_path)
    out = tmp_path / "run"
    with FakeOpenAIServer(responder=model_and_grader) as server:
        report = run_experiment(ExperimentSpec(
            task="simpleqa", model="served", backend="openai", extractor="verbalized", judge="openai",
            out=out, progress=False, calibrators=(),
            overrides=(f"task.path={data}", f"backend.base_url={server.base_url}",
                       f"judge.base_url={server.base_url}")))
    sq = report["rows"][0]["simpleqa"]
    assert (sq["n"], sq["correct"], sq["incorrect"], sq["not_attempted"]) == (20, 0.5, 0.25, 0.25)
    assert sq["accuracy_given_attempted"] == pytest.approx(10 / 15)
    assert sq["f_score"] == pytest.approx(2 * 0.5 * (10 / 15) / (0.5 + 10 / 15))
    markdown = (out / "report.md").read_text()
    assert "## SimpleQA's metrics" in markdown
    # each share with its bootstrap interval
    assert re.search(r"\| baseline \| verbalized \| 20 \| 0\.500 \[0\.\d+, 0\.\d+\] \| 0\.250 \[",
                     markdown)
    low, high = sq["ci"]["correct"]
    assert low <= 0.5 <= high and set(sq["ci"]) == {"correct", "incorrect", "not_attempted",
                                                   "accuracy_given_attempted", "f_score"}
    assert "SimpleQA baseline/verbalized: correct 0.500, not attempted 0.250" in summary_table(report)
    table = compare_runs([out])
    head, _, row = table.splitlines()
    assert head.endswith("| not_attempted | accuracy_given_attempted | f_score |")
    assert row.endswith("| 0.250 | 0.667 | 0.571 |")


def unparsable_confidences(body: dict[str, Any]) -> str:
    """As ``model_and_grader``, but items 10-14 say ``Confidence: very high`` (no number)."""
    reply = model_and_grader(body)
    if fields(body):
        return reply
    i = int(re.search(r"item (\d+)\?", FakeOpenAIServer.prompt_text(body)).group(1))
    return reply.replace("Confidence: 0.7", "Confidence: very high") if 10 <= i < 15 else reply


def test_an_unparsable_verbalized_confidence_is_counted_missing_and_imputed_by_the_core(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22, hole 4: verbalized filled its own missing confidences (on_missing), so the counts
    and coverage never saw them. Now the prediction stays missing, the core imputes on_missing's
    value and counts it, and coverage falls."""
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    data = simpleqa_csv(tmp_path)
    out = tmp_path / "run"
    with FakeOpenAIServer(responder=unparsable_confidences) as server:
        report = run_experiment(ExperimentSpec(
            task="simpleqa", model="served", backend="openai", extractor="verbalized", judge="openai",
            out=out, progress=False, calibrators=(),
            overrides=(f"task.path={data}", f"backend.base_url={server.base_url}",
                       f"judge.base_url={server.base_url}", "extractor.verbalized.on_missing=0.25")))
    row = report["rows"][0]
    counts = row["counts"]
    assert (counts["missing_confidence"], counts["imputed"], counts["answered"]) == (5, 5, 10)
    assert row["coverage"] == 0.5  # 10 of 20 judged answers attempted with a confidence of their own
    assert report["counting"]["missing_confidence_by_extractor"] == {"verbalized": 0.25}
    # 10 stated 0.7, 5 imputed 0.25, 5 not attempted with 0.7 stated
    assert row["metrics"]["mean_confidence"]["value"] == pytest.approx((10 * 0.7 + 5 * 0.25 + 5 * 0.7) / 20)
    from harness.statistics.outcomes import read

    stored = {o.example_id: o.confidence for o in read(out / row["outcomes"])}
    assert sum(c is None for c in stored.values()) == 5  # the file keeps them missing; check re-imputes
    markdown = (out / "report.md").read_text()
    assert "no confidence 5 (imputed), answered 50.0%" in markdown
    assert "(verbalized: 0.25, its on_missing)" in markdown


def overconfident(n: int = 300, seed: int = 0) -> list:
    """Says 0.6-1.0, right more often when more confident; three questions per entity."""
    from harness.statistics.outcomes import Outcome

    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.6, 1.0, n)
    right = rng.random(n) < conf - 0.3
    return [Outcome(example_id=f"q{i:03d}", grade="correct" if r else "incorrect", confidence=float(c),
                    group=f"e{i // 3}") for i, (c, r) in enumerate(zip(conf, right, strict=True))]


STAGES = ("task", "backend", "judge")


def assessed_report(point: bool = False) -> dict[str, Any]:
    """A report as build_report makes it, from ``assess`` on a baseline, a clearly better trained
    model and one post-hoc row, with the thresholds in force."""
    from harness.machinery.config import Config
    from harness.statistics.assessment import RowKey, Settings, assess
    from harness.statistics.criteria import thresholds_from

    base = overconfident()
    trained = [o.with_confidence(o.confidence - 0.3) for o in base]
    posthoc = [o.with_confidence(o.confidence - 0.25) for o in base]
    thresholds = thresholds_from(Config.load(), {"point": point})
    outcomes = {RowKey(label="baseline", extractor="logprob"): base,
                RowKey(label="implicit", extractor="logprob"): trained,
                RowKey(label="baseline", extractor="logprob", calibrator="isotonic"): posthoc}
    # the bar is chosen by its training-split CV Brier (harness.statistics.posthoc stores it in the row's fit)
    fits = {RowKey(label="baseline", extractor="logprob", calibrator="isotonic"):
            {"selection": {"cv_brier": 0.2}}}
    assessed = assess(outcomes, {"implicit": "logprob"},
                      Settings(thresholds=thresholds, config=Config.load(), resamples=200), held_out=True,
                      fits=fits)
    return {"task": "facts", "model": "tiny", "note": "Evaluated on held-out questions (grouped split).",
            "posthoc_note": None, "split": {"train": 300, "test": 300, "evaluated": "test"}, "seed": 0,
            "bootstrap": assessed["bootstrap"], "thresholds": thresholds,
            "counting": {"not_attempted": "incorrect", "missing_confidence": 1.0},
            "strategies": {"layers": [], **{k: {"name": k, "params": {}} for k in STAGES}},
            "profile": "tiny model's profile", "seed_defaults": {"implicit": {"lr": 0.0002}},
            "rows": assessed["rows"],
            "comparisons": assessed["comparisons"], "extractor_comparisons": [], "diagrams": {}}


def test_report_md_opens_with_the_verdicts_at_a_glance_and_which_reading_decided() -> None:
    """Issue 22: the conclusion first — each criterion's outcome per trainer, the post-hoc verdicts
    naming the map they were measured against, the best-calibrated row, the reading that decided."""
    report = assessed_report()
    comp = report["comparisons"][0]
    assert comp["outcome"] == "pass" and comp["reading"] == "interval"
    markdown = render_markdown(report)
    head = markdown.split("## The run")[0]
    assert "## Verdicts at a glance" in head and "Decided by: the paired 95% bootstrap CIs" in head
    row = next(line for line in head.splitlines() if line.startswith("| implicit |"))
    assert row.startswith("| implicit | logprob | **PASS** |" + " pass |" * 7)
    assert f"vs {comp['beats_posthoc']['against']} |" in row
    assert "Best row by Brier score (a proper score" in head and "implicit/logprob, Brier 0.2" in head
    assert ", debiased_calib_err 0.0" in head  # the calibration error beside
    assert "registry defaults, for comparison:\n- `implicit` (registry.toml): {\"lr\": 0.0002}" in markdown
    terminal = summary_table(report).splitlines()
    assert terminal[0] == "Verdicts (decided by the paired 95% CIs):"
    assert terminal[1].startswith("  implicit: PASS; beats best post-hoc: ")


def test_every_row_shows_its_coverage_at_risk_in_report_md_and_the_terminal() -> None:
    report = assessed_report()
    alpha = report["thresholds"]["risk_alpha"]
    assert all(row["coverage_at_risk"]["alpha"] == alpha for row in report["rows"])
    markdown = render_markdown(report)
    section = markdown.split("## Abstention with a risk guarantee")[1].split("##")[0]
    for row in report["rows"]:
        name = "baseline" if row["label"] == "baseline" else row["label"]
        name += f" + {row['calibrator']}" if row["calibrator"] else ""
        assert f"- {name}/logprob: at risk 0.1 (delta 0.1): " in section
    assert "- risk: " in markdown and "(reported)" in markdown.split("- risk: ")[1].splitlines()[0]
    terminal = summary_table(report).splitlines()
    header = next(line for line in terminal if line.startswith("model"))
    assert header.endswith("ans@0.1")
    shares = [line.split()[-1] for line in terminal[terminal.index(header) + 1:][:len(report["rows"])]]
    expected = [f"{row['coverage_at_risk']['coverage']['value']:.1%}" for row in report["rows"]]
    assert shares == expected


def test_the_point_reading_is_labelled_wherever_it_decided() -> None:
    report = assessed_report(point=True)
    markdown = render_markdown(report)
    assert "Decided by: the point estimates (`--point`" in markdown
    assert "POINT READING (--point)" in markdown  # each estimated criterion's detail
    assert summary_table(report).startswith("Verdicts (POINT reading, --point: point estimates decided):")


def test_an_evaluation_only_report_has_no_empty_list_of_seed_defaults() -> None:
    """It printed "the seed's registry defaults, for comparison:" followed by nothing."""
    report = {**assessed_report(), "seed_defaults": {}, "comparisons": []}
    markdown = render_markdown(report)
    assert "for comparison:" not in markdown
    assert "no trainer ran, so no parameter of it is in force." in markdown
    assert "No trainer ran: no verdict." in markdown


def test_the_best_row_is_named_by_brier_so_a_constant_forecaster_is_never_it() -> None:
    """Issue 22: ranked by calibration error alone, the base-rate constant (one confidence, the
    accuracy) is the "best-calibrated" row of every run; the opening names the best row by the
    Brier score, which also rewards ranking, and shows the calibration error beside it."""
    from harness.reporting.markdown import best_row

    report = assessed_report()
    base = next(r for r in report["rows"] if r["label"] == "baseline" and not r.get("calibrator"))
    constant = {**base, "calibrator": "base_rate", "key": "baseline__logprob__base_rate",
                "metrics": {**base["metrics"], "debiased_calib_err": {"value": 0.0, "ci": [0.0, 0.01]},
                            "brier": {"value": 0.24, "ci": [0.23, 0.25]}}}
    report["rows"].append(constant)
    best = best_row(report)
    assert best is not None and best["title"] != "baseline + base_rate" and best["metric"] == "brier"
    assert best["value"] == min(r["metrics"]["brier"]["value"] for r in report["rows"])


def test_the_terminal_summary_shows_the_report_columns_a_plugin_metric_among_them() -> None:
    """The columns are the run's ``[report] columns`` setting (report.json's ``columns``), not a
    fixed list: a plugin metric named there is shown like a built-in one."""
    report = assessed_report()
    for row in report["rows"]:
        row["metrics"]["always_half"] = {"value": 0.5, "ci": None}
    report["columns"] = ["always_half", "brier"]
    lines = summary_table(report).splitlines()
    head = next(line for line in lines if line.startswith("model"))
    alpha = report["thresholds"]["risk_alpha"]
    assert head.split() == ["model", "extractor", "n", "always_half", "brier", f"ans@{alpha:g}"]
    baseline = next(line for line in lines if line.startswith("baseline "))
    brier = next(r for r in report["rows"] if r["label"] == "baseline")["metrics"]["brier"]["value"]
    assert baseline.split()[-3:-1] == ["0.500", f"{brier:.3f}"]
    assert "accuracy" not in head


def test_a_report_without_columns_shows_the_shipped_headline() -> None:
    from harness.reporting.run_folder import headline

    report = assessed_report()
    head = next(line for line in summary_table(report).splitlines() if line.startswith("model"))
    assert head.split()[3:-1] == list(headline())  # then the share answered at the risk level
    assert headline()[0] == "accuracy"  # registry.toml's [report] columns
