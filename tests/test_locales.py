"""Translation files (page/locales/LANG.json): every language has every key, the same
placeholders, real text, and a text for every class the models answer."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from page.i18n import class_key, locales
from rnn_demo import CLASS_NAMES
from rnn_demo.catalog import MODELS

LOCALES = Path(__file__).resolve().parents[1] / "page" / "locales"
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LANGS = locales()


def test_english_and_korean_exist_and_are_flat_string_maps():
    assert {"en", "ko"} <= set(LANGS)
    for lang, strings in LANGS.items():
        assert strings, lang
        assert all(isinstance(v, str) and v.strip() for v in strings.values()), lang


@pytest.mark.parametrize("lang", sorted(set(LANGS) - {"en"}))
def test_every_key_in_every_language(lang):
    en, other = set(LANGS["en"]), set(LANGS[lang])
    assert not en - other, f"{lang}.json lacks {sorted(en - other)}"
    assert not other - en, f"{lang}.json has keys English lacks (typo?): {sorted(other - en)}"


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_placeholders_match_english(lang):
    for key, text in LANGS[lang].items():
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(LANGS["en"][key])), (lang, key)


def test_every_class_has_a_name_in_every_language():
    for lang, strings in LANGS.items():
        for name in CLASS_NAMES:
            assert class_key(name) in strings, (lang, name)


def test_korean_is_translated_not_copied():
    untranslated = [k for k, v in LANGS["ko"].items() if v == LANGS["en"][k] or not HANGUL.search(v)]
    assert untranslated == [], untranslated


def test_files_are_utf8_json_objects():
    for path in LOCALES.glob("*.json"):
        assert isinstance(json.loads(path.read_bytes().decode("utf-8")), dict), path


def test_every_shipped_model_is_described_in_every_language():
    """rnn_demo.catalog.MODELS is the one list of models; each has its plain-words description."""
    for lang, strings in LANGS.items():
        missing = [name for name in MODELS if f"model.{name}" not in strings]
        assert missing == [], (lang, missing)
