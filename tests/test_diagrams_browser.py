"""The lesson's diagrams in Chromium: the unrolled network follows the stepper, tapping a gate shows its
equation and marks its rows, the packing tab draws the lesson's packed vector in torch's order, in
English and Korean, at desktop and phone width."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from helpers import ROOT
from page.i18n import locales
from rnn_demo.tokenizer import PAD_ID, Vocab
from test_browser import SHIPPED, browser, pytestmark, server  # noqa: F401  (same skips and fixtures)
from test_reader_browser import WATCH_NEW_PLOTS, _open, _state

KO, EN = locales()["ko"], locales()["en"]
HEADLINE = "Central bank raises interest rates as inflation climbs to a ten-year high"
CURRENT = """() => [...document.querySelectorAll('#net-grid .net-box.current')].map((b) => Number(b.dataset.i))"""
LESSON_DATA = ["1", "6", "9", "2", "7", "3", "8", "4", "5"]


def needs(*models):
    return pytest.mark.skipif(not set(models) <= set(SHIPPED), reason=f"needs {', '.join(models)}")


def _diagrams(page, key: str):
    return page.evaluate(f"window.rnnDiagramsState.{key}")


def _built(page) -> None:
    page.wait_for_function("() => { const s = window.rnnDiagramsState; return s && s.built && s.built === "
                           "window.rnnReaderState.payload; }", timeout=30_000)


def _packing_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).first.click()
    page.wait_for_selector("#packing-diagram-box[data-drawn]", timeout=60_000)


def _slide(page, selector: str, value: int) -> None:
    """Move a range input as a drag does (its input event)."""
    page.eval_on_selector(selector, "(r, v) => { r.value = String(v); r.dispatchEvent(new Event('input', {bubbles: true})); }",
                          value)


def _inside(page, inner: str, outer: str) -> bool:
    """True when element `inner` lies horizontally within the visible part of `outer`."""
    return page.evaluate("""([a, b]) => { const r = document.querySelector(a).getBoundingClientRect();
      const s = document.querySelector(b).getBoundingClientRect();
      return r.left >= s.left - 1 && r.right <= s.right + 1; }""", [inner, outer])


@needs("bilstm-2layer")
def test_the_highlighted_box_follows_the_stepper_in_every_row(server, browser):
    page = _open(browser, server.url + "?" + urlencode({"model": "bilstm-2layer", "text": HEADLINE, "lang": "en"}))
    _built(page)
    rows = page.locator("#net-grid .net-label").all_inner_texts()
    assert rows[:4] == ["layer 2 · forward →", "layer 2 · ← backward", "layer 1 · forward →", "layer 1 · ← backward"]
    assert page.locator("#net-grid .net-box").count() == 4 * 12  # one box per word in each row
    assert page.locator("#net-grid .net-w").all_inner_texts() == ["W"] * 48  # the same weights in every box
    assert page.evaluate(CURRENT) == [11] * 4  # a Read shows its last word
    page.evaluate(WATCH_NEW_PLOTS)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.focus("#stepper")
    seen = []
    for key in ["Home"] + ["ArrowRight"] * 4:
        page.keyboard.press(key)
        seen.append(page.evaluate(CURRENT))
    assert seen == [[0] * 4, [1] * 4, [2] * 4, [3] * 4, [4] * 4]
    assert requests == [] and page.evaluate("window.__newPlots") == 0  # moved in place, nothing fetched
    # the picker's row (layer 2 forward) carries the ◎ of the cell drawn below; its S4 arrow leads into the box
    assert page.locator("#net-grid .net-box.zoom").count() == 1
    assert page.locator("#net-grid .net-box.zoom").get_attribute("data-i") == "4"
    assert page.locator("#net-grid .net-arrow.current").first.inner_text().replace("\n", "") == "→S₄"
    assert page.inner_text("#net-grid .net-word.current") == "rates\nX₅"
    assert "“rates”" in page.inner_text("#cell-title") and "layer 2 · forward" in page.inner_text("#cell-title")
    # the forward rows have read words 1-4, the backward rows words 12-6
    read = page.evaluate("() => [...document.querySelectorAll('#net-grid .net-box.read')].map((b) => b.dataset.i)")
    assert sorted(read) == sorted(["0", "1", "2", "3"] * 2 + [str(i) for i in range(5, 12)] * 2)
    # tap a box: every view moves to its word
    page.locator("#net-grid .net-box[data-i='9']").first.click()
    page.wait_for_function("window.rnnReaderState.step === 9")
    assert page.evaluate(CURRENT) == [9] * 4 and "“a”" in page.inner_text("#step-label")
    assert len(_diagrams(page, "stepTimes")) >= 6
    page.close()


@needs("lesson-lstm-packed")
def test_tapping_a_gate_shows_its_equation_and_marks_its_rows(server, browser):
    page = _open(browser, server.url + "?" + urlencode({"model": "lesson-lstm-packed", "text": HEADLINE, "lang": "en",
                                                         "step": "3"}))
    _built(page)
    parts = page.evaluate("() => [...document.querySelectorAll('#cell-svg [data-gate]')].map((g) => g.dataset.gate)")
    assert parts == ["forget_gate", "input_gate", "cell_candidate", "output_gate", "cell", "hidden"]
    assert page.inner_text("#cell-eq") == ""  # nothing picked yet
    page.locator("#cell-svg [data-gate='forget_gate']").click()
    eq = page.inner_html("#cell-eq .eq-formula")
    assert eq == "f<sub>t</sub> = σ(W<sub>f</sub>·[h<sub>t−1</sub>, x<sub>t</sub>] + b<sub>f</sub>)"
    assert "forget gate" in page.inner_text("#cell-eq .eq-name")
    # the values at this word: the gate's mean over the units and the unit that keeps its memory
    cells = page.evaluate("window.rnnReaderState.payload.cells")
    forget = next(p for p in cells["panels"] if p["key"] == "forget_gate")["values"][2]
    unit = cells["memory"]["unit"]
    mean = sum(forget) / len(forget)
    assert f"mean over the 32 units {mean:.2f}" in page.inner_text("#cell-eq .eq-values")
    assert f"unit {unit + 1} (keeps its memory) {forget[unit]:.2f}" in page.inner_text("#cell-eq .eq-values")
    gate = page.locator("#cell-svg [data-gate='forget_gate']")
    assert "picked" in gate.get_attribute("class") and f"{mean:.2f}" in gate.text_content()
    marked = "() => [...document.querySelectorAll('#column-strip .col-row.gate-picked .col-name')].map((n) => n.innerText)"
    assert page.evaluate(marked) == ["forget gate"]
    page.focus("#stepper")
    page.keyboard.press("ArrowRight")  # the column is redrawn on a step: the mark follows, the equation's values too
    assert page.evaluate(marked) == ["forget gate"] and "“interest”" in page.inner_text("#cell-eq .eq-values")
    # the heatmaps: a frame over the forget gate's subplot (the 4th), drawn over the plot, not into it
    page.locator("#cells-section").get_by_role("button").first.click()
    page.wait_for_selector("#reader-cells .main-svg", timeout=30_000)
    page.wait_for_selector("#cells-gate:not([hidden])", timeout=5_000)
    top, height, axis_top, axis_len = page.evaluate("""() => { const f = document.getElementById('cells-gate');
      const gd = document.getElementById('reader-cells'); const ya = gd._fullLayout.yaxis4;
      return [f.offsetTop - gd.offsetTop, f.offsetHeight, ya._offset, ya._length]; }""")
    assert abs(top + 4 - axis_top) <= 2 and abs(height - 8 - axis_len) <= 8
    # another gate: the mark moves with it
    page.locator("#cell-svg [data-gate='output_gate']").click()
    assert page.inner_html("#cell-eq .eq-formula").startswith("o<sub>t</sub> = σ(W<sub>o</sub>")
    assert page.evaluate(marked) == ["output gate"]
    assert page.get_attribute("#cells-gate", "data-gate") == "output_gate"
    page.close()


@needs("gru", "lesson-rnn")
def test_the_gru_gates_and_the_rnns_one_tanh_with_the_link_to_the_memory_tab(server, browser):
    page = _open(browser, server.url + "?" + urlencode({"model": "gru", "text": HEADLINE, "lang": "en"}))
    _built(page)
    page.locator("#cell-svg [data-gate='update_gate']").press("Enter")  # by keyboard too
    assert page.inner_html("#cell-eq .eq-formula").startswith("z<sub>t</sub> = σ(W<sub>z</sub>")
    assert "plays the LSTM forget gate's part" in page.inner_text("#cell-eq")
    page.locator("#cell-svg [data-gate='hidden']").click()
    assert "(1 − z<sub>t</sub>) ⊙ h̃<sub>t</sub> + z<sub>t</sub> ⊙ h<sub>t−1</sub>" in page.inner_html("#cell-eq")
    page.close()

    page = _open(browser, server.url + "?" + urlencode({"model": "lesson-rnn", "text": HEADLINE, "lang": "en"}))
    _built(page)
    assert page.evaluate("() => [...document.querySelectorAll('#cell-svg [data-gate]')].map((g) => g.dataset.gate)") \
        == ["hidden"]
    page.locator("#cell-svg [data-gate='hidden']").click()
    assert page.inner_html("#cell-eq .eq-formula") == "S<sub>i</sub> = tanh(W·X<sub>i</sub> + H·S<sub>i−1</sub> + b)"
    assert "That is why the simple RNN forgets" in page.inner_text("#cell-rnn")
    link = page.locator("#memory-link")
    got = parse_qs(urlparse(link.get_attribute("href")).query)
    assert got["tab"] == ["memory"] and got["model"] == ["lesson-rnn"] and got["text"] == [HEADLINE]
    assert link.get_attribute("target") == "_self"
    link.click()  # same frame: the page opens on the memory tab with the same model and text
    page.wait_for_url("**tab=memory**")
    page.wait_for_selector("#memory-plot .main-svg", timeout=90_000)
    assert page.input_value("#headlines textarea") == HEADLINE
    page.close()


@needs("bag-of-embeddings")
def test_the_bag_averages_its_words_with_no_arrow_between_them(server, browser):
    page = _open(browser, server.url + "?" + urlencode({"model": "bag-of-embeddings", "text": HEADLINE, "lang": "en",
                                                         "step": "3"}))
    _built(page)
    assert page.locator("#net-grid .net-arrow").count() == 0 and page.locator("#net-grid .net-box").count() == 12
    assert page.inner_text("#net-grid .net-average-label") == "average of the 3 words read so far → classifier"
    assert page.locator("#net-grid .net-box.in-average").count() == 3
    pixels = "() => { const c = document.querySelector('.net-average canvas'); return [c.width, c.height, c.toDataURL()]; }"
    before = page.evaluate(pixels)
    page.focus("#stepper")
    page.keyboard.press("ArrowRight")
    after = page.evaluate(pixels)
    assert "4 words" in page.inner_text("#net-grid .net-average-label")
    assert after[:2] == before[:2] == [16, 4] and after[2] != before[2]  # 64 units, the new average painted
    assert "order" in page.inner_text("#net-help") and "no cell" in page.inner_text("#cell-title")
    page.close()


def _expected_learner(headlines: list[str]) -> list[str]:
    vocab = Vocab.load(ROOT / "checkpoints" / "lesson-lstm-packed" / "tokenizer.json")
    ids = [vocab.encode(h) for h in headlines]
    longest = max(map(len, ids))
    padded = torch.tensor([row + [PAD_ID] * (longest - len(row)) for row in ids])
    packed = pack_padded_sequence(padded, torch.tensor([len(r) for r in ids]), batch_first=True, enforce_sorted=False)
    return [str(i) for i in packed.data.tolist()]


@needs("lesson-lstm", "lesson-lstm-packed")
def test_the_packing_tab_draws_the_lessons_packed_vector_then_the_typed_headlines(server, browser):
    page = _open(browser, server.url + "?lang=en")
    _packing_tab(page, "Why packing matters")
    lesson = "#pack-lesson"
    assert page.locator(f"{lesson} .pack-item .id").all_inner_texts() == LESSON_DATA  # the lesson's order
    assert page.inner_text(f"{lesson} .pack-sizes") == "[3, 2, 2, 1, 1]"
    grid = page.locator(f"{lesson} .pack-grid td .id").all_inner_texts()
    assert grid == ["1", "2", "3", "4", "5", "6", "7", "8", "0", "0", "9", "0", "0", "0", "0"]
    assert "Time step 1 of 5: batch size 3." in page.inner_text(f"{lesson} .pack-label")
    page.locator(f"{lesson} .pack-next").click()  # time step 2: sequence 3 has ended
    now = page.locator(f"{lesson} .pack-group.now .pack-item .id").all_inner_texts()
    assert now == ["2", "7"] and page.locator(f"{lesson} td.pad-now").count() == 1
    status = page.inner_text(f"{lesson} .pack-status")
    assert "Being read: sequence 1, sequence 2." in status and "pad step for sequence 3" in status
    assert "(1 of its 6 steps so far were on pads)" in status
    _slide(page, f"{lesson} .pack-range", 4)  # the last time step: one sequence left, two pads
    assert page.locator(f"{lesson} .pack-group.now .pack-item .id").all_inner_texts() == ["5"]
    assert page.locator(f"{lesson} td.pad-now").count() == 2 and page.locator(f"{lesson} .pack-sizes b.now").inner_text() == "1"
    assert "15 steps, 6 of them on pads; the packed one runs 9" in page.inner_text(lesson)
    # the learner's own headlines: one per line (Shift+Enter), packed by the same call on the server
    box = page.locator("#packing-text textarea")
    box.fill("Team wins the cup")
    box.press("End")
    box.press("Shift+Enter")
    box.type("Stadium deal lifts the builder's shares")
    drawn = page.get_attribute("#packing-diagram-box", "data-drawn")
    box.press("Enter")
    page.wait_for_function(f"document.getElementById('packing-diagram-box').dataset.drawn !== '{drawn}'", timeout=60_000)
    learner = "#pack-learner"
    expected = _expected_learner(["Team wins the cup", "Stadium deal lifts the builder's shares"])
    assert page.locator(f"{learner} .pack-item .id").all_inner_texts() == expected
    assert page.locator(f"{learner} .pack-item .w").all_inner_texts()[:2] == ["stadium", "team"]  # longest first
    assert page.locator(f"{learner} td.pad").count() == 4  # "team wins the cup" padded to 8 words
    _slide(page, f"{learner} .pack-range", 4)
    assert "pad step for sequence 1" in page.inner_text(f"{learner} .pack-status")
    page.close()


@needs("gru", "lesson-lstm", "lesson-lstm-packed")
def test_in_korean_at_phone_width(server, browser):
    page = _open(browser, server.url + "?" + urlencode({"model": "gru", "text": HEADLINE, "lang": "ko"}), width=390)
    _built(page)
    assert page.inner_text("#net-title") == KO["diagram.net_title"]
    assert page.inner_text("#net-grid .net-label >> nth=0") == KO["diagram.forward"]
    # the diagram scrolls inside itself, never the page; the current box is kept in view
    assert page.evaluate("document.getElementById('net-scroll').scrollWidth > document.getElementById('net-scroll').clientWidth")
    assert _inside(page, "#net-grid .net-box.current", "#net-scroll")
    page.locator("#step-words .word", has_text="raises").first.tap()
    page.wait_for_function("window.rnnReaderState.step === 2")
    assert _inside(page, "#net-grid .net-box.current", "#net-scroll")
    page.locator("#cell-svg [data-gate='reset_gate']").tap()
    assert "리셋 게이트" in page.inner_text("#cell-eq") and "r<sub>t</sub> = σ" in page.inner_html("#cell-eq")
    assert "유닛" in page.inner_text("#cell-eq .eq-values")
    width = page.evaluate("document.querySelector('#cell-svg svg').getBoundingClientRect().width")
    assert 300 <= width <= 390  # the cell fills the phone's width (its text scaled with it)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 2, overflow
    _packing_tab(page, KO["view.packing"])
    assert page.inner_text("#pack-title") == KO["diagram.pack_title"]
    assert page.locator("#pack-lesson .pack-item .id").all_inner_texts() == LESSON_DATA
    page.locator("#pack-lesson .pack-next").tap()
    assert "시점 2 / 5: 배치 크기 2." in page.inner_text("#pack-lesson .pack-label")
    assert "시퀀스 3" in page.inner_text("#pack-lesson .pack-status")
    assert KO["diagram.pack_one"] in page.inner_text("#pack-learner")  # the tab opens on one headline
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 2, overflow
    page.close()
