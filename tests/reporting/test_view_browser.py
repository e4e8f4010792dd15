"""`harness view` in a real browser: headless Chromium (Debian's chromium and chromium-driver).

Starts `harness view` on a finished small run, clicks a reliability-diagram bin, checks that the
listed answers are that bin's, that the hostile question, answer and judge reply show as text and
never run, and saves a screenshot (into $HARNESS_SCREENSHOT_DIR when set, to look at)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from view_fixtures import PAYLOAD_SCRIPT, hostile_run, with_a_trainer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (CHROMIUM and DRIVER):
    pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)


def _serve(folder: Path):
    """``harness view FOLDER --port 0`` in a process; yields the address it serves on."""
    process = subprocess.Popen([sys.executable, "-m", "harness.cli", "view", str(folder), "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            if line.startswith("serving "):
                yield line.split()[1]
                break
        else:
            pytest.fail("harness view did not start serving")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def served(tiny_lm_path, tmp_path):
    yield from _serve(hostile_run(tiny_lm_path, tmp_path / "run"))


@pytest.fixture()
def served_judged(tiny_lm_path, tmp_path):
    yield from _serve(with_a_trainer(hostile_run(tiny_lm_path, tmp_path / "run"), tmp_path / "judged"))


@pytest.fixture()
def served_sweep(tiny_lm_path, tmp_path):
    from test_sweep import _spec
    from view_fixtures import write_qa

    from harness.running.sweep import run_sweep

    run_sweep(_spec(tiny_lm_path, write_qa(tmp_path / "qa.jsonl")), tmp_path / "sweep", seeds=[0, 1])
    yield from _serve(tmp_path / "sweep")


@pytest.fixture()
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _screenshot(driver, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HARNESS_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    driver.save_screenshot(str(path))
    return path


def test_clicking_a_bin_lists_that_bins_answers_and_nothing_hostile_runs(served, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(served)
    assert browser.find_element(By.CSS_SELECTOR, "table.metrics").is_displayed()
    bars = browser.find_elements(By.CSS_SELECTOR, ".diagram rect.bin-hit")
    assert len(bars) == 10
    counts = browser.execute_script(
        "const run = JSON.parse(document.getElementById('harness-data').textContent).runs[0];"
        "const n = Array(10).fill(0);"
        "for (const it of run.rows[0].items) if (it[3] !== null) n[Math.min(Math.floor(it[3] * 10), 9)]++;"
        "return n;")
    fullest = max(range(10), key=lambda k: counts[k])
    bars[fullest].click()
    listed = browser.find_elements(By.CSS_SELECTOR, ".bin-list li.bin-answer")
    assert len(listed) == counts[fullest] > 0
    for item in listed:
        confidence = float(item.get_attribute("data-confidence"))
        assert fullest / 10 <= confidence < (fullest + 1) / 10 or fullest == 9 and confidence <= 1.0
    assert browser.execute_script("return window.__pwned === undefined") is True
    browser.find_element(By.CSS_SELECTOR, ".f-text").send_keys("item 0?")
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "table.examples tr.example td")]
    assert any(PAYLOAD_SCRIPT in c for c in cells), cells[:8]  # shown as text
    assert any(PAYLOAD_SCRIPT in c for c in cells if c.startswith(("<script", "\"><img")))
    assert browser.find_elements(By.CSS_SELECTOR, "table.examples img") == []
    assert browser.execute_script("return window.__pwned === undefined") is True
    browser.find_element(By.CSS_SELECTOR, ".f-text").clear()
    shot = _screenshot(browser, "harness-view-run.png", tmp_path)
    assert shot.stat().st_size > 10_000


def test_a_sweep_page_shows_its_tables_a_diagram_and_opens_its_cells(served_sweep, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(served_sweep)
    heading = browser.find_element(By.CSS_SELECTOR, "section.sweep h2").text
    assert heading.startswith("Sweep ")
    cells = browser.find_elements(By.CSS_SELECTOR, "section.sweep table.metrics tbody tr td")
    assert cells[1].text == "baseline" and cells[3].text == "2"  # two seeds in the mean
    assert len(browser.find_elements(By.CSS_SELECTOR, ".diagram svg")) == 1
    shot = _screenshot(browser, "harness-view-sweep.png", tmp_path)
    assert shot.stat().st_size > 10_000
    browser.find_element(By.LINK_TEXT, "seed1").click()
    assert browser.current_url.endswith("/cells/seed1/report.html")
    assert browser.find_element(By.CSS_SELECTOR, "section.run h2").text.startswith("jsonl on")


def test_a_bins_answers_show_beside_its_diagram_with_the_baselines_and_verdicts_come_first(
        served_judged, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(served_judged)
    glance = browser.find_element(By.CSS_SELECTOR, "table.verdicts")
    assert glance.location["y"] < browser.find_element(By.CSS_SELECTOR, "table.metrics").location["y"]
    assert "inconclusive" in glance.text and "vs baseline[logprob] + isotonic" in glance.text
    figures = browser.find_elements(By.CSS_SELECTOR, ".diagram")
    trained = next(f for f in figures
                   if f.find_element(By.TAG_NAME, "figcaption").text.startswith("implicit"))
    counts = [t.text for t in trained.find_elements(By.CSS_SELECTOR, "text.bin-count")]
    assert len(counts) == 10 and sum(map(int, counts)) > 0
    assert {t.text for t in trained.find_elements(By.CSS_SELECTOR, "text.axis-title")} >= {
        "confidence (bins of 0.1)", "accuracy in the bin"}
    fullest = max(range(10), key=lambda k: int(counts[k]))
    trained.find_elements(By.CSS_SELECTOR, "rect.bin-hit")[fullest].click()
    listing = browser.find_element(By.CSS_SELECTOR, ".bin-list")
    answers = listing.find_elements(By.CSS_SELECTOR, "li.bin-answer")
    assert len(answers) == int(counts[fullest])
    # where the eye is: right beside the clicked diagram (or just under it when its line is full)
    box, at = trained.rect, listing.rect
    beside = at["x"] >= box["x"] + box["width"] - 1 and abs(at["y"] - box["y"]) < 40
    under = 0 <= at["y"] - (box["y"] + box["height"]) < 40
    assert beside or under, (box, at)
    baseline = [a.find_element(By.CSS_SELECTOR, ".baseline-answer").text for a in answers]
    assert all(b.startswith("baseline: ") for b in baseline)
    assert browser.execute_script("return window.__pwned === undefined") is True
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", listing)
    shot = _screenshot(browser, "harness-view-judged-bin.png", tmp_path)
    browser.execute_script("window.scrollTo(0, 0)")
    assert _screenshot(browser, "harness-view-judged.png", tmp_path).stat().st_size > shot.stat().st_size / 10
