"""Reporting: what a finished run folder says to a person.

``report`` (report.json and report.md, ``harness check`` and ``harness compare``), ``diagrams``
(reliability diagrams), ``sweep_summary`` (a sweep's table across seeds), ``view`` with
``view_assets`` (the HTML page of ``harness view``) and ``view_server`` (serving that page
locally). Imports nothing from running.
"""
