"""The report in a real browser: headless Chromium opens index.html from disk, every chart
loads, and the console stays clean."""

import shutil
from pathlib import Path

import pytest
from helpers import CHROMEDRIVER, CHROMIUM, chromium_options
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from bench.cli import main

REAL = Path(__file__).resolve().parents[1] / "data" / "quick_small.json"
PAGE_TIMEOUT_S = 30


@pytest.fixture
def browser(tmp_path):
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists() and not shutil.which(binary.name):
            pytest.fail(
                f"{binary} is missing: install chromium and chromium-driver (scripts/test does)"
            )
    options = chromium_options(tmp_path / "profile")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()  # stops chromedriver and its Chromium


def test_index_html_shows_every_chart_without_console_errors(tmp_path, browser):
    out_dir = tmp_path / "report"
    assert main(["report", str(REAL), "-o", str(out_dir)]) == 0
    browser.get((out_dir / "index.html").as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(img => "
        "[img.getAttribute('src'), img.complete, img.naturalWidth]);"
    )
    assert len(images) == 8
    for src, complete, width in images:
        assert complete and width > 0, f"{src} did not load"
    assert browser.title.startswith("chanbench report: quick")
    headings = [h.text for h in browser.find_elements("tag name", "h2")]
    assert headings == ["Summary", "Methodology", "Versions", "Charts", "Warnings", "Reproduce"]
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
