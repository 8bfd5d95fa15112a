"""The word stepper in Chromium: every Read view follows it, in the browser alone (no request, no new plot),
in English and Korean, at desktop and phone width."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from page.i18n import locales
from test_browser import SHIPPED, browser, pytestmark, server  # noqa: F401  (same skips and fixtures)

KO, EN = locales()["ko"], locales()["en"]
BI = "bilstm" if "bilstm" in SHIPPED else None
HEADLINE = "Central bank raises interest rates as inflation climbs to a ten-year high"
# Counts plots made from scratch: Plotly builds a new .plot-container (and main-svg) only for a new plot.
WATCH_NEW_PLOTS = """() => {
  window.__newPlots = 0;
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes)
      if (n.nodeType === 1 && (n.matches('.plot-container, .main-svg') || n.querySelector('.plot-container, .main-svg')))
        window.__newPlots += 1;
  }).observe(document.body, {childList: true, subtree: true});
}"""
# the stepper's rings over the trajectory (one per reading direction): where they are and which word
MARKER = """() => [...document.querySelectorAll('#reader-layers .step-ring')].filter((n) => !n.hidden)
  .map((n) => [n.style.transform, n.dataset.word])"""


def _open(browser, url: str, width: int = 1366, **kw):
    phone = width < 500
    page = browser.new_page(viewport={"width": width, "height": 844 if phone else 900}, is_mobile=phone,
                            has_touch=phone, **kw)
    seen = []
    page.on("request", lambda r: seen.append(time.monotonic()))
    page.goto(url)
    page.wait_for_function("() => (window.rnnReaderState || {}).drawn > 0", timeout=90_000)
    # the page's load chain goes on after the Read views (the other tabs' views): wait until it is quiet
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not seen or time.monotonic() - seen[-1] < 1.5):
        page.wait_for_timeout(200)
    return page


def _state(page, key: str):
    return page.evaluate(f"window.rnnReaderState.{key}")


@pytest.mark.skipif(BI is None, reason="needs the bidirectional model")
def test_stepping_moves_marker_bars_and_word_with_no_request_and_no_new_plot(server, browser):
    page = _open(browser, server.url + "?" + urlencode({"model": BI, "text": HEADLINE, "lang": "en"}))
    n = _state(page, "steps")
    assert n == len(HEADLINE.split()) and _state(page, "step") == n - 1  # a Read shows its last word
    assert "Word 12 of 12" in page.inner_text("#step-label")
    before = page.evaluate(MARKER)
    assert len(before) == 2  # one ring per reading direction
    painted = page.evaluate("""() => { const c = document.getElementById('reader-canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 2000  # the reference cloud, on its canvas
    bars_before = page.inner_text("#step-bars")
    page.evaluate(WATCH_NEW_PLOTS)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.focus("#stepper")
    positions = set()
    for key in ["ArrowLeft"] * 12 + ["ArrowRight"] * 8:  # 20 steps, clamped at the first word
        page.keyboard.press(key)
        positions.add(tuple(map(tuple, page.evaluate(MARKER))))
    assert _state(page, "step") == 8
    assert requests == [], requests  # everything a step shows came with the Read
    assert page.evaluate("window.__newPlots") == 0  # Plotly.react / relayout on the plots made once
    assert len(positions) >= 9  # the marker moved with every word
    after = page.evaluate(MARKER)
    assert after != before and after[0][1] == "to" and after[1][1] == "to"
    assert page.inner_text("#step-bars") != bars_before and "%" in page.inner_text("#step-bars")
    assert page.inner_text("#step-words .current") == "to"
    assert page.inner_text("#importance .chip.current").startswith("to")  # the word's importance chip too
    assert "“to”" in page.inner_text("#step-after") and "“to”" in page.inner_text("#column-changed")
    # the prediction-as-it-reads plot and the heatmaps mark the same word
    assert page.evaluate("document.getElementById('prefix-band').dataset.x") == "9"  # word 9, 1-based axis
    page.locator("#cells-section").get_by_role("button").first.click()
    page.wait_for_selector("#reader-cells .main-svg", timeout=30_000)
    page.focus("#stepper")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.getElementById('cells-band').dataset.x") == "7"  # word 8 of 12, 0-based 7
    band = page.locator("#cells-band").bounding_box()
    assert band["width"] > 5 and band["height"] > 100
    times = _state(page, "stepTimes")
    assert len(times) >= 21
    page.close()


@pytest.mark.skipif(BI is None, reason="needs the bidirectional model")
def test_play_walks_the_words_and_three_d_keeps_the_marker(server, browser):
    page = _open(browser, server.url + "?" + urlencode({"model": BI, "text": HEADLINE, "lang": "en", "step": "2"}))
    assert _state(page, "step") == 1  # &step=2 is the second word
    page.click("#play")
    page.wait_for_function("window.rnnReaderState.step >= 3", timeout=10_000)
    page.click("#play")  # pause
    stopped = _state(page, "step")
    page.wait_for_timeout(1_000)
    assert _state(page, "step") == stopped and _state(page, "timer") is None
    page.locator("#dims label", has_text="3-D").click()
    page.wait_for_selector("#reader-trajectory.turnable", timeout=30_000)
    cloud = page.evaluate("document.getElementById('reader-cloud').data.map((t) => (t.text || []).join(' '))")
    assert any("PC3" in t for t in cloud)  # the third axis is drawn
    marker = "() => [...document.querySelectorAll('#reader-layers .step-ring')].map((n) => n.dataset.word)"
    page.focus("#stepper")
    page.keyboard.press("Home")
    assert page.evaluate(marker) == ["central", "central"]
    page.keyboard.press("ArrowRight")
    assert page.evaluate(marker) == ["bank", "bank"]
    # dragging turns the view: the cloud moves, the ring stays on its word
    first = page.evaluate("document.getElementById('reader-cloud').data.find((t) => t.mode === 'lines+text').x[1]")
    page.locator("#reader-layers").scroll_into_view_if_needed()
    box = page.locator("#reader-layers").bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 150)
    page.mouse.down()
    page.mouse.move(box["x"] + 320, box["y"] + 170, steps=4)
    page.mouse.up()
    page.wait_for_timeout(300)
    assert page.evaluate("document.getElementById('reader-cloud').data.find((t) => t.mode === 'lines+text').x[1]") != first
    assert page.evaluate(marker) == ["bank", "bank"]
    # the link carries the word
    page.click("#link-btn")
    page.wait_for_function("document.querySelector('#link textarea').value.includes('step=')")
    got = parse_qs(urlparse(page.input_value("#link textarea")).query)
    assert got["step"] == ["2"] and got["dims"] == ["3"]
    page.close()


@pytest.mark.parametrize("width", [1366, 390])
def test_korean_stepper_by_touch_and_tap(server, browser, width):
    model = "gru" if "gru" in SHIPPED else SHIPPED[-1]
    page = _open(browser, server.url + "?" + urlencode({"model": model, "text": HEADLINE, "lang": "ko", "step": "3"}),
                 width=width)
    label = page.inner_text("#step-label")
    assert "12개 단어 중 3번째" in label and "“raises”" in label
    assert "지켜볼 점" in page.inner_text("#step-watch")
    assert "유닛" in page.inner_text("#column-memory")  # the GRU's update gate names a unit
    assert "까지 읽었을 때의 답" in page.inner_text("#step-after")
    assert any(KO[f"class.{c}"] in page.inner_text("#step-bars") for c in ("world", "sports", "business", "sci_tech"))
    # tap a word: every view moves to it
    page.locator("#step-words .word", has_text="inflation").first.tap() if width < 500 else \
        page.locator("#step-words .word", has_text="inflation").first.click()
    assert _state(page, "step") == 6 and "7번째" in page.inner_text("#step-label")
    # the slider by touch: a tap near its right end moves to a late word
    page.locator("#stepper").scroll_into_view_if_needed()
    box = page.locator("#stepper").bounding_box()
    if width < 500:
        page.touchscreen.tap(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)
    else:
        page.mouse.click(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)
    page.wait_for_function("window.rnnReaderState.step >= 10", timeout=5_000)
    assert box["width"] >= 200 and box["height"] >= 30  # big enough for a thumb
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 2, overflow
    page.close()


def test_read_redraws_from_one_request_and_a_bad_step_is_explained(server, browser):
    page = _open(browser, server.url + "?" + urlencode({"text": HEADLINE, "lang": "en", "step": "abc"}))
    assert "step=abc" in page.inner_text("#step-limit")
    assert _state(page, "step") == _state(page, "steps") - 1
    drawn = _state(page, "drawn")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.fill("#headlines textarea", "Striker scores twice in stoppage time\nTeam wins the cup")
    page.click("#read")
    page.wait_for_function(f"window.rnnReaderState.drawn > {drawn}", timeout=60_000)
    assert page.evaluate("document.getElementById('reader-trajectory').dataset.headline") == \
        "Striker scores twice in stoppage time"
    assert len([u for u in posts if "/queue/join" in u]) == 1  # one event for every Read view
    assert "Team wins the cup" in page.inner_text("#reader-legend")  # the second headline's path
    assert _state(page, "step") == 5
    page.close()
