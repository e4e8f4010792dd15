"""Running: an experiment from its spec to a finished run folder, and sweeps of them.

``experiment`` (the orchestrator), ``stages`` (generate, extract, judge, calibrate; the
``serve`` stage hands a trained model to a backend), ``manifest``, ``runlock`` (one writer per
run folder), ``distributed`` and ``threads`` (processes and CPU threads), ``tracking``
(TensorBoard / wandb curves of training), ``sweep`` (a grid of experiments, resumable). The top of
the data flow: it may import every other subpackage, and none imports it.
"""
