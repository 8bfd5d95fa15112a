"""A lesson page embedding the app, in Chromium: ?embed=1 in frames of 900×700 and 390×844, the language
switch inside an iframe, and the widget at its own route from a <gradio-app> on another page."""
from __future__ import annotations

import http.server
import re
import threading
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from helpers import ROOT, AppServer
from test_browser import SHIPPED, browser, pytestmark  # noqa: F401  (same skips and fixtures)

HEADLINE = "Apple and Microsoft report record profits"


@pytest.fixture(scope="module")
def widget_dir(tmp_path_factory) -> Path:
    """A stand-in widget build (what the routes serve; the widget itself is tested in test_web.py)."""
    folder = tmp_path_factory.mktemp("widget")
    (folder / "index.html").write_text("<!doctype html><title>widget</title><main id='widget'>widget</main>")
    (folder / "site.json").write_text("{}")
    return folder


@pytest.fixture(scope="module")
def app(widget_dir):
    s = AppServer(env={"RNN_DEMO_WIDGET": str(widget_dir)})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """Another origin (another port) serving lesson pages written by the tests."""
    folder = tmp_path_factory.mktemp("lesson")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(folder), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def _frame_page(browser, host, name: str, html: str, width: int, height: int):
    folder, url = host
    (folder / name).write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": height}, is_mobile=width < 500, has_touch=width < 500)
    page.goto(url + name)
    return page


def _iframe(src: str, width: int, height: int) -> str:
    return (f"<!doctype html><meta name=viewport content='width=device-width'><body style='margin:0'>"
            f"<iframe id=lesson src='{src}' width='{width}' height='{height}' style='border:0'></iframe>")


def _app_frame(page):
    frame = page.frame_locator("#lesson")
    handle = page.wait_for_selector("#lesson").content_frame()
    handle.wait_for_function("() => (window.rnnReaderState || {}).drawn > 0", timeout=90_000)
    return frame, handle


@pytest.mark.parametrize("width,height,tab,view", [(900, 700, "memory", "#memory-plot"), (390, 844, "read", "#stepper-box"),
                                                   (390, 844, "order", "#order-plot")])
def test_embed_shows_the_prepared_view_in_the_frame(app, browser, host, width, height, tab, view):
    model = "lesson-rnn" if "lesson-rnn" in SHIPPED else SHIPPED[0]
    src = app.url + "?" + urlencode({"model": model, "tab": tab, "text": HEADLINE, "lang": "en", "embed": "1"})
    page = _frame_page(browser, host, f"embed-{tab}-{width}.html", _iframe(src, width, height), width, height)
    frame, handle = _app_frame(page)
    handle.wait_for_selector(f"{view} .main-svg, {view} #step-words .word", timeout=90_000)
    box = handle.locator(view).bounding_box()  # relative to the frame's own viewport (not scrolled)
    assert 0 <= box["y"] < height - 150, (view, box)  # the view starts on screen, with room to show it
    assert handle.evaluate("window.scrollY") == 0
    for hidden in ("#title", "#intro", "#primer", "#examples-column"):
        assert handle.locator(hidden).is_hidden(), hidden
    assert handle.locator("#full-lesson").is_visible() and handle.locator("#headlines").is_visible()
    assert handle.locator("#answer").is_visible()
    overflow = handle.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 2, overflow
    page.close()


def test_language_switch_in_an_iframe_keeps_the_view_and_the_host(app, browser, host):
    model = "lesson-rnn" if "lesson-rnn" in SHIPPED else SHIPPED[0]
    query = {"model": model, "tab": "memory", "text": HEADLINE, "lang": "en", "embed": "1"}
    page = _frame_page(browser, host, "switch.html", _iframe(app.url + "?" + urlencode(query), 900, 700), 900, 700)
    host_url = page.url
    _, handle = _app_frame(page)
    handle.click("#lang-ko")
    for _ in range(150):  # the frame loads the Korean view (another origin: watched from Playwright)
        if "lang=ko" in page.wait_for_selector("#lesson").content_frame().url:
            break
        page.wait_for_timeout(200)
    _, handle = _app_frame(page)
    got = {k: v[0] for k, v in parse_qs(urlparse(handle.url).query).items()}
    assert got == {**query, "lang": "ko"}  # model, tab, text and embed kept
    assert page.url == host_url  # the lesson page itself never moved
    handle.wait_for_function("() => document.querySelector('#memory-plot .main-svg') !== null", timeout=60_000)
    assert "기억" in handle.inner_text("#views")
    # the full page, not embedded: the switch keeps the stepper's word too
    full = browser.new_page(viewport={"width": 1366, "height": 900})
    full.goto(app.url + "?" + urlencode({"model": model, "text": HEADLINE, "lang": "ko", "step": "3"}))
    full.wait_for_function("() => (window.rnnReaderState || {}).drawn > 0", timeout=90_000)
    full.click("#lang-en")
    full.wait_for_function("() => location.search.includes('lang=en')", timeout=30_000)
    full.wait_for_function("() => (window.rnnReaderState || {}).drawn > 0", timeout=90_000)
    assert full.evaluate("window.rnnReaderState.step") == 2 and "Word 3 of" in full.inner_text("#step-label")
    page.close()
    full.close()


def test_widget_route_works_from_a_gradio_app_on_another_page(app, browser, host, widget_dir):
    html = urllib.request.urlopen(app.url, timeout=10).read().decode()
    bundle = re.search(r'src="\./(assets/index-[^"]+\.js)"', html).group(1)  # Gradio's own web component
    lesson = (f"<!doctype html><body><h1>My lesson</h1><script type='module' src='{app.url}{bundle}'></script>"
              f"<gradio-app src='{app.url}'></gradio-app>")
    page = _frame_page(browser, host, "gradio-app.html", lesson, 1366, 900)
    link = page.wait_for_selector("#widget-link a", timeout=90_000)
    href = link.get_attribute("href")
    assert href == app.url + "widget/", href  # the app's address, not the lesson page's
    with urllib.request.urlopen(href, timeout=10) as r:
        assert r.status == 200 and b"id='widget'" in r.read()
    # no server path anywhere: not in the page, not in the link
    for text in (page.content(), href):
        assert str(ROOT) not in text and str(widget_dir) not in text and "/gradio_api/file=" not in text
    page.close()
