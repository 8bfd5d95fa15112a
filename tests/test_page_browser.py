"""The page as learners and lesson authors meet it, in Chromium: Korean, deep links, a phone, the small fixes.

One server for the module (test_browser's fixtures: `helpers.AppServer`), one browser, a few pages each.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from page.i18n import locales
from rnn_demo.catalog import EXAMPLES
from test_browser import SHIPPED, _plot_ready, browser, pytestmark, server  # noqa: F401  (same skips and fixtures)

KO, EN = locales()["ko"], locales()["en"]
PACKED = {"lesson-lstm", "lesson-lstm-packed"} <= set(SHIPPED)


def _tab_names(page) -> list[str]:
    return [t.strip() for t in page.locator("[role=tablist] [role=tab]").all_inner_texts()]


def _wait_text(page, selector: str, needle: str, timeout: int = 60_000) -> None:
    page.wait_for_function("([s, n]) => { const e = document.querySelector(s); return e && e.innerText.includes(n); }",
                           arg=[selector, needle], timeout=timeout)


def test_korean_page_labels_figures_answer_and_a_korean_headline(server, browser):
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="en-US")  # ?lang wins over the browser
    page.goto(server.url + "?lang=ko")
    _plot_ready(page, "trajectory")
    _wait_text(page, "#answer", "%")
    assert _tab_names(page)[:3] == [KO["view.read"], KO["view.compare"], KO["view.card"]]
    body = page.inner_text("body")
    for key in ("app.read", "view.h_trajectory", "view.h_importance", "view.h_cells"):
        assert KO[key].lstrip("# ") in body, key
    page.wait_for_function("() => (window.rnnReaderState || {}).drawn > 0", timeout=60_000)
    assert KO["reader.start"] in page.inner_text("#trajectory")  # drawn in the browser, with the page's words
    assert KO["reader.word"] in page.inner_text("#prefix") and "번째" in page.inner_text("#step-label")
    answer = page.inner_text("#answer")
    assert any(KO[f"class.{c}"] in answer for c in ("world", "sports", "business", "sci_tech"))
    assert "Business" not in answer and "World" not in answer
    # a Korean headline: said in Korean, and no confident-looking bars made from unknown words
    page.fill("#headlines textarea", "중앙은행이 금리를 올렸다")
    page.click("#read")
    _wait_text(page, "#notes", "영어가 아닙니다")
    assert "%" not in page.inner_text("#answer") and KO["note.not_english_label"] in page.inner_text("#answer")
    page.close()


def test_deep_link_opens_the_view_computed_and_link_control_reproduces_it(server, browser):
    if not PACKED:
        pytest.skip("needs the packing pair")
    headline = "Stadium deal lifts the builder's shares"
    query = urlencode({"model": "gru" if "gru" in SHIPPED else SHIPPED[0], "text": headline, "tab": "packing",
                       "k": "7", "lang": "en"})
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(server.url + "?" + query)
    _plot_ready(page, "packing-plot")
    _wait_text(page, "#packing-table", "k = 7")
    assert page.locator("[role=tab][aria-selected=true]").inner_text().strip() == EN["view.packing"]
    assert page.input_value("#packing-text textarea, #packing-text input") == headline
    page.click("#link-btn")
    page.wait_for_function("document.querySelector('#link textarea').value.includes('tab=packing')")
    link = urlparse(page.input_value("#link textarea"))
    got = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert got["tab"] == "packing" and got["k"] == "7" and got["text"] == headline and got["lang"] == "en"
    assert got["model"] == ("gru" if "gru" in SHIPPED else SHIPPED[0])
    page.close()


def test_bad_deep_link_is_explained_not_fatal(server, browser):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(server.url + "?" + urlencode({"model": "<b>nope</b>", "tab": "zzz", "k": "999", "lang": "xx",
                                            "text": "x" * 5000}))
    _wait_text(page, "#link-notes", "nope")
    notes = page.inner_text("#link-notes")
    assert "tab" in notes and "999" in notes and "xx" in notes and "5,000" in notes
    assert page.locator("#link-notes b").count() == 0  # the model name is shown as text
    _plot_ready(page, "trajectory")  # the default view still works
    page.close()


def test_phone_answer_on_screen_after_read_and_every_tab_by_name(server, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(server.url)
    _plot_ready(page, "trajectory")
    names = _tab_names(page)
    assert len(names) == 7 and all(names), names  # no unlabelled overflow menu
    assert page.locator(".overflow-menu").is_hidden()
    for tab in page.locator("[role=tablist] [role=tab]").all():
        box = tab.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 391, tab.inner_text()
    page.fill("#headlines textarea", "Olympic champion announces retirement at 31")
    page.tap("#read")
    _wait_text(page, "#answer", "%")
    page.wait_for_timeout(300)
    box = page.locator("#answer").bounding_box()
    assert box["y"] >= 0 and box["y"] + min(box["height"], 120) <= 844, box  # on screen without scrolling
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 2, overflow
    page.close()


def test_small_fixes_examples_clear_empty_picker_order_card(server, browser):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(server.url)
    _plot_ready(page, "trajectory")
    # the 11th example says it is four headlines, and clicking an example reads it
    assert page.get_by_text(EN["app.multi_example"]).count() == 1
    page.get_by_text(EXAMPLES[6]).first.click()
    page.wait_for_function("(h) => (document.getElementById('reader-trajectory') || {dataset: {}}).dataset.headline === h",
                           arg=EXAMPLES[6], timeout=60_000)
    assert page.locator("#table").is_hidden()  # one headline: its answer is the bars, no one-row table
    # models in the lesson's order
    page.click("#model input")
    options = [re.sub(r"[^\w-]", "", o) for o in page.get_by_role("option").all_inner_texts()]  # drop the ✓
    page.keyboard.press("Escape")
    order = [n for n in ("bag-of-embeddings", "lesson-rnn", "lesson-lstm", "lesson-lstm-packed", "gru", "bilstm",
                         "bilstm-2layer") if n in SHIPPED]
    assert [o for o in options if o in order] == order
    # one layer and one direction: no picker with a single choice
    if "lesson-lstm-packed" in SHIPPED:
        assert page.locator("#cells").is_hidden()
    # Clear empties the results; an empty Read shows no table with columns "1 2 3"
    page.click("#clear")
    page.wait_for_function("document.querySelector('#answer').innerText.trim() === ''")
    page.click("#read")
    _wait_text(page, "#notes", EN["note.empty"])
    assert page.locator("#table").is_hidden()
    # model card: settings as a table with headers
    page.get_by_role("tab", name=EN["view.card"]).click()
    _wait_text(page, "#card", "setting")
    assert page.locator("#card table th", has_text="setting").count() >= 1
    assert "=" not in page.inner_text("#card table")
    page.close()
