"""The ``harness`` command line: thin click commands that parse options and call the library.

Every user error (``HarnessError``, or a click usage error) becomes one line on stderr and
exit status 2; so does an ``OSError`` on a named file (a full disk, no permission), as
``path: reason``. No traceback reaches a user.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from harness import __version__
from harness.errors import HarnessError
from harness.machinery.kinds import KINDS

KIND_CHOICES = tuple(KINDS)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
@click.option("--plugins", metavar="NAME,...", default=None,
              help="Load only these third-party plugins (entry-point or distribution names; the built-ins "
                   "always load). Same as HARNESS_PLUGINS.")
def cli(plugins: str | None) -> None:
    """Measure and train the calibration of language models."""
    if plugins is not None:
        import os

        from harness.machinery import registry
        from harness.machinery.plugin_loading import PLUGINS_ENV

        os.environ[PLUGINS_ENV] = plugins  # child processes (e.g. a sweep's cells) inherit it
        registry.reset()


@cli.command("list")
@click.option("--kind", type=click.Choice(KIND_CHOICES), help="Only strategies of this kind.")
@click.option("-v", "--verbose", is_flag=True, help="Show effective default parameters and their types.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="User TOML config.")
def list_command(kind: str | None, verbose: bool, config_file: Path | None) -> None:
    """List every registered strategy with the distribution that provides it.

    Then what did not load as meant: broken plugins, duplicate names (the first registration
    is kept; select either as DISTRIBUTION:NAME), plugins with a hint (registered nothing, a hook
    without @harness.hookimpl), and plugins not loaded (HARNESS_DISABLE_PLUGINS, --plugins)."""
    from harness.machinery import registry
    from harness.machinery.config import Config

    config = Config.load(config_file)
    current = None
    for strategy in registry.strategies(kind):
        if strategy.kind != current:
            current = strategy.kind
            click.echo(f"{current}:")
        summary = f"  {strategy.summary}" if strategy.summary else ""
        click.echo(f"  {strategy.name:<20} {strategy.source}{summary}")
        if verbose:
            params = strategy.effective_parameters(config)
            sources = strategy.parameter_sources(config)
            types = strategy.parameter_types() or {}
            for key in sorted(params):
                shown = types[key].describe() if key in types else ""
                typed = f"{key}: {shown}" if shown else key
                click.echo(f"      {typed} = {params[key]!r}  [{sources.get(key, 'default')}]")
    _section("broken plugins:", [(b.name, b.distribution, b.error) for b in registry.broken_plugins()])
    _section("broken strategies (duplicate names):",
             [(d.strategy.name, d.strategy.source, d.error) for d in registry.duplicates(kind)])
    _section("plugins with a hint:", [(n.name, n.distribution, n.hint) for n in registry.plugin_notes()])
    disabled = registry.disabled_plugins()
    unmatched = registry.unmatched_selection()
    if disabled or unmatched:
        click.echo("plugins not loaded:")
        for d in disabled:
            click.echo(f"  {d.name:<20} {d.distribution}: {d.reason}")
        for name in unmatched:
            click.echo(f"  {name:<20} (matches no installed plugin)")


def _section(title: str, rows: list[tuple[str, str, str]]) -> None:
    """A titled list of ``name  source: text`` lines, or nothing when there are no rows."""
    if rows:
        click.echo(title)
        for name, source, text in rows:
            click.echo(f"  {name:<20} {source}: {text}")


@cli.command("metrics")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--metric", "metric_names", multiple=True, help="Only these metrics (repeatable).")
@click.option("--percent", is_flag=True, help="Confidences are percentages in [0, 100].")
@click.option("--ci/--no-ci", default=True, help="Bootstrap 95% confidence intervals.")
@click.option("--resamples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Bootstrap resamples.")
@click.option("--seed", default=0, show_default=True, help="Bootstrap seed.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="User TOML config.")
@click.option("-p", "overrides", multiple=True, metavar="metric.KEY=VALUE", help="Override.")
def metrics_command(
    file: Path,
    as_json: bool,
    metric_names: tuple[str, ...],
    percent: bool,
    ci: bool,
    resamples: int,
    seed: int,
    config_file: Path | None,
    overrides: tuple[str, ...],
) -> None:
    """Calibration metrics of a JSON Lines FILE with `confidence` and `correct` per line.

    Every registered metric (or those named with --metric), each with a seeded 95%
    percentile-bootstrap interval; hle_calib_err also in HLE's printed form (hle_percent).
    A metric that fails (raises, or returns NaN, inf or no number) is n/a with its error and
    a warning on stderr, and the others are computed; one asked for with --metric is an error.
    Select one of two metrics of one name as DISTRIBUTION:NAME (see `harness list`).
    """
    from harness.machinery import registry
    from harness.machinery.config import Config
    from harness.statistics.metric_input import read_confidence_file
    from harness.statistics.scoring import score

    config = Config.load(config_file, overrides)
    selected = metric_names or tuple(registry.names("metric"))
    config.check_overrides({"metric": [(n, registry.get("metric", n).parameters()) for n in selected]},
                           registry.get)
    for name in selected:  # every parameter value checked against its type before any work
        registry.resolve_params("metric", name, config)
    confidence, correct = read_confidence_file(file, percent=percent)
    result = score(
        confidence, correct, metric_names or None, config,
        resamples=resamples if ci else 0, seed=seed,
    )
    for error in result.get("failed", {}).values():
        click.echo(f"harness: warning: {_one_line(error)}", err=True)
    if as_json:  # one object whose keys are the metric names
        extra = {"n": result["n"]}
        if result.get("bootstrap"):
            extra.update(resamples=resamples, seed=seed)
        entries = {name: _json_safe({**entry, **extra}) for name, entry in result["metrics"].items()}
        click.echo(json.dumps(entries, indent=2, allow_nan=False))
        return
    where = f", 95% CI from {resamples} bootstrap resamples (seed {seed})" if result.get("bootstrap") else ""
    click.echo(f"{file}: n={len(confidence)}{where}")
    for name, entry in result["metrics"].items():
        click.echo("  " + _format_metric(name, entry))


def _json_safe(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without NaN or inf (strict JSON): such a number becomes null, with an error."""
    import math

    out = dict(entry)
    for key, value in entry.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None
            out["error"] = out.get("error") or f"{key} is {value}, not a finite number"
        elif isinstance(value, list) and any(isinstance(v, float) and not math.isfinite(v) for v in value):
            out[key] = None
    return out


def _format_metric(name: str, entry: dict[str, Any]) -> str:
    from harness.reporting.numbers import fmt, number

    value = entry.get("value")
    if value is None:
        return f"{name:<22} n/a ({entry.get('error')})"
    if entry.get("error"):  # computed, but its bootstrap failed
        return f"{name:<22} {number(value)}  (no CI: {entry['error']})"
    text = f"{name:<22} {fmt(entry)}"
    extras = {k: v for k, v in entry.items() if k not in ("value", "ci", "error")}
    if extras:
        text += "  (" + ", ".join(f"{k} {v:g}" for k, v in extras.items()) + ")"
    return text


def _experiment_options(command: Any) -> Any:
    """The options `harness run` and `harness sweep` share (all but extractor, seed and out)."""
    options = [
        click.option("--task", default="facts", show_default=True, help="Task name."),
        click.option("--eval-task", default=None,
                     help="Train on --task's training split, evaluate on this task (its parameters: "
                          "-p eval_task.KEY=VALUE)."),
        click.option("--model", default="tiny", show_default=True, help="Hub id, local folder, or `tiny`."),
        click.option("--backend", default="hf", show_default=True, help="Generation backend."),
        click.option("--judge", default="mock", show_default=True, help="Judge."),
        click.option("--trainer", "trainers", multiple=True,
                     help="Trainer (repeatable); none: evaluate only."),
        click.option("--calibrator", "calibrators", multiple=True,
                     help="Post-hoc calibrator, cross-fitted on the held-out answers by group (evaluating "
                          "only: on every answer; repeatable; default: temperature, isotonic; `none`: no "
                          "calibrator rows)."),
        click.option("--calibration-size", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
                     default=None, help="Fit the calibrators once on this share of the held-out (evaluating "
                                        "only: selected) questions, by group, instead; every figure is "
                                        "measured on the rest."),
        click.option("--bootstrap", type=click.Choice(["group", "example"]), default="group",
                     show_default=True, help="Resample groups (e.g. entities) or examples for every CI."),
        click.option("--metric", "metrics", multiple=True, help="Metric (repeatable); default: all."),
        click.option("--limit", type=click.IntRange(min=1), default=None, help="Use N examples (seeded)."),
        click.option("--test-size", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
                     default=0.5, show_default=True, help="Held-out fraction when training."),
        click.option("--eval-on-train", is_flag=True,
                     help="Re-evaluate on the training questions (not held-out)."),
        click.option("--config", "config_file", type=click.Path(path_type=Path), help="User TOML config."),
        click.option("-p", "overrides", multiple=True, metavar="KIND.KEY=VALUE",
                     help="Override a parameter."),
        click.option("--force", is_flag=True, help="Redo every stage."),
        click.option("--no-cache", is_flag=True, help="Bypass the persistent judge cache."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command("run")
@click.option("--extractor", multiple=True, default=("logprob",), show_default=True,
              help="Confidence extractor (repeatable: the first is the main one, every other is reported "
                   "and compared with it on the same questions).")
@click.option("--seed", default=0, show_default=True, help="Seed of selection, split and training.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Run folder.")
@_experiment_options
@click.option("--threads", type=int, default=None,
              help="Torch threads (default: OMP_NUM_THREADS, else the cores free now; in the manifest).")
@click.option("--max-judge-cost", type=click.FloatRange(min=0, min_open=True), default=None, metavar="USD",
              help="Stop judging once a paid judge's spend would pass USD (resumable; its estimate is "
                   "printed first). Same as -p judge.max_cost=USD.")
def run_command(max_judge_cost: float | None, **options: Any) -> None:
    """Run the experiment: baseline, optional training, held-out evaluation, report."""
    from harness.running.experiment import ExperimentSpec, run_experiment

    if max_judge_cost is not None:
        options["overrides"] = (*options["overrides"], f"judge.max_cost={max_judge_cost}")
    spec = ExperimentSpec.from_cli(**options)
    run_experiment(spec)


@cli.command("sweep")
@click.argument("folder", required=False, type=click.Path(path_type=Path))
@click.option("--seeds", default="0", show_default=True, help="Seeds: a range (0-9) or a list (0,3,7).")
@click.option("--extractor", "extractors", multiple=True,
              help="Confidence extractor (repeatable: an axis of the grid; default logprob).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/sweep"), show_default=True,
              help="Sweep folder (one run folder per cell under cells/).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Cells run at once (local: processes, each with its share of the CPUs and GPUs; "
                   "submitit: the Slurm array's parallelism).")
@click.option("--executor", type=click.Choice(["local", "submitit", "ray"]), default="local",
              show_default=True, help="What runs the cells: this machine, submitit (Slurm) or Ray.")
@click.option("-x", "executor_options", multiple=True, metavar="KEY=VALUE",
              help="An option of the executor (submitit: timeout_min=240, slurm_partition=gpu…; "
                   "ray: num_gpus=0.5, address=auto…), checked before anything is submitted.")
@click.option("--plan", "plan_only", is_flag=True, help="Only write the grid (plan.json) and exit.")
@click.option("--cell", type=click.IntRange(min=0), default=None,
              help="Run cell K (from 0) of the sweep planned in FOLDER (a job array's index).")
@click.option("--collect", is_flag=True,
              help="Write sweep.json/sweep.md of FOLDER from its complete cells; name the missing ones.")
@click.option("--submit-only", is_flag=True, help="Exit once the cells are submitted (submitit).")
@_experiment_options
def sweep_command(folder: Path | None, seeds: str, extractors: tuple[str, ...], out: Path, jobs: int,
                  executor: str, executor_options: tuple[str, ...], plan_only: bool, cell: int | None,
                  collect: bool, submit_only: bool, **options: Any) -> None:
    """Run a grid of ordinary runs and summarize it across seeds: sweep.md and sweep.json.

    The grid: the seeds, the extractors, and every -p given several values
    (-p trainer.implicit.lam=4,8,16). Trainers and calibrators are strategies within each cell.
    A model name may hold {seed} (--model tiny-{seed}). A killed sweep resumes.

    On a cluster: --plan writes plan.json; `harness sweep FOLDER --cell K` runs cell K (a job
    array's index); `harness sweep FOLDER --collect` gathers whatever is complete."""
    from harness.running.sweep_command import sweep

    sweep(folder, seeds=seeds, extractors=extractors, out=out, jobs=jobs, executor=executor,
          executor_options=executor_options, plan_only=plan_only, cell=cell, collect=collect,
          submit_only=submit_only, options=options)


SHARE = click.FloatRange(0.0, 1.0, min_open=True, max_open=True)  # a probability strictly in (0, 1)
_allow_host_option = click.option(
    "--allow-host", "allow_hosts", multiple=True, metavar="NAME",
    help="Also answer requests for this Host name (repeatable; default: the bound address and localhost "
         "names only).")


def _bundle_options(command: Any) -> Any:
    """The options `harness predict` and `harness serve` share: the threshold and the backend."""
    options = [
        click.option("--risk", "alpha", type=SHARE, default=None,
                     help="Choose the threshold again at this risk level, on the bundle's threshold-set "
                          "answers."),
        click.option("--delta", type=SHARE, default=None,
                     help="With --risk: the guarantee's failure probability (default: the bundle's)."),
        click.option("--backend", default=None,
                     help="Another backend than the bundle's (its parameters: -p)."),
        click.option("--model", default=None,
                     help="Another model name for that backend (e.g. a served model's)."),
        click.option("-p", "overrides", multiple=True, metavar="KIND.KEY=VALUE",
                     help="Override a parameter."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command("view")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write report.html (default: in the first folder).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to serve on (0: any free port).")
@click.option("--serve/--no-serve", default=True, help="Serve the page, or only write it.")
@_allow_host_option
def view_command(runs: tuple[Path, ...], out: Path | None, host: str, port: int, serve: bool,
                 allow_hosts: tuple[str, ...]) -> None:
    """Write a self-contained report.html of run or sweep folders and serve it on 127.0.0.1.

    Metric tables with CIs, verdicts, reliability diagrams (click a bin to list its answers)
    and a per-example browser; a sweep folder shows its table and links to its cells."""
    from harness.reporting.view import write_page

    page = write_page(list(runs), out)
    click.echo(f"wrote {page}")
    if serve:
        from harness.reporting.view_server import serve_page

        serve_page(page, host=host, port=port, allow_hosts=allow_hosts, announce=click.echo)


@cli.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--metric", "metrics", multiple=True,
              help="Only these metric columns, in order (repeatable; default: the runs' report.columns).")
def compare_command(runs: tuple[Path, ...], as_json: bool, metrics: tuple[str, ...]) -> None:
    """Comparison table of the metrics of one or more run folders."""
    from harness.reporting.compare import compare_runs

    click.echo(compare_runs(list(runs), as_json=as_json, metrics=metrics))


@cli.command("check")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="TOML file whose [criteria] table sets thresholds (over the installed registry.toml).")
@click.option("--metric", default=None,
              help="The calibration error that must fall (default debiased_calib_err).")
@click.option("--min-reduction", type=float, default=None, help="Min relative calibration-error drop.")
@click.option("--max-accuracy-drop", type=float, default=None, help="Max accuracy drop (fraction).")
@click.option("--min-confidence-std", type=float, default=None, help="Min std of the trained confidences.")
@click.option("--max-bin-share", type=float, default=None, help="Max share of confidences in one tenth.")
@click.option("--min-n", type=click.IntRange(min=1), default=None, help="Min paired examples (default 100).")
@click.option("--min-groups", type=click.IntRange(min=1), default=None,
              help="Min groups the bootstrap resamples, e.g. entities (default 30).")
@click.option("--coverage-tolerance", type=float, default=None,
              help="Max fall of the answered share (fraction, default 0.01).")
@click.option("--min-auroc-change", type=float, default=None,
              help="AUROC change allowed, at least (default -0.05; non-inferiority on the paired CI).")
@click.option("--point", is_flag=True, default=None,
              help="The seed's point reading: point estimates decide (labelled; not the default).")
@click.option("--strict/--no-strict", default=None,
              help="The old name of the interval reading, now the default: no effect; contradicts --point.")
@click.option("--allow-not-held-out", is_flag=True, default=None, help="Let an --eval-on-train run pass.")
@click.option("--require", "require", multiple=True,
              type=click.Choice(["beats_posthoc", "adds_to_posthoc", "risk"]),
              help="Also gate on a post-hoc verdict, or on risk (abstention at --risk-alpha; repeatable).")
@click.option("--risk-alpha", type=float, default=None,
              help="Abstention: error rate among answered questions, at most (default 0.1).")
@click.option("--risk-delta", type=float, default=None,
              help="Abstention: failure probability of that guarantee (default 0.1).")
@click.option("--bootstrap", type=click.Choice(["group", "example"]), default=None,
              help="Resampling unit (default: the run's).")
def check_command(run: Path, config_file: Path | None, bootstrap: str | None, require: tuple[str, ...],
                  **thresholds: Any) -> None:
    """Exit 0 when every verdict of every trained strategy of RUN passes; 1 when any fails or is
    inconclusive, naming which.

    Every verdict is recomputed from the run's per-example files with the thresholds in force
    (defaults, the installed registry.toml, --config, these options), never the run's own.
    Calibration, accuracy and discrimination are read from their paired 95% CIs (pass, fail or
    inconclusive); --point reads the point estimates instead."""
    from harness.reporting.check import check_run

    chosen = {k: v for k, v in thresholds.items() if v is not None}
    if require:
        chosen["require"] = list(require)
    ok, text = check_run(run, config_file=config_file, thresholds=chosen, bootstrap=bootstrap)
    click.echo(text)
    sys.exit(0 if ok else 1)


@cli.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--row", required=True, metavar='"MODEL + CALIBRATOR"',
              help='The row to ship, as the report names it, e.g. "baseline + isotonic".')
@click.option("--extractor", default=None, help="The row's extractor, when it has several.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The new bundle folder.")
@click.option("--risk", "alpha", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=None,
              help="Error rate allowed among answered questions (default: [criteria] risk_alpha, 0.1).")
@click.option("--delta", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=None,
              help="Probability that the guarantee fails (default: [criteria] risk_delta, 0.1).")
def export_command(run: Path, row: str, extractor: str | None, out: Path, alpha: float | None,
                   delta: float | None) -> None:
    """Write one row of RUN (a run made with --calibration-size) as a self-contained bundle: the model,
    extractor and backend, the fitted map as JSON and an abstention threshold with a risk guarantee."""
    from harness.using.export import export_run

    bundle = export_run(run, row, out, extractor=extractor, alpha=alpha, delta=delta)
    from harness.statistics.risk_control import ThresholdChoice

    click.echo(f"wrote {out}: {bundle['source']['row']} [{bundle['source']['extractor']}]; "
               f"{ThresholdChoice.from_dict(bundle['threshold']).describe()}")


@cli.command("predict")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("questions", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Answers, one JSON line per question (a rerun resumes it).")
@click.option("--task", default="jsonl", show_default=True,
              help="The task that reads QUESTIONS (its fields: -p task.KEY=VALUE).")
@_bundle_options
def predict_command(bundle: Path, questions: Path, out: Path, task: str, alpha: float | None,
                    delta: float | None, backend: str | None, model: str | None,
                    overrides: tuple[str, ...]) -> None:
    """Answer the questions of QUESTIONS with BUNDLE: per question its answer, raw and calibrated
    confidence and whether it abstains."""
    from harness.using.predict import predict

    counts = predict(bundle, questions, out, task=task, alpha=alpha, delta=delta, backend=backend,
                     model=model, overrides=overrides, progress=True)
    click.echo(f"wrote {out}: {counts['questions']} questions ({counts['resumed']} already there), "
               f"{counts['answered']} answered, {counts['abstained']} abstained; "
               f"{counts['threshold'].describe()}")


@cli.command("serve")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to serve on (0: any free port).")
@_allow_host_option
@_bundle_options
def serve_command(bundle: Path, host: str, port: int, **options: Any) -> None:
    """Serve BUNDLE as an OpenAI-compatible /v1/chat/completions: each answer with its calibrated
    confidence (the `calibration` field), and a refusal flagged `abstained` below the threshold."""
    from harness.using.serve import serve_bundle

    serve_bundle(bundle, host=host, port=port, announce=click.echo, **options)


# click >= 8.2 raises this for a group called without a command; older versions exit 0.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command and turn user errors into one line and exit 2."""
    try:
        cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("harness: aborted", err=True)
        sys.exit(130)
    except _NO_ARGS_IS_HELP as exc:  # bare `harness`: the help, as click shows it
        exc.show()
        sys.exit(2)
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        click.echo(f"harness: error: {_one_line(exc.format_message())}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:  # e.g. click.FileError
        click.echo(f"harness: error: {_one_line(exc.format_message())}", err=True)
        sys.exit(2)
    except HarnessError as exc:
        click.echo(f"harness: error: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a file of the run folder or the cache: the path and the reason
        if exc.filename is None:
            raise
        click.echo(f"harness: error: {exc.filename}: {_one_line(exc.strerror or str(exc))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("harness: interrupted", err=True)
        sys.exit(130)


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    main()
