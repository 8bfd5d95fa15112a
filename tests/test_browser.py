"""A real browser (Playwright + Debian chromium) drives the page: pick, type, read, look, and no XSS."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from helpers import ROOT, AppServer
from rnn_demo.checkpoint import discover_checkpoints

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHIPPED = [f.name for f in discover_checkpoints(ROOT / "checkpoints")]
# CI installs chromium and sets this, so a missing browser fails there instead of skipping.
if os.environ.get("RNN_DEMO_REQUIRE_BROWSER") == "1" and not CHROMIUM.exists():
    raise RuntimeError("RNN_DEMO_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints under checkpoints/"),
]
INJECTED = ('<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> '
            "Stocks rally as chipmakers report record sales")


@pytest.fixture(scope="module")
def server():
    s = AppServer()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _plot_ready(page, elem_id: str, timeout: int = 60_000) -> None:
    page.wait_for_selector(f"#{elem_id} .js-plotly-plot .main-svg", timeout=timeout)


def test_pick_type_read_see_and_nothing_executes(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server.url)
    _plot_ready(page, "trajectory")  # the first example is read on load

    model = "gru" if "gru" in SHIPPED else SHIPPED[0]
    page.click("#model input")
    page.get_by_role("option", name=model, exact=True).first.click()
    page.wait_for_function(f"document.querySelector('#model-info').innerText.startsWith('{model}:')")

    page.fill("#headlines textarea", INJECTED + "\nOlympic champion announces retirement")
    page.click("#read")
    page.wait_for_function("document.querySelector('#table') && "
                           "document.querySelector('#table').innerText.includes('Olympic champion')", timeout=60_000)
    label = page.inner_text("#answer")
    assert any(c in label for c in ("World", "Sports", "Business", "Sci/Tech")) and "%" in label
    table = page.inner_text("#table")
    assert "<script>window.__xss=2</script>" in table  # shown as text ...
    assert page.evaluate("window.__xss") is None and not dialogs  # ... and never executed
    assert page.locator("#table img").count() == 0

    _plot_ready(page, "trajectory")
    # the path layer: two headlines' paths and their start/end marks (the cloud is on a canvas below)
    assert page.locator("#reader-path .scatterlayer .trace").count() >= 4
    assert page.locator("#stepper-box img").count() == 0 and "<img" in page.inner_text("#step-words")
    assert page.locator("#prefix .scatterlayer .trace").count() == 4  # one line per class
    page.locator("#cells-section").get_by_role("button").first.click()  # heatmaps are drawn once shown
    _plot_ready(page, "internals")
    assert page.locator("#internals .hm, #internals .heatmaplayer image, #internals image").count() > 0
    assert "stocks" in page.inner_text("#importance")
    assert re.search(r"[+-]\d+\.\d", page.inner_text("#importance"))  # each word's number, not only a colour
    page.screenshot(path=str(tmp_path / "laptop.png"), full_page=True)
    assert (tmp_path / "laptop.png").stat().st_size > 10_000

    page.set_viewport_size({"width": 390, "height": 844})  # phone width: nothing wider than the screen
    page.wait_for_timeout(500)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 2, f"page is {overflow}px wider than a phone screen"
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    page.close()


def test_compare_and_packing_tabs_render(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.url)
    _plot_ready(page, "trajectory")
    page.get_by_role("tab", name="Compare all models").click()
    page.click("#compare")
    _plot_ready(page, "compare-bars")
    assert page.locator("#compare-bars .barlayer .trace").count() == 4
    _plot_ready(page, "compare-paths")
    if {"lesson-lstm", "lesson-lstm-packed"} <= set(SHIPPED):
        page.get_by_role("tab", name="Why packing matters").click()
        _plot_ready(page, "packing-plot")
        assert "lesson-lstm-packed" in page.inner_text("#packing-plot")
    page.close()


def _open_tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
    else:  # phone width: tabs after the first sit in an overflow menu
        page.locator(".overflow-menu button").first.click()
        page.locator(".overflow-dropdown button", has_text=name).first.click()


@pytest.mark.parametrize("width", [1366, 390])
def test_lesson_tabs_render_with_their_numbers(server, browser, width):
    """The three lesson views: word order (reshuffle changes the seed), memory curves, batching table."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(server.url)
    _plot_ready(page, "trajectory")
    _open_tab(page, "Does word order matter?")
    _plot_ready(page, "order-plot")
    assert page.locator("#order-plot .barlayer .trace").count() == 3  # as written, reversed, shuffled
    page.click("#order-shuffle")
    page.wait_for_function("document.querySelector('#order-md').innerText.includes('(seed 1)')", timeout=60_000)
    assert "test accuracy (%)" in page.inner_text("#order-md")
    recurrent = [n for n in SHIPPED if n != "bag-of-embeddings"]
    if recurrent:
        _open_tab(page, "How far back does it remember?")
        _plot_ready(page, "memory-plot")
        _plot_ready(page, "memory-curves")
        assert recurrent[0] in page.inner_text("#memory-plot")
    if {"lesson-lstm", "lesson-lstm-packed"} <= set(SHIPPED):
        _open_tab(page, "Why packing matters")
        _plot_ready(page, "batching-plot")
        assert "k = 0" in page.inner_text("#packing-table")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 2, f"page is {overflow}px wider than the {width}px screen"
    page.close()
