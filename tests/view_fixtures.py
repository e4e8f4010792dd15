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
    from harness.experiment import ExperimentSpec, run_experiment

    qa = write_qa(folder.parent / f"{folder.name}-qa.jsonl")
    run_experiment(ExperimentSpec(task="jsonl", model=str(tiny_lm_path), out=folder, progress=False,
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
