"""Languages without a browser: every key the code asks for exists, the language follows the request,
deep-link parameters are validated, and the views come out in Korean when asked."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from page import figures, fragments, i18n, links
from page.i18n import language, locales, tr
from page.tabs import TAB_NAMES

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "app.py", *sorted((ROOT / "page").glob("*.py"))]
LITERAL_KEY = re.compile(r"""\b(?:tr|T|i18n\.tr)\(\s*["']([a-z_]+\.[A-Za-z0-9_.\-]+)["']\s*[,)]""")
# tr(f"plot.{name}") and tr("lesson.mode_" + m): a family of keys sharing a prefix
PREFIX_KEY = re.compile(r"""\b(?:tr|i18n\.tr)\(\s*f?["']([a-z_]+\.[a-z_]*)(?:\{|["']\s*\+)""")


def test_every_literal_key_in_the_code_is_in_every_language():
    used = {k for path in SOURCES for k in LITERAL_KEY.findall(path.read_text(encoding="utf-8"))}
    assert len(used) > 100, len(used)  # the scan found the page's keys
    for lang, table in locales().items():
        assert not used - set(table), f"{lang}.json lacks {sorted(used - set(table))}"


def test_every_prefix_key_family_exists():
    prefixes = {k for path in SOURCES for k in PREFIX_KEY.findall(path.read_text(encoding="utf-8"))}
    assert prefixes, "scan found no tr(f'prefix.{...}') calls"
    for prefix in prefixes:
        assert any(k.startswith(prefix) for k in locales()["en"]), prefix


def test_tr_language_context_fallback_and_missing_key():
    assert tr("app.read") == "Read"
    with language("ko"):
        assert tr("app.read") == "읽기"
        assert tr("note.too_many", given=40, kept=32).startswith("제목이 40개")
    with language("xx"):  # unknown: English
        assert tr("app.read") == "Read"
    with pytest.raises(KeyError, match="no.such.key"):
        tr("no.such.key")


def test_language_is_per_thread_of_work():
    seen = {}

    def work(lang):
        with language(lang):
            threading.Event().wait(0.05)
            seen[lang] = tr("app.read")

    threads = [threading.Thread(target=work, args=(lang,)) for lang in ("en", "ko")]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert seen == {"en": "Read", "ko": "읽기"}


@pytest.mark.parametrize("requested, header, expected", [
    ("ko", "en-US,en;q=0.9", ("ko", None)),
    ("KO-kr", None, ("ko", None)),
    (None, "ko-KR,ko;q=0.9,en;q=0.8", ("ko", None)),
    (None, "fr-FR,en;q=0.5,ko;q=0.4", ("en", None)),
    (None, None, ("en", None)),
    ("xx", "ko", ("ko", "unknown_lang")),
    ("<script>", None, ("en", "unknown_lang")),
])
def test_choose_language(requested, header, expected):
    assert i18n.choose(requested, header) == expected


def test_head_script_lists_the_languages_and_only_switches_known_ones():
    script = i18n.head_script()
    assert '["en", "ko"]' in script and "changeLocale" in script and "core-" in script


MODELS = ["lesson-rnn", "gru"]


def test_deep_link_valid():
    link = links.parse_link({"model": "gru", "text": "a\nb", "tab": "Packing", "k": "7", "dims": "3", "lang": "ko"},
                           MODELS, "lesson-rnn", 40)
    assert (link.model, link.text, link.tab, link.k, link.dims, link.notes) == ("gru", "a\nb", "packing", 7, 3, [])


@pytest.mark.parametrize("params, key", [
    ({"model": "nope"}, "note.link_unknown_model"),
    ({"tab": "settings"}, "note.link_unknown_tab"),
    ({"k": "41"}, "note.link_bad_k"),
    ({"k": "-3"}, "note.link_bad_k"),
    ({"k": "seven"}, "note.link_bad_k"),
    ({"dims": "4"}, "note.link_bad_dims"),
    ({"lang": "xx"}, "note.link_unknown_lang"),
    ({"text": "w " * 2000}, "note.link_long_text"),
])
def test_deep_link_problems_become_notes_in_every_language(params, key):
    link = links.parse_link(params, MODELS, "lesson-rnn", 40)
    assert [k for k, _ in link.notes] == [key]
    assert link.model in MODELS and link.tab in TAB_NAMES and (link.k is None or 0 <= link.k <= 40)
    assert link.text is None or len(link.text) <= links.MAX_LINK_TEXT
    for lang in locales():
        assert tr(key, lang, **link.notes[0][1])  # every placeholder is given


def test_not_english():
    from page.inputs import not_english
    assert not_english("중앙은행이 금리를 올렸다") and not_english("Центральный банк повысил ставку")
    assert not not_english("Central bank raises rates") and not not_english("Pokémon café opens in Zürich")
    assert not not_english("2024: 3-1") and not_english("삼성 반도체 실적 발표, AI 수요 덕분")


def test_answer_bars_use_the_class_palette_and_escape():
    classes = ("World", "Sports", "Business", "Sci/Tech")
    out = fragments.answer_html({"World": 0.1, "Sports": 0.7, "Business": 0.1, "Sci/Tech": 0.1}, classes)
    assert all(c in out for c in figures.CLASS_COLORS) and "70.0%" in out
    with language("ko"):
        assert "스포츠" in fragments.answer_html({"World": 1.0}, classes)
    assert "<b>" not in fragments.answer_html(None, classes, "<b>x</b>")


def test_importance_strip_writes_numbers_and_keeps_weak_words_visible():
    out = fragments.importance_html(["good", "<i>bad</i>", "zzz"], np.array([0.2, -0.01, 0.0]), [True, True, False])
    assert "+20.0" in out and "-1.0" in out and "&lt;i&gt;" in out and "(unknown)" in out
    alphas = [float(a) for a in re.findall(r"rgba\([\d,]+,([\d.]+)\)", out)[:3]]
    assert min(alphas) >= 0.25


def test_figures_and_tables_in_korean(tmp_path):
    from helpers import write_tiny_checkpoints
    from page import card, lesson_views, views
    from page.registry import Registry
    reg = Registry(write_tiny_checkpoints(tmp_path / "ck"))
    with language("ko"):
        result = views.analyze_page(reg, "bank cuts rates again\nteam wins the final match", "gru")
        card, confusion, curves = card.model_card(reg, "gru")
        fig, md = lesson_views.packing_view(reg, "bank cuts rates", 3)
    strings = result.payload["strings"]
    assert "정방향" in strings["forward"] and "단어" in strings["word"] and "은닉 상태" in result.payload["cells"]["panels"][0]["label"]
    assert list(result.table.columns)[:3] == ["번호", "제목", "답"] and "경제" in result.table.columns
    assert "혼동 행렬" in confusion.layout.title.text and "| 설정 | 값 |" in card
    assert "k = 3" in md and "패딩" in fig.layout.title.text + md
    english = views.analyze_page(reg, "bank cuts rates again", "gru")  # outside: English, as the API
    assert english.payload["strings"]["forward"].startswith("forward reader")


# ---- Korean: particles after names and numbers, setting names, the card's epochs, texts that match the screen

@pytest.mark.parametrize("name, topic, obj", [
    ("lesson-lstm", "은", "을"), ("lesson-rnn", "은", "을"), ("bilstm", "은", "을"), ("gru", "는", "를"),
    ("bilstm-2layer", "는", "를"), ("bag-of-embeddings", "는", "를"), ("lesson-lstm-packed", "는", "를"),
    ("모델", "은", "을"), ("나무", "는", "를"), ("embedding", "은", "을")])
def test_korean_particles_follow_the_word_before_them(name, topic, obj):
    """"lesson-lstm은(는)" was shown as is: the particle is chosen by how the word ends when read aloud."""
    with language("ko"):
        assert tr("lesson.packing_same", model=name).startswith(f"{name}{topic} ")
        link = tr("note.link_unknown_model", value=name, model=name, names="gru")
    assert f'"{name}"{topic} ' in link and f"{name}{obj} " in link


@pytest.mark.parametrize("k, obj", [(0, "을"), (1, "을"), (2, "를"), (3, "을"), (5, "를"), (10, "을"), (39, "를")])
def test_korean_particles_after_numbers(k, obj):
    with language("ko"):
        assert f"{k}{obj} " in tr("note.link_bad_k", value="x", max=40, k=k)


def test_no_korean_text_keeps_a_both_ways_particle():
    values = {"model": "lesson-lstm", "value": "gru", "names": "gru, bilstm", "k": 7, "what": "bilstm"}
    with language("ko"):
        for key, text in locales()["ko"].items():
            names = set(re.findall(r"\{([a-z_]+)\}", text))
            out = tr(key, **{n: values.get(n, "gru") for n in names}) if names else tr(key)
            assert not re.search(r"\((?:는|은|를|을|가|이|와|과|으)\)", out), (key, out)


def test_training_settings_are_named_in_the_pages_language(tmp_path):
    from helpers import write_tiny_checkpoints
    from page import card
    from page.registry import Registry
    from rnn_demo.checkpoint import METRICS_FILE

    root = write_tiny_checkpoints(tmp_path / "ck", presets=("gru",))
    metrics_path = root / "gru" / METRICS_FILE
    import json
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    metrics["settings"] = {"epochs": 12, "batch_size": 16, "lr": 0.001, "weight_decay": 0.0, "seed": 0,
                           "max_len": 200, "val_fraction": 0.05, "min_freq": 3, "clip": 5.0, "word_dropout": 0.0,
                           "batching": "random", "dropout": 0.3, "some_new_knob": 1}
    metrics["best_epoch"] = 1
    metrics_path.write_text(json.dumps(metrics), encoding="utf-8")
    reg = Registry(root)
    with language("ko"):
        text, _, _ = card.model_card(reg, "gru")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(metrics["settings"])
    for row in rows:
        first = row.split(" | ")[0]
        assert HANGUL.search(first) or "some_new_knob" in first, row  # a known setting has a Korean name
    assert "`batch_size`" in text  # and keeps the name the training command uses
    with language("en"):
        text, _, curves = card.model_card(reg, "gru")
    # "2 epochs trained, the weights of epoch 1 kept": the card and the curve say the same thing
    assert "2" in text and "epoch 1" in text and any(a.text == "kept: epoch 1" for a in curves.layout.annotations)


HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_help_texts_say_what_the_screen_shows():
    en, ko = locales()["en"], locales()["ko"]
    # the end of a path is drawn as a filled star
    assert "★" in en["help.trajectory"] and "☆" not in en["help.trajectory"] and "★" in ko["help.trajectory"]
    # the chips are vermillion (orange) and purple, and a positive number means the probability dropped
    assert not re.search(r"\bred\b", en["help.importance"].lower()) and "orange" in en["help.importance"].lower()
    assert "빨간" not in ko["help.importance"] and "주황" in ko["help.importance"]
    assert "drops" in en["app.importance_for"] and "rises" in en["app.importance_against"]


def _luminance(rgb) -> float:
    c = np.asarray(rgb, dtype=float) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ [0.2126, 0.7152, 0.0722])


def test_importance_chips_text_has_enough_contrast_at_every_strength():
    """WCAG AA (4.5:1) for the word and its number on every chip, however strong its colour."""
    scores = np.linspace(-1, 1, 41)
    out = fragments.importance_html([f"w{i}" for i in range(41)], scores, [True] * 41)
    chips = re.findall(r'background:rgba\((\d+),(\d+),(\d+),([\d.]+)\);color:(#[0-9a-f]{6})', out)
    assert len(chips) >= 41
    for r, g, b, a, text in chips:
        a = float(a)
        bg = [a * float(v) + (1 - a) * 255 for v in (r, g, b)]  # over the white page
        fg = [int(text[i:i + 2], 16) for i in (1, 3, 5)]
        hi, lo = sorted([_luminance(bg), _luminance(fg)], reverse=True)
        assert (hi + 0.05) / (lo + 0.05) >= 4.5, (r, g, b, a, text)
