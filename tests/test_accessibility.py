"""The page and the widget for every learner, in Chromium: axe-core (the WCAG rule engine, pinned in
web/package.json) finds no serious or critical violation on any tab or in the widget, and the figures
and tables stay readable on a phone (labels of 11 px or more, no toolbar over a title, axis titles
clear of tick labels, numbers and Korean words never cut in two, answers visible beside long headlines).

Needs `npm ci --prefix web` (axe-core) and /usr/bin/chromium; skips without them, except under
RNN_DEMO_REQUIRE_BROWSER=1 (CI), where a missing tool fails.
"""
from __future__ import annotations

from urllib.parse import urlparse

import pytest

from page.tabs import TAB_NAMES
from test_browser import _plot_ready, browser, pytestmark, server  # noqa: F401  (same skips and fixtures)
from test_web import ROOT, ensure_node_modules, fp32_site, int8_site, need, open_widget  # noqa: F401
from test_web import server as widget_server  # noqa: F401

AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
# What each tab draws, once computed (the Read tab's are drawn in the browser from its payload)
PLOTS = {"read": ["reader-cloud", "reader-path", "reader-prefix"], "compare": ["compare-bars", "compare-paths"], "card": ["confusion", "curves"],
         "packing": ["packing-plot", "batching-plot"], "order": ["order-plot"], "memory": ["memory-plot", "memory-curves"],
         "api": []}


def _drawn(page, elem_id: str, timeout: int = 90_000) -> None:
    """A Plotly figure inside #elem_id, or #elem_id itself drawn by Plotly (the Read tab's views)."""
    page.wait_for_selector(f"#{elem_id} .main-svg", timeout=timeout)


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    if not AXE.is_file():
        ensure_node_modules()
    need(AXE.is_file(), f"{AXE} is missing: run `npm ci --prefix web`")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
    }""")
    return found


# Per plot: the smallest label, axis titles drawn over tick labels, and the toolbar over the title.
FIGURE_CHECK = """(ids) => ids.map(id => {
    const root = document.getElementById(id);
    const svgText = [...root.querySelectorAll('.main-svg text')].filter(t => t.textContent.trim() &&
        t.getBoundingClientRect().width > 0);
    // the size drawn: Plotly shrinks a bar's text with a scale() transform, not its font size
    const drawn = (t) => { const m = t.getScreenCTM(); return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b); };
    const smallest = Math.round(10 * Math.min(...svgText.map(drawn))) / 10;
    const box = (e) => e.getBoundingClientRect();
    const meet = (a, b, gap = 0) => a.left < b.right + gap && b.left < a.right + gap && a.top < b.bottom + gap &&
        b.top < a.bottom + gap;
    const ticks = [...root.querySelectorAll('.xaxislayer-above text, .yaxislayer-above text')].filter(t => t.textContent.trim());
    const titles = [...root.querySelectorAll('.infolayer [class*="title"] text')].filter(t =>
        !t.closest('.g-gtitle') && t.textContent.trim());
    const clashes = [];
    // an axis title at least 3 px clear of every tick label (the memory title used to touch 10^-1 ... 10^-5)
    for (const title of titles) for (const tick of ticks) if (meet(box(title), box(tick), 3))
        clashes.push(title.textContent + ' / ' + tick.textContent);
    const bar = root.querySelector('.modebar-container');
    const shown = bar && getComputedStyle(bar).display !== 'none' && box(bar).width > 0;
    const heading = root.querySelector('.g-gtitle text');
    return {id, smallest, clashes, toolbar: !!shown,
            toolbarOnTitle: !!(shown && heading && [...bar.querySelectorAll('.modebar-group')].some(g => meet(box(g), box(heading))))};
})"""

# A character pair split across two lines inside a word (no space between them) in these elements.
WORD_SPLITS = """(selector) => {
    const out = [];
    for (const el of document.querySelectorAll(selector)) {
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const text = node.textContent;
            let previous = null;
            for (let i = 0; i < text.length; i++) {
                const range = document.createRange();
                range.setStart(node, i); range.setEnd(node, i + 1);
                const rect = range.getClientRects()[0];
                if (!rect || /\\s/.test(text[i])) { previous = null; continue; }
                if (previous && rect.top > previous.top + rect.height / 2 && /[\\uac00-\\ud7a3]/.test(text[i]))
                    out.push(text.slice(Math.max(0, i - 4), i + 4));
                previous = rect;
            }
        }
    }
    return out;
}"""

# Markdown table cells whose number runs over two lines ("0.88" / "9").
SPLIT_NUMBERS = """() => [...document.querySelectorAll('.prose td')].filter(td => {
    if (!/^[-+\\d.,%]+$/.test(td.innerText.trim()) || td.getBoundingClientRect().width === 0) return false;
    const range = document.createRange(); range.selectNodeContents(td);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
}).map(td => td.innerText)"""


def _open(page, index: int, name: str) -> None:
    page.locator("[role=tablist] [role=tab]").nth(index).click()
    for plot in PLOTS[name]:
        _drawn(page, plot)
    if name == "api":
        page.wait_for_function("(document.querySelector('#api-md')?.innerText || '').includes('Client(')")
    page.wait_for_timeout(600)  # Plotly's relayout after the tab becomes visible


@pytest.mark.parametrize("lang, width", [("en", 1366), ("ko", 390), ("en", 390)])
def test_every_tab_passes_axe_and_its_figures_read_on_the_screen(server, browser, lang, width):
    phone = width < 700
    page = browser.new_page(viewport={"width": width, "height": 844 if phone else 900}, is_mobile=phone)
    page.goto(server.url + f"?lang={lang}")
    _plot_ready(page, "trajectory")
    problems = []
    for index, name in enumerate(TAB_NAMES):
        _open(page, index, name)  # the Compare tab too is computed when opened: no button press
        problems += [f"{name}: axe {v}" for v in axe_violations(page)]
        for fig in page.evaluate(FIGURE_CHECK, PLOTS[name]):
            if fig["smallest"] < 11:
                problems.append(f"{name}/{fig['id']}: a label of {fig['smallest']} px")
            problems += [f"{name}/{fig['id']}: axis title over a tick label: {c}" for c in fig["clashes"]]
            if phone and fig["toolbar"]:
                problems.append(f"{name}/{fig['id']}: Plotly's toolbar is shown on a phone")
            if fig["toolbarOnTitle"]:
                problems.append(f"{name}/{fig['id']}: Plotly's toolbar lies on the title")
        problems += [f"{name}: number split over two lines: {n}" for n in page.evaluate(SPLIT_NUMBERS)]
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 2:
            problems.append(f"{name}: the page is {overflow} px wider than the screen")
    if lang == "ko":  # Korean breaks between words: the title, the headings, the help texts, the card
        problems += [f"Korean word split: {w}" for w in page.evaluate(WORD_SPLITS, "#title, .prose h2, .prose p, #card")]
    assert not problems, "\n".join(problems)
    page.close()


def test_api_tab_shows_the_pages_own_address(server, browser):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(server.url + "?tab=api")
    page.wait_for_function("(document.querySelector('#api-md')?.innerText || '').includes('Client(')", timeout=60_000)
    text = page.inner_text("#api-md")
    address = urlparse(server.url)
    assert f'Client("http://{address.hostname}:{address.port}/")' in text
    assert "7860" not in text or address.port == 7860
    page.close()


def test_long_headline_table_keeps_answer_and_probabilities_in_view(server, browser):
    """A 300-word headline made its row taller than the table's 360 px box, and the answer and the
    probabilities, centred in the row, fell outside it: blank cells. The headline now scrolls in its cell."""
    words = ("Stocks rally as chipmakers report record sales while investors weigh the central bank outlook " * 24)
    text = " ".join(words.split()[:300]) + "\nStriker scores twice in stoppage time"
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(server.url)
    _plot_ready(page, "trajectory")
    page.fill("#headlines textarea", text)
    page.click("#read")
    page.wait_for_function("(document.querySelector('#table')?.innerText || '').includes('Striker scores')",
                           timeout=120_000)
    page.locator("#table").scroll_into_view_if_needed()
    cells = page.evaluate("""() => {
        const view = document.querySelector('#table .virtual-table-viewport').getBoundingClientRect();
        return [...document.querySelectorAll('#table .virtual-row')].map(row =>
            [...row.querySelectorAll(':scope > .body-cell')].slice(2, 7).map(cell => {
                const text = cell.querySelector('.text') || cell;
                const r = text.getBoundingClientRect();
                return [text.innerText.trim(), r.top >= view.top - 1 && r.bottom <= view.bottom + 1 && r.height > 0];
            }));
    }""")
    assert len(cells) == 2
    for row in cells:
        assert all(value and visible for value, visible in row), row  # the answer and the four probabilities
    assert axe_violations(page) == []
    page.close()


@pytest.mark.parametrize("tab", TAB_NAMES)
def test_embed_mode_passes_axe(server, browser, tab):
    """?embed=1 (page/assets.py, page.css .rnn-embed) in a phone-sized frame, Korean, stepped to a middle
    word on the Read tab: the compact page is checked as the lesson page is."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(server.url + f"?embed=1&lang=ko&tab={tab}&step=3")
    page.wait_for_function("document.documentElement.classList.contains('rnn-embed') || "
                           "document.body.classList.contains('rnn-embed')", timeout=60_000)
    page.wait_for_function("(window.rnnReaderState?.drawn || 0) > 0", timeout=90_000)
    for plot in PLOTS[tab]:
        _drawn(page, plot)
    page.wait_for_timeout(600)
    assert axe_violations(page) == []
    page.close()


@pytest.mark.parametrize("lang, width", [("en", 1366), ("ko", 390)])
def test_widget_passes_axe(widget_server, browser, lang, width):
    page, errors, _ = open_widget(browser, f"{widget_server}/int8/index.html?model=bilstm&lang={lang}",
                                  width=width, height=844 if width < 700 else 900)
    page.wait_for_selector("#prefix .main-svg")
    assert axe_violations(page) == []
    if lang == "ko":  # the widget's Korean too breaks between words
        assert page.evaluate(WORD_SPLITS, "h1, h2, .intro, .help, .notes") == []
    assert not errors
    page.close()

