"""One input rule everywhere: `page.inputs.input_problem` decides which texts get no answer (not
English, no known words, numbers and punctuation only, nothing to read), every view that shows an
answer follows it with the same note, and web/input_rule.js gives the widget the same codes."""
from __future__ import annotations

import json
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from helpers import shown
from page.i18n import language, locales, tr
from rnn_demo.checkpoint import discover_checkpoints

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {f.name: f for f in discover_checkpoints(ROOT / "checkpoints")}
NODE = shutil.which("node")
EN, KO = locales()["en"], locales()["ko"]
# The issue's three examples, and what the rule says about each.
KOREAN = "삼성전자 주가 급등, 반도체 수출 호조"
UNICODE = "Ünïcödé café naïve résumé — über-cool"
NUMBERS = "2024 3.5 100 42"
EXPECTED = {KOREAN: "not_english", UNICODE: "no_known_words", NUMBERS: "numbers_only",
            "zzqx 2024 , .": "no_known_words", '"" ;: ;': "empty", "Центральный банк повысил ставку": "not_english",
            "Apple and Microsoft report record profits": None, "삼성 Samsung shares jump": None}
# Inputs on which the Python rule and the JS rule are compared (besides every single character).
CASES = [*EXPECTED, "", " ", "...", "''", "😀 👍🏽", "<unk> <pad>", "<unk> stocks", "3M 2024", "G7 summit",
         "ab 가나다", "abc 가나다", "abcd 가나다", "Ελληνικά νέα", "ΟΔΟΣ bank", "日本語のニュース", "مرحبا بالعالم",
         "Pokémon café opens in Zürich", "İstanbul stocks rise", "ǅemal wins", "naïve", "ſtocks", "ﬁnance ﬂows",
         "#39;s &quot;quoted&quot;", "U.S. stocks: up 3.5% (NYSE)", "a\u0301e\u0308", "\ud800 lone", "x" * 3,
         "1st place", "²³ ¼", "Ⅻ Ⅳ", "ª º µ", "ℌ ℕ", "𝐁𝐚𝐧𝐤 𝐫𝐚𝐭𝐞𝐬", "ＡＢＣ bank", "_ _ _", "— – -"]


def shipped_vocab():
    from rnn_demo.checkpoint import load_checkpoint

    if "lesson-lstm" not in SHIPPED:
        pytest.skip("the shipped lesson-lstm checkpoint is needed")
    return load_checkpoint(SHIPPED["lesson-lstm"]).vocab


@pytest.fixture(scope="module")
def reg():
    from page.registry import Registry
    from rnn_demo.catalog import MODELS

    if set(MODELS) - set(SHIPPED):
        pytest.skip("every shipped checkpoint is needed")
    return Registry(ROOT / "checkpoints")


def test_the_rule_on_the_issues_examples():
    from page.inputs import INPUT_PROBLEMS, input_problem

    vocab = shipped_vocab()
    assert {text: input_problem(text, vocab) for text in EXPECTED} == EXPECTED
    assert set(EXPECTED.values()) - {None} == set(INPUT_PROBLEMS)


@pytest.mark.parametrize("text, code", [(KOREAN, "not_english"), (UNICODE, "no_known_words"), (NUMBERS, "numbers_only")])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_view_refuses_what_the_read_tab_refuses(reg, text, code, lang):
    """Read, Compare, word order, memory and packing: no answer, and the same note, in the page's language."""
    from page import lesson_views, views

    strings = locales()[lang]
    note_key = "note.not_english" if code == "not_english" else f"note.input_{code}"
    label_key = "note.not_english_label" if code == "not_english" else f"note.input_{code}_label"
    with language(lang):
        note = tr(note_key, index=1, model="lesson-lstm")
        first_words = note.split("{")[0][:12]  # the note's opening words, whatever the model's name
        page = views.analyze_page(reg, text + "\nStriker scores twice", "lesson-lstm")
        bars, table, _, compare_notes = views.compare_view(reg, text)
        order_fig, order_md = lesson_views.word_order_view(reg, text)
        live, _, memory_md = lesson_views.memory_view(reg, text, "lesson-lstm")
        packing_fig, packing_md = lesson_views.packing_view(reg, text, 10)
    # Read: no answer for the first headline; its table row says why; the second headline is answered
    assert page.label is None and strings[label_key] in page.answer and "%" not in page.answer
    assert first_words in shown(page.notes) and page.payload["answerable"] is False  # nor do the stepper's bars
    answers = list(page.table.iloc[:, 2])
    assert answers[0] == strings[label_key] and answers[1] != strings[label_key]
    # Compare: no bars, every model's row says why, and the note
    assert not [t for t in bars.data if t.type == "bar"]
    assert strings[label_key] in json.dumps(bars.to_dict(), ensure_ascii=False)
    assert set(table.iloc[:, 3]) == {strings[label_key]} and first_words in shown(compare_notes)
    # word order, memory and packing: a message instead of the answers, and the note
    for fig, md in ((order_fig, order_md), (live, memory_md), (packing_fig, packing_md)):
        assert not [t for t in fig.data if t.type in ("bar", "scatter")], fig.layout.title
        assert strings[label_key] in json.dumps(fig.to_dict(), ensure_ascii=False) and first_words in shown(md)
    assert "|---|---|---:|" not in packing_md  # no table of answers


def test_analyze_says_why_and_predict_keeps_its_shape(reg):
    from page import views

    out = views.analyze(reg, KOREAN, "gru")
    assert out["input_problem"] == "not_english" and any("not written in English" in n for n in out["notes"])
    assert views.analyze(reg, "Apple and Microsoft report record profits", "gru")["input_problem"] is None
    assert views.analyze(reg, NUMBERS, "gru")["input_problem"] == "numbers_only"
    probs = views.predict(reg, KOREAN, "gru")
    assert set(probs) == set(reg.class_names) and sum(probs.values()) == pytest.approx(1.0, abs=1e-5)


def test_compare_table_refuses_only_the_headlines_the_rule_refuses(reg):
    from page import views

    _, table, _, notes = views.compare_view(reg, f"Apple and Microsoft report record profits\n{NUMBERS}")
    answers = table.groupby(table.columns[0])[table.columns[3]].apply(set)
    assert EN["note.input_numbers_only_label"] not in answers.iloc[0]
    assert answers.iloc[1] == {EN["note.input_numbers_only_label"]}
    assert "Headline 2 has only numbers" in notes


# ----------------------------------------------------------------------------- the same rule in JS

def js_rule(texts: list[str], vocab_tokens: list[str], tmp_path: Path) -> list[str | None]:
    """web/input_rule.js's inputProblem on each text, with web/tokenizer.js and the given vocabulary, in node."""
    from export import web

    if NODE is None:
        pytest.skip("node is not installed (apt-get install nodejs)")
    tables, vocab, inputs = tmp_path / "lowercase.json", tmp_path / "vocab.json", tmp_path / "texts.json"
    tables.write_text(json.dumps(web.tokenizer_tables(), ensure_ascii=False), encoding="utf-8")
    vocab.write_text(json.dumps(vocab_tokens, ensure_ascii=False), encoding="utf-8")
    inputs.write_text(json.dumps(texts), encoding="utf-8")  # ASCII escapes: lone surrogates survive the trip
    script = f"""
import {{ readFileSync }} from "node:fs";
import {{ Tokenizer, casingTables }} from {json.dumps((ROOT / "web" / "tokenizer.js").as_uri())};
import {{ inputProblem }} from {json.dumps((ROOT / "web" / "input_rule.js").as_uri())};
const read = (p) => JSON.parse(readFileSync(p, "utf8"));
const tokenizer = new Tokenizer(read({json.dumps(str(vocab))}), casingTables(read({json.dumps(str(tables))})), 1);
const out = read({json.dumps(str(inputs))}).map((text) => {{
  const {{ tokens, ids }} = tokenizer.encode(text);
  return inputProblem(text, tokens, ids);
}});
process.stdout.write(JSON.stringify(out));
"""
    done = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert len(out) == len(texts)
    return out


def test_js_rule_is_the_python_rule_on_the_same_inputs(tmp_path):
    from page.inputs import input_problem

    vocab = shipped_vocab()
    got = js_rule(CASES, list(vocab.tokens), tmp_path)
    want = [input_problem(t, vocab) for t in CASES]
    assert [(t, g) for t, g, w in zip(CASES, got, want) if g != w] == []
    assert {t: g for t, g in zip(CASES, got) if t in EXPECTED} == EXPECTED


def test_js_rule_classifies_every_character_as_python_does(tmp_path):
    """Every code point Python's Unicode tables assign, alone and after one Latin letter: which
    characters are letters, and which letters are Latin, agree in both languages."""
    from page.inputs import input_problem

    vocab = shipped_vocab()
    chars = [chr(c) for c in range(0x110000)
             if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) not in ("Cn", "Co")]
    texts = [*chars, *(f"x{c}{c}" for c in chars)]  # alone; and a minority of one Latin letter against two
    got = js_rule(texts, list(vocab.tokens), tmp_path)
    want = [input_problem(t, vocab) for t in texts]
    bad = [(hex(ord(t[-1])), g, w) for t, g, w in zip(texts, got, want) if g != w]
    assert bad == [], f"{len(bad)} differ, e.g. {bad[:5]}"


# ----------------------------------------------------------------------------- in the browser

def test_every_tab_of_the_page_says_why_in_korean(server, browser):
    """A deep link per tab with the Korean example: the note in Korean, and no percentage as an answer."""
    from urllib.parse import urlencode

    page = browser.new_page(viewport={"width": 1366, "height": 900})
    note_start = KO["note.not_english"].split("{")[1].split("}")[1][:8]  # "번째 제목은 영어가" after the index
    label = KO["note.not_english_label"]
    checks = {"read": ("#notes", note_start), "compare": ("#compare-bars", label), "order": ("#order-md", note_start),
              "memory": ("#memory-md", note_start)}
    for tab, (selector, needle) in checks.items():
        page.goto(server.url + "?" + urlencode({"tab": tab, "text": KOREAN, "lang": "ko", "model": "lesson-lstm"}))
        page.wait_for_function("([s, n]) => { const e = document.querySelector(s); return e && e.innerText.includes(n); }",
                               arg=[selector, needle], timeout=90_000)
    assert "%" not in page.inner_text("#answer") and KO["note.not_english_label"] in page.inner_text("#answer")
    page.goto(server.url + "?" + urlencode({"tab": "packing", "text": KOREAN, "lang": "ko", "k": "3"}))
    page.wait_for_function("n => (document.querySelector('#packing-table')?.innerText || '').includes(n)",
                           arg=note_start, timeout=90_000)
    page.close()


@pytest.mark.parametrize("text, key", [(KOREAN, "widget.not_english"), (UNICODE, "widget.all_unknown"),
                                       (NUMBERS, "widget.numbers_only")])
def test_widget_gives_no_answer_where_the_page_gives_none(widget_server, browser, text, key):
    from test_web import open_widget, set_text

    page, errors, _ = open_widget(browser, f"{widget_server}/int8/index.html?model=lesson-lstm&lang=ko")
    set_text(page, "Apple and Microsoft report record profits")
    assert page.inner_text("#answer") != ""  # an English headline is answered
    set_text(page, text)
    assert page.inner_text("#answer") == "" and KO[key] in page.inner_text("#notes")
    assert page.get_attribute("#answer", "data-problem") == {"widget.not_english": "not_english",
                                                             "widget.all_unknown": "no_known_words",
                                                             "widget.numbers_only": "numbers_only"}[key]
    assert not errors
    page.close()


# The page's server and browser (test_browser's fixtures), and the built widget's server (test_web's).
from test_browser import browser, server  # noqa: E402,F401
from test_web import fp32_site, int8_site  # noqa: E402,F401
from test_web import server as widget_server  # noqa: E402,F401
