"""The page in Chromium under a classroom's sessions and hostile deep links.

One server for the module with RNN_DEMO_SESSIONS=16 (the smallest allowed; the default is 256), so
that a few hundred other sessions evict the page's own many times over, quickly.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urlparse

import pytest

from helpers import AppServer
from test_browser import SHIPPED, _plot_ready, browser, pytestmark  # noqa: F401  (same skips and fixtures)
from test_hardening import http_call, page_event, port_in_range

SESSIONS = 16
LOCAL = "127.0.0.1"
# Links the page itself shows whatever the URL says: Plotly's logo in each plot's toolbar and the
# footer's "Built with Gradio".
CHROME_HOSTS = {"plotly.com", "gradio.app", "www.gradio.app"}
IMAGE = "![p](http://evil.example/pixel.png)"
LINK = "[Session expired](https://evil.example/login)"
TAG = '<img src="http://evil.example/tag.png">'


@pytest.fixture(scope="module")
def server():
    s = AppServer(env={"RNN_DEMO_SESSIONS": str(SESSIONS)}, port=port_in_range(), timeout=120.0)
    yield s
    s.stop()


def _read(page, headline: str) -> str:
    """Type a headline and press Read; returns '' once the Read views show it, else the error shown."""
    page.fill("#headlines textarea", headline)
    page.click("#read")
    drawn = "(h) => (document.getElementById('reader-trajectory') || {dataset: {}}).dataset.headline === h"
    page.wait_for_function(
        f"""(h) => {{ const e = document.querySelector('.toast-body');
                    return ({drawn})(h) || (e && e.innerText.trim().length > 0); }}""",
        arg=headline, timeout=60_000)
    if page.evaluate(drawn, headline):
        return ""
    return page.inner_text(".toast-body")


def test_read_works_after_a_classroom_of_other_sessions(server, browser):
    """?model=bilstm-2layer, Read; then 300 API calls, each a session of its own, and 40 page loads
    (sessions of the page); Read again gives an answer (it used to fail: 'Value: layer 2 forward is
    not in the list of choices: ['layer 1 forward']')."""
    if "bilstm-2layer" not in SHIPPED:
        pytest.skip("needs bilstm-2layer (two layers, two directions)")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(server.url + "?model=bilstm-2layer&lang=en")
    _plot_ready(page, "trajectory")
    assert _read(page, "Markets rally as central bank signals rate cuts") == ""

    def api(i: int) -> int:
        return http_call(server.url, "predict", [f"Headline number {i} about stocks", "bilstm-2layer"])[0]

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(api, range(300)))
    assert statuses.count(200) >= 290, statuses  # a few may meet a full queue; the rest are served
    _, _, load = page_event(server.url, "link-notes", None)
    for i in range(40):  # what the page's own load event does, each in a new session
        assert load({}, f"classroom-{i}")["success"] is True

    assert _read(page, "Olympic champion announces retirement at 31") == ""
    page.locator("#cells-section").get_by_role("button").first.click()  # the picker's value is sent too
    page.wait_for_function("document.querySelector('#internals') && "
                           "document.querySelector('#internals').innerText.includes('layer 2')", timeout=60_000)
    assert "Traceback" not in server.text()
    page.close()


def _outside(page, requests: list[str]) -> tuple[list[str], list[str]]:
    """(requests that left for another host, <a>/<img>/<iframe> pointing to another host than the
    page's own chrome)."""
    links = page.eval_on_selector_all("a[href], img[src], iframe[src], image", """els => els.map(
        e => e.href && e.href.baseVal !== undefined ? e.href.baseVal : (e.href || e.src || e.getAttribute('href')))""")
    bad_links = [h for h in links if h and urlparse(h).scheme in ("http", "https")
                 and urlparse(h).hostname not in {LOCAL, *CHROME_HOSTS}]
    return requests, bad_links


def _open(browser, url: str):
    """A new page at `url`, and the list that collects every request it sends to another host."""
    page, out = browser.new_page(viewport={"width": 1366, "height": 900}), []
    page.on("request", lambda r: out.append(r.url) if urlparse(r.url).scheme in ("http", "https", "ws", "wss")
            and urlparse(r.url).hostname != LOCAL else None)
    page.goto(url)
    return page, out


CUT = {"model": 60, "tab": 40, "k": 20, "dims": 20, "lang": 20}  # how much of a bad value a note repeats


@pytest.mark.parametrize("param,payload", [(p, v) for p in ("model", "tab", "k", "dims", "lang") for v in (IMAGE, LINK)]
                         + [("model", TAG)], ids=lambda v: v if v in CUT else v[:3])
def test_a_link_value_is_plain_text_in_the_notes(server, browser, param, payload):
    """Each parameter with a Markdown image, a Markdown link (and an HTML tag): the note shows the
    characters; nothing is fetched from or linked to another host."""
    page, sent = _open(browser, server.url + "?" + urlencode({param: payload, "lang": "en"} if param != "lang"
                                                       else {param: payload}))
    page.wait_for_function("document.querySelector('#link-notes') && "
                           "document.querySelector('#link-notes').innerText.trim().length > 0", timeout=60_000)
    _plot_ready(page, "trajectory")
    page.wait_for_timeout(500)  # an injected image would be requested by now
    notes = page.inner_text("#link-notes")
    assert payload[:CUT[param]].lower() in notes.lower(), notes  # (tab is lower-cased)
    requests, links = _outside(page, sent)
    assert requests == [] and links == [], (requests, links)
    page.close()


TAB_READY = {"read": "#trajectory .main-svg", "packing": "#packing-plot .main-svg", "compare": "#compare-bars .main-svg",
             "order": "#order-plot .main-svg", "memory": "#memory-plot .main-svg"}


@pytest.mark.parametrize("tab", list(TAB_READY))
def test_link_text_is_plain_text_in_every_view_that_reads_it(server, browser, tab):
    text = "\n".join([IMAGE + " stocks rally", LINK + " markets fall", TAG + " team wins"])
    page, sent = _open(browser, server.url + "?" + urlencode({"text": text, "tab": tab, "lang": "en"}))
    page.wait_for_selector(TAB_READY[tab], timeout=60_000)
    page.wait_for_timeout(500)
    requests, links = _outside(page, sent)
    assert requests == [] and links == [], (requests, links)
    assert page.locator("img[src*='evil'], a[href*='evil']").count() == 0
    page.close()
