"""How long does ``harness view`` take to build the page of a 4,326-example run? (Target: under 2 s.)

Writes a synthetic finished run folder — 4,326 examples (SimpleQA's size), a baseline and a
trained row with their stage files, outcome files and a report.json computed by the harness's
own ``assess`` — then times, side by side in one process:

- reading the run's files alone (report, examples, predictions, judgments, outcomes), and
- building and writing the whole page (``harness.reporting.view.write_page``),

and prints both, their ratio, and the page's size. No model is involved.

    python bench/view.py
    python bench/view.py --n 4326 --repeat 5 --out runs/bench-view
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from harness.artifacts import read_jsonl, write_json_atomic, write_jsonl_atomic
from harness.machinery.config import Config
from harness.reporting.run_folder import SCHEMA
from harness.reporting.view import write_page
from harness.statistics.assessment import RowKey, Settings, assess
from harness.statistics.criteria import thresholds_from
from harness.statistics.outcomes import Outcome
from harness.statistics.outcomes import write as write_outcomes

GRADES = ("correct", "incorrect", "not_attempted")


def synthetic_run(folder: Path, n: int, seed: int = 0) -> Path:
    """A finished evaluation of ``n`` examples: baseline and an ``implicit`` trainer, logprob extractor."""
    rng = random.Random(seed)
    examples = [{"id": f"q{i}", "question": f"Which city is entity {i} from? " + "word " * rng.randint(3, 30),
                 "answer": f"City {i % 97}", "group": f"e{i // 3}",
                 "subgroup": rng.choice(["seen", "unseen"])} for i in range(n)]
    write_jsonl_atomic(folder / "examples.jsonl", examples)
    write_json_atomic(folder / "split.json",
                      {"held_out": True, "train": ["t0"], "test": [e["id"] for e in examples]})
    rows = {}
    for label, stage, sharp in (("baseline", folder / "baseline/logprob/test", 0.6),
                                ("implicit", folder / "trained/implicit/test", 0.9)):
        outcomes, predictions, judgments = [], [], []
        for e in examples:
            skill = rng.random()
            correct = rng.random() < skill
            confidence = min(1.0, max(0.0, sharp * skill + (1 - sharp) * rng.random()))
            grade = "correct" if correct else rng.choice(GRADES[1:] if rng.random() < 0.1 else GRADES[1:2])
            answer = e["answer"] if correct else f"City {rng.randint(0, 500)}"
            outcomes.append(Outcome(example_id=e["id"], grade=grade, confidence=confidence,
                                    group=e["group"], subgroup=e["subgroup"]))
            predictions.append({"example_id": e["id"], "answer": answer, "confidence": confidence})
            judgments.append({"example_id": e["id"], "grade": grade, "answer": answer,
                              "raw": f"GRADE: {grade.upper()}\nThe answer {answer!r} vs {e['answer']!r}."})
        write_jsonl_atomic(stage / "predictions.jsonl", predictions)
        write_jsonl_atomic(stage / "judgments.jsonl", judgments)
        key = RowKey(label=label, extractor="logprob")
        write_outcomes(folder / "outcomes" / f"{key.slug}.jsonl", outcomes)
        rows[key] = outcomes
    config = Config.load()
    settings = Settings(thresholds=thresholds_from(config), config=config, resamples=200)
    assessed = assess(rows, {"implicit": "logprob"}, settings, held_out=True)
    for row in assessed["rows"]:
        row["outcomes"] = f"outcomes/{row['key']}.jsonl"
    report = {"schema": SCHEMA, "held_out": True, "note": "Synthetic run for bench/view.py.",
              "posthoc_note": None,
              "task": "synthetic", "model": "none", "seed": seed,
              "split": {"train": 1, "test": n, "evaluated": "test"},
              "counting": {"not_attempted": "incorrect", "missing_confidence": 1.0},
              "bootstrap": assessed["bootstrap"], "thresholds": settings.thresholds,
              "trainers": {"implicit": "logprob"}, "metric_names": None, "strategies": {},
              "rows": assessed["rows"], "comparisons": assessed["comparisons"], "diagrams": {}}
    write_json_atomic(folder / "report.json", report)
    return folder


def read_only(folder: Path) -> int:
    """Read every file the page is built from; return the number of records."""
    total = len(json.loads((folder / "report.json").read_text())["rows"])
    files = [folder / "examples.jsonl", *folder.glob("*/*/test/*.jsonl"), *folder.glob("outcomes/*.jsonl")]
    for path in files:
        total += len(read_jsonl(path).rows)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4326)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-view"))
    args = parser.parse_args()
    folder = args.out / f"run-{args.n}"
    if not (folder / "report.json").is_file():
        synthetic_run(folder, args.n)
    reads, builds = [], []
    for _ in range(args.repeat):
        began = time.perf_counter()
        read_only(folder)
        reads.append(time.perf_counter() - began)
        began = time.perf_counter()
        page = write_page([folder])
        builds.append(time.perf_counter() - began)
    read_s, build_s = statistics.median(reads), statistics.median(builds)
    print(f"{args.n} examples, 2 rows, median of {args.repeat}:")
    print(f"  read the run's files      {read_s:6.3f} s")
    print(f"  build and write the page  {build_s:6.3f} s  ({build_s / read_s:.1f}x reading; target < 2 s)")
    print(f"  page: {page} ({page.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
