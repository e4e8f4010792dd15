"""`harness view`: the self-contained page, escaping of untrusted text, the server's 404s and bad input.
(The page in a real browser is tested in test_view_browser.py.)"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
from pathlib import Path

import pytest
from view_fixtures import PAYLOAD_SCRIPT, QUESTIONS, hostile_run, with_a_trainer
from web_helpers import request

from harness import cli
from harness.errors import InputError
from harness.reporting.view import run_data, write_page
from harness.reporting.view_server import make_server


@pytest.fixture(scope="module")
def run_folder(tiny_lm_path, tmp_path_factory) -> Path:
    return hostile_run(tiny_lm_path, tmp_path_factory.mktemp("view") / "run")


def _data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="harness-data">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))


def test_the_page_is_self_contained_and_holds_every_answer(run_folder):
    page = write_page([run_folder], run_folder / "page.html")
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    assert not re.search(r"<(link|img|iframe|script)[^>]*\s(src|href)=", html)  # nothing to fetch
    data = _data(html)["runs"][0]
    assert data["examples"]["q3"][:2] == [QUESTIONS[3][1], QUESTIONS[3][2]]
    assert [r["title"] for r in data["rows"]] == ["baseline"]
    assert len(data["rows"][0]["items"]) == len(QUESTIONS)
    answer, reply, _ = data["stages"]["baseline/logprob/all"]["q0"]
    assert PAYLOAD_SCRIPT in answer and PAYLOAD_SCRIPT in reply
    assert PAYLOAD_SCRIPT in data["examples"]["q0"][0]
    assert "Metrics (95% bootstrap CIs)" in html and "accuracy" in html


def test_untrusted_text_never_appears_as_markup(run_folder):
    html = write_page([run_folder], run_folder / "page.html").read_text()
    assert html.count("<script") == 2  # the page's data and its code, nothing from the data
    assert "<img" not in html and "onerror=\"window" not in html
    assert "\\u003cscript>" in html or "\\u003cscript\\u003e" in html  # there, as inert JSON


def test_run_data_reads_the_rows_stage_files(run_folder):
    data = run_data(run_folder)
    item = data["rows"][0]["items"][0]
    assert item[0] == "q0" and item[2] in ("correct", "incorrect", "not_attempted")


@pytest.fixture()
def server(run_folder):
    page = write_page([run_folder])
    srv = make_server(page, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(srv, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    conn.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)
    conn.endheaders()
    response = conn.getresponse()
    return response.status, response.read()


def test_the_server_binds_loopback_and_serves_only_the_page(server, run_folder):
    assert server.server_address[0] == "127.0.0.1"
    status, body = _get(server, "/")
    assert status == 200 and body == (run_folder / "report.html").read_bytes()
    assert _get(server, "/report.html")[0] == 200
    for path in ["/report.json", "/manifest.json", "/../report.json", "/..%2freport.json",
                 "/%2e%2e/%2e%2e/etc/passwd", "/../../../../etc/passwd", "//etc/passwd",
                 "/etc/passwd", "/baseline/logprob/all/judgments.jsonl", "/report.html/..", "/.%2e/"]:
        assert _get(server, path)[0] == 404, path


def test_view_of_a_folder_that_is_no_run_is_one_line_and_exit_2(tmp_path, capsys):
    for folder in (tmp_path, tmp_path / "missing"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["view", str(folder), "--no-serve"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "not a run folder" in err or "no such run" in err
        assert err.count("\n") == 1


def test_a_port_in_use_is_one_line_and_exit_2(run_folder, capsys):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(InputError, match="in use"):
            make_server(run_folder / "report.html" if (run_folder / "report.html").exists()
                        else write_page([run_folder]), "127.0.0.1", taken.getsockname()[1])
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["view", str(run_folder), "--port", str(taken.getsockname()[1])])
        assert exit_info.value.code == 2
        assert "is in use" in capsys.readouterr().err
    finally:
        taken.close()


def test_a_sweep_page_shows_its_table_and_links_its_cells(tiny_lm_path, tmp_path):
    from test_sweep import _spec
    from view_fixtures import write_qa

    from harness.running.sweep import run_sweep

    out = tmp_path / "sweep"
    run_sweep(_spec(tiny_lm_path, write_qa(tmp_path / "qa.jsonl")), out, seeds=[0, 1])
    html = write_page([out]).read_text()
    assert "Sweep " in html and "mean over seeds" in html and "every cell, pooled" in html
    pooled = _data(html)["runs"][0]
    assert [r["title"] for r in pooled["rows"]] == ["baseline"]
    assert len(pooled["rows"][0]["items"]) == 2 * len(QUESTIONS)  # both seeds' answers
    first = pooled["rows"][0]["items"][0]
    assert first[0] == "seed0/q0" and first[5] == "seed0/baseline/logprob/all"
    assert pooled["stages"][first[5]][first[0]][0] is not None
    assert 'href="cells/seed0/report.html"' in html and (out / "cells" / "seed1" / "report.html").is_file()
    from harness.reporting.view_server import routes

    assert set(routes(out / "report.html")) == {"/", "/report.html", "/cells/seed0/report.html",
                                                "/cells/seed1/report.html"}
    elsewhere = write_page([out], tmp_path / "pages" / "sweep.html").read_text()
    assert 'href="../sweep/cells/seed0/report.html"' in elsewhere


@pytest.fixture(scope="module")
def judged_run(run_folder, tmp_path_factory) -> Path:
    return with_a_trainer(run_folder, tmp_path_factory.mktemp("judged") / "run")


def test_the_page_opens_with_the_verdicts_at_a_glance(judged_run):
    from harness.reporting.view import glance

    html = write_page([judged_run]).read_text()
    report = json.loads((judged_run / "report.json").read_text())
    seen = glance(report)
    [trainer] = seen["trainers"]
    criteria = report["comparisons"][0]["criteria"]
    assert trainer["criteria"][criteria[2]["name"]]["outcome"] == "inconclusive"
    derived = "pass" if criteria[0]["passed"] else "fail"  # no outcome stored: from passed
    assert trainer["criteria"][criteria[0]["name"]]["outcome"] == derived
    assert trainer["beats_posthoc"]["against"] == "baseline[logprob] + isotonic"
    # the best row is named by the Brier score (calibration error alone ranks a constant first)
    values = {(r["label"], r["calibrator"]): r["metrics"]["brier"]["value"] for r in report["rows"]}
    best = min(values, key=values.get)
    assert seen["best"]["title"] == best[0] + (f" + {best[1]}" if best[1] else "")
    cis = {(r["label"], r["calibrator"]): r["metrics"]["brier"]["ci"] for r in report["rows"]}
    overlapping = sum(1 for k, ci in cis.items() if k != best and ci[0] <= cis[best][1])
    assert seen["best"]["overlapping"] == overlapping
    # verdicts first: before the run's note, its metrics and its diagrams
    at = html.index("Verdicts at a glance")
    assert at < html.index("Metrics (95% bootstrap CIs)") < html.index("Reliability diagrams")
    glance_html = html[at:html.index("</div>", at)]
    assert "implicit (logprob)" in glance_html and '<td class="inconclusive"' in glance_html
    assert "vs baseline[logprob] + isotonic (reported)" in glance_html
    assert f"rank a constant first): <b>{seen['best']['title']}</b>" in glance_html
    assert "Decided by: paired 95% bootstrap CIs" in glance_html  # its verdicts carry an outcome
    assert "min_reduction = 0.1" in glance_html and "min_n = 10" in glance_html


def test_the_page_shows_what_report_md_has(judged_run):
    html = write_page([judged_run]).read_text()
    report = json.loads((judged_run / "report.json").read_text())
    retention = report["comparisons"][0]["retention"]
    for section in ("SimpleQA's metrics (shares of the judged examples)", "Counted, never hidden",
                    "Post-hoc calibrators: fitted parameters", "slope 1.25",
                    f"Retention: {retention['kept']}/{retention['n']}", "not attempted = incorrect",
                    "answered at risk &alpha; (realised risk)", "<td>risk</td>"):
        assert section in html, section
    counts = report["rows"][0]["counts"]
    assert f"<td>{counts['examples']}</td><td>{counts['judge_errors']}</td>" in html


def test_a_clicked_bins_answers_appear_beside_the_diagram_with_the_baselines(judged_run):
    html = write_page([judged_run]).read_text()
    # the list starts in the diagrams' flow; a click moves it to just after the clicked diagram
    assert '<div class="diagrams" data-run="0"><div class="bin-list" data-run="0" hidden></div></div>' in html
    assert "<th>baseline, same question</th>" in html
    js = html[html.rindex("<script>"):]
    assert "fig.after(list)" in js and "baselineText" in js
    assert '"bin-count"' in js and '"accuracy in the bin"' in js


def test_the_page_says_which_reading_decided():
    from harness.reporting.view import reading

    old = {"thresholds": {"strict": False}, "comparisons": [{"criteria": [{"name": "a", "passed": True}]}]}
    assert reading(old).startswith("point estimates (made before verdicts were three-valued")
    strict = {**old, "thresholds": {"strict": True}}
    assert reading(strict).startswith("the paired 95% CI's unfavourable bound")
    assert reading({**old, "thresholds": {"point": True}}).startswith("point estimates (--point)")
    assert reading({**old, "thresholds": {"reading": "interval"}}) == "interval"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", ""])
def test_another_host_gets_a_one_line_403_and_not_the_page(server, host):
    status, _, body = request(server.server_address[1], "GET", "/", host=host)
    assert status == 403 and body.count(b"\n") == 1 and b"<html" not in body.lower()


def test_the_local_names_are_served_and_allow_host_adds_one(run_folder):
    page = write_page([run_folder])
    srv = make_server(page, "127.0.0.1", 0, allow_hosts=("calibration.internal",))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "calibration.internal"):
            assert request(port, "GET", "/", host=host)[0] == 200, host
        assert request(port, "GET", "/", host="other.internal")[0] == 403
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"])
def test_other_methods_get_405_with_allow_not_pythons_501_page(server, method):
    status, headers, body = request(server.server_address[1], method, "/", body=b"{}")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert body.count(b"\n") == 1 and method.encode() in body


def test_head_is_served_without_a_body(server):
    status, headers, body = request(server.server_address[1], "HEAD", "/")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000


def test_a_served_page_that_disappears_is_a_404_not_a_traceback(server, run_folder, capfd):
    (run_folder / "report.html").unlink()
    status, _, body = request(server.server_address[1], "GET", "/")
    assert status == 404 and body == b"not found\n"
    assert "Traceback" not in capfd.readouterr().err
