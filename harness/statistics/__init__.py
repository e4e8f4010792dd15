"""Statistics and verdicts: from a run's outcomes to numbers with intervals and pass/fail.

``outcomes`` (one row per judged answer), ``metric_input`` and ``scoring`` (metrics on them),
``bootstrap`` (intervals), ``splits`` (seeded selection and group folds), ``calibration`` with
``posthoc`` and ``posthoc_bar`` (fitting calibrators, cross-fitted post-hoc maps, the bar a trained
model must clear), ``criteria`` and ``assessment`` (verdicts), ``simpleqa_metrics`` (SimpleQA's
grade metrics), ``seed_statistics`` and ``seed_replicates`` (across seeds). Imports neither running
nor reporting.
"""
