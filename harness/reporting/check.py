"""``harness check``: every verdict of a run recomputed from its outcome files, with the
thresholds in force now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.reporting.run_folder import SCHEMA, held_out_split, load_report
from harness.statistics import outcomes as outcome_files


def check_run(run: Path, *, config_file: Path | None = None, thresholds: dict[str, Any] | None = None,
              bootstrap: str | None = None) -> tuple[bool, str]:
    """Recompute every verdict of ``run`` from its outcome files, with the thresholds in force:
    the defaults, the installed registry.toml's ``[criteria]``, ``config_file`` and ``thresholds``
    (never the run's own). The run's metric parameters and counting rules define what was measured."""
    from harness.machinery.config import Config, Layer
    from harness.statistics.assessment import RowKey, Settings, assess, posthoc_outcome
    from harness.statistics.criteria import thresholds_from

    run = Path(run)
    report = load_report(run)
    if report["schema"] != SCHEMA:
        raise InputError(f"{run}: report version {report['schema'].rpartition('/')[2]} ({report['schema']}) "
                         "has no per-example outcome files, so it cannot be re-checked (rerun it); "
                         "compare and view still read it")
    if any("outcomes" not in r and not r.get("error") for r in report["rows"]):
        raise InputError(f"{run}: a row has no per-example outcome file; it cannot be re-checked (rerun it)")
    if not report["comparisons"]:
        raise InputError(f"{run}: the run trained nothing, so there is nothing to check")
    user_config = Config.load(config_file)
    limits = thresholds_from(user_config, thresholds)
    metric_params = {e["name"]: e["params"] for e in report["strategies"].get("metrics", [])}
    config = user_config.with_layer(Layer(f"metric parameters of {run}", {"metric": metric_params}))
    held_out = held_out_split(run)
    outcomes, fits = {}, {}
    for row in report["rows"]:
        key = RowKey(label=row["label"], extractor=row["extractor"], calibrator=row.get("calibrator"))
        if row.get("outcomes"):
            outcomes[key] = outcome_files.read(run / row["outcomes"])
        if row.get("calibrator_fit") is not None:
            fits[key] = row["calibrator_fit"]
    counting = report["counting"]
    names = report.get("metric_names")  # None: every metric, n/a where it cannot be computed
    own_missing = counting.get("missing_confidence_by_extractor") or {}
    settings = Settings(thresholds=limits, config=config, metric_names=names,
                        not_attempted=counting["not_attempted"],
                        missing_confidence=float(counting["missing_confidence"]),
                        missing_by_extractor={name: float(value) for name, value in own_missing.items()},
                        bootstrap=bootstrap or report["bootstrap"].get("requested", "group"),
                        seed=int(report.get("seed", 0)))
    assessed = assess(outcomes, report["trainers"], settings, held_out=held_out, fits=fits, rows=False)
    lines = []
    if report.get("eval_task"):
        lines.append(f"trained on task {report['task']}, evaluated on task {report['eval_task']}")
    stored = report.get("thresholds") or {}
    differ = sorted(k for k in limits if k in stored and stored[k] != limits[k])
    if differ:
        made = ", ".join(f"{k} {stored[k]!r}" for k in differ)
        in_force = ", ".join(f"{k} {limits[k]!r}" for k in differ)
        lines.append(f"note: the run was made with other thresholds ({made}); "
                     f"checked against the ones in force ({in_force})")
    if held_out != report["held_out"]:
        lines.append(f"note: report.json says held_out={report['held_out']}, split.json says {held_out}")
    lines.append(reading_line(limits))
    not_passing = []
    for comp in assessed["comparisons"]:
        lines.append(f"{comp['trainer']} ({comp['extractor']}, {comp['paired_n']} paired examples, "
                     f"bootstrap over {assessed['bootstrap']['unit']}s): {comp['outcome'].upper()}")
        for v in comp["criteria"]:
            lines.append(f"  {MARKS[v['outcome']]} {v['name']}: {v['detail']}")
        for name in ("beats_posthoc", "adds_to_posthoc", "risk"):
            verdict = comp.get(name)
            gate = "required" if name in comp["required"] else "reported"
            if verdict is None:
                mark = MARKS["fail"] if gate == "required" else "  - "
                lines.append(f"  {mark} {name} ({gate}): n/a, the run has no post-hoc rows")
            else:
                outcome = posthoc_outcome(verdict)
                mark = (MARKS if gate == "required" else REPORTED)[outcome]
                lines.append(f"  {mark} {name} ({gate}): {verdict.get('detail') or verdict.get('error')}")
        if comp["outcome"] != "pass":
            which = comp.get("not_passed") or {"comparison": "fail"}
            not_passing.append(f"{comp['trainer']}: " + ", ".join(f"{n} {o}" for n, o in which.items()))
    ok = not not_passing
    lines.append("every verdict passed" if ok else
                 "not every verdict passed (exit 1): " + "; ".join(not_passing))
    return ok, "\n".join(lines)


#: check's mark per outcome of a gating verdict, and of a reported-only one
MARKS = {"pass": "ok  ", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}
REPORTED = {"pass": "yes ", "fail": "no  ", "inconclusive": "inconclusive"}


def reading_line(thresholds: dict[str, Any]) -> str:
    """Which reading decided the estimated criteria (calibration, accuracy, discrimination)."""
    if thresholds.get("point"):
        return ("reading: POINT (--point): the seed's reading, point estimates decide; "
                "not the default, and blind to the intervals")
    return ("reading: interval: calibration, accuracy and discrimination are decided by their paired 95% CIs "
            "(pass, fail or inconclusive)")
