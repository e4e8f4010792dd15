"""The report of a SimpleQA run gives SimpleQA's own metrics: `harness run --task simpleqa
--judge openai` against an OpenAI-compatible server (the local test server plays both the
served model and the grader), then `harness compare`."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from fake_openai_server import FakeOpenAIServer
from judge_helpers import fields, fresh_cache  # noqa: F401 - fixture

from harness.experiment import ExperimentSpec, run_experiment
from harness.report import compare_runs, summary_table

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


def test_a_simpleqa_run_reports_simpleqas_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    data = tmp_path / "simple_qa.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metadata", "problem", "answer"])
        for question, answer in ANSWERS.items():
            writer.writerow(["{'topic': 'Art', 'answer_type': 'Other'}", question, answer])
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
