"""A small finished run folder for `harness view` and `harness sweep` tests, with hostile text in it.

Questions, gold answers, model answers and judge replies are untrusted: the run made here
carries script and markup payloads in a question, an answer and a judge reply, each of which
sets ``window.__pwned`` if it ever runs in the page."""

from __future__ import annotations

import json
from pathlib import Path

PAYLOAD_SCRIPT = "<script>window.__pwned = 'script'</script>"
PAYLOAD_IMG = "\"><img src=x onerror=\"window.__pwned = 'img'\">"
QUESTIONS = [(f"q{i}", f"What is the colour of item {i}?", c, f"item{i // 2}")
             for i, c in enumerate(["red", "blue", "green", "yellow", "black", "white"] * 6)]
QUESTIONS[0] = ("q0", f"What is the colour of item 0? {PAYLOAD_SCRIPT}{PAYLOAD_IMG}", "red", "item0")


def write_qa(path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": i, "question": q, "answer": a, "item": g}) + "\n"
                            for i, q, a, g in QUESTIONS))
    return path


def hostile_run(tiny_lm_path: Path, folder: Path) -> Path:
    """An evaluation-only run of the tiny model on ``QUESTIONS``, then a hostile answer and judge
    reply written into its stage files (as a model and a judge could have produced them)."""
    from harness.running.experiment import ExperimentSpec, run_experiment

    qa = write_qa(folder.parent / f"{folder.name}-qa.jsonl")
    run_experiment(ExperimentSpec(task="jsonl", model=str(tiny_lm_path), out=folder, progress=False,
                                  calibrators=(),  # no post-hoc rows: with_a_trainer adds one
                                  overrides=(f"task.path={qa}", "task.group_field=item",
                                             "backend.max_new_tokens=4")))
    stage = folder / "baseline" / "logprob" / "all"
    for name, field, payload in (("predictions.jsonl", "answer", PAYLOAD_IMG + PAYLOAD_SCRIPT),
                                 ("judgments.jsonl", "raw", PAYLOAD_SCRIPT + PAYLOAD_IMG)):
        rows = [json.loads(line) for line in (stage / name).read_text().splitlines()]
        for row in rows:
            if row["example_id"] in ("q0", "q1"):
                row[field] = payload
        (stage / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def with_a_trainer(run: Path, folder: Path) -> Path:
    """A copy of ``run`` with a trainer (``implicit``) and a post-hoc row (``baseline + isotonic``)
    added the way a run adds them: their outcome files (the baseline's answers, every third judged
    correct, confidences pulled toward the grade), then the real assessment into report.json; one
    criterion and the whole carry ``outcome: inconclusive`` (the three-valued convention), the
    other criteria ``passed`` only."""
    import shutil

    import attrs

    from harness.machinery.config import Config
    from harness.statistics import outcomes as outcome_files
    from harness.statistics.assessment import RowKey, Settings, assess
    from harness.statistics.criteria import thresholds_from

    shutil.copytree(run, folder)
    report = json.loads((folder / "report.json").read_text())
    [base_row] = [r for r in report["rows"] if r["label"] == "baseline" and not r["calibrator"]]
    base = [attrs.evolve(o, grade="correct" if k % 3 == 0 else o.grade)
            for k, o in enumerate(outcome_files.read(folder / base_row["outcomes"]))]

    def moved(to: float) -> list:
        return [o.with_confidence(None if o.confidence is None else
                                  (1 - to) * o.confidence + to * (o.grade == "correct")) for o in base]

    isotonic = RowKey(label="baseline", extractor="logprob", calibrator="isotonic")
    rows = {RowKey(label="baseline", extractor="logprob"): base, isotonic: moved(0.3),
            RowKey(label="implicit", extractor="logprob"): moved(0.6)}
    settings = Settings(thresholds=thresholds_from(None, {"min_n": 10}), config=Config.load(), resamples=200)
    assessed = assess(rows, {"implicit": "logprob"}, settings, held_out=True,
                      fits={isotonic: {"slope": 1.25, "fitted_on": "held-out answers of the other folds",
                                       "selection": {"cv_brier": 0.2}}})
    for key, row in zip(rows, assessed["rows"], strict=True):
        outcome_files.write(folder / f"{key.slug}.outcomes.jsonl", rows[key])
        row["outcomes"] = f"{key.slug}.outcomes.jsonl"
    assessed["comparisons"][0]["criteria"][2]["outcome"] = "inconclusive"
    assessed["comparisons"][0]["outcome"] = "inconclusive"  # one inconclusive criterion: not a pass
    report.update(rows=assessed["rows"], comparisons=assessed["comparisons"],
                  trainers={"implicit": "logprob"}, thresholds=dict(settings.thresholds))
    (folder / "report.json").write_text(json.dumps(report))
    return folder
