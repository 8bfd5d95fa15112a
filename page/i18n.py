"""The app's languages: translation files as data, and the language of the current request.

Translations live in `page/locales/LANG.json` (flat {key: text}; one file per language, so
adding a language is adding a file). The app uses keys `app.*`, `view.*`, `help.*`, `primer.*`,
`note.*`, `plot.*`, `card.*`, `lesson.*`, `model.*` and `class.*`; the in-browser widget shares
the files (`widget.*`, `lang.*`). `tests/test_locales.py` fails when a key is missing anywhere.

Figures, tables and notes are built deep inside `views`, `figures` and `lesson_views`. Rather than
thread a `lang` argument through every builder, a handler runs inside `with language(lang):` and
the builders call `tr(key)`; a ContextVar keeps concurrent requests (Gradio worker threads) apart.
Outside any `language(...)` block (the JSON API, the tests) the text is English.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import re
from functools import lru_cache
from pathlib import Path

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT = "en"
_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("rnn_demo_language", default=DEFAULT)
# App-side key prefixes handed to gr.I18n (the widget's keys are not needed by the page).
APP_PREFIXES = ("app.", "view.", "help.", "primer.", "note.", "plot.", "card.", "lesson.", "model.", "class.",
                "lang.")


class LocaleError(ValueError):
    """A translation file that cannot be used (names the file)."""


@lru_cache(maxsize=1)
def locales() -> dict[str, dict[str, str]]:
    """{lang: {key: text}} from every LANG.json (read once); English is required (the fallback)."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(LOCALES_DIR.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LocaleError(f"{path}: not readable UTF-8 JSON ({exc})") from exc
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise LocaleError(f"{path}: a translation file must be one flat JSON object of strings")
        found[path.stem] = data
    if DEFAULT not in found:
        raise LocaleError(f"{LOCALES_DIR / (DEFAULT + '.json')} is missing (English is the fallback language)")
    return found


def languages() -> list[str]:
    """Language codes with a file, English first."""
    return sorted(locales(), key=lambda code: (code != DEFAULT, code))


def names() -> dict[str, str]:
    """{code: the language's name in that language} for the language switch, English first."""
    return {code: locales()[code].get("lang.name", code) for code in languages()}


def current() -> str:
    return _CURRENT.get()


@contextlib.contextmanager
def language(lang: str | None):
    """Run the block with `lang` as the language of tr() (unknown codes fall back to English)."""
    token = _CURRENT.set(lang if lang in locales() else DEFAULT)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def tr(key: str, lang: str | None = None, **values) -> str:
    """The text of `key` in `lang` (default: the current request's), with {placeholders} filled.

    A key missing in that language falls back to English; a key missing in English is a bug and
    raises KeyError naming it (tests call every view, so a typo fails there, not in front of a class).
    """
    table = locales()
    lang = lang or current()
    text = table.get(lang, {}).get(key)
    if text is None:
        text = table[DEFAULT].get(key)
    if text is None:
        raise KeyError(f"translation key {key!r} is not in {LOCALES_DIR / 'en.json'}")
    if not values:
        return text
    text = text.format(**values)
    return korean_particles(text) if lang == "ko" else text


# ---- Korean particles: "은(는)" after a filled-in name becomes the form its last sound takes

# (form after a final consonant, form after a vowel) for each "A(B)" written in ko.json
_PARTICLES = {"은(는)": ("은", "는"), "이(가)": ("이", "가"), "을(를)": ("을", "를"), "과(와)": ("과", "와"),
              "(으)로": ("으로", "로")}
_PARTICLE = re.compile(r"(\S)([\"'’”)\]]*)(은\(는\)|이\(가\)|을\(를\)|과\(와\)|\(으\)로)")
# how each digit is read: does its Korean name end in a consonant (영 일 삼 육 칠 팔), and is it ㄹ (일 칠 팔)
_DIGIT_FINAL = {"0": "ㅇ", "1": "ㄹ", "3": "ㅁ", "6": "ㄱ", "7": "ㄹ", "8": "ㄹ"}
_RIEUL = 8  # index of ㄹ among the final consonants of a Hangul syllable


def _final_sound(text: str) -> str | None:
    """The final consonant of `text` read aloud ("ㄹ", another one as "C") or None for a vowel ending.

    Hangul from the syllable; digits by their Korean names; a Latin word by its last letters: l, m, n,
    "ng" and r after a consonant ("rnn", "lstm" are spelled out: 엘, 엠, 엔, 알) end in a consonant,
    other letters and "-er" words ("layer": 레이어) in a vowel.
    """
    last = text[-1]
    if "\uac00" <= last <= "\ud7a3":
        final = (ord(last) - 0xAC00) % 28
        return None if final == 0 else "ㄹ" if final == _RIEUL else "C"
    if last in "0123456789":
        final = _DIGIT_FINAL.get(last)
        return "ㄹ" if final == "ㄹ" else (None if final is None else "C")
    word = re.search(r"[A-Za-z]+$", text)
    if word:
        w = word.group().lower()
        if w.endswith("l") or (w.endswith("r") and (len(w) == 1 or w[-2] not in "aeiouy")):
            return "ㄹ"
        if w.endswith(("m", "n", "ng")):
            return "C"
    return None


def korean_particles(text: str) -> str:
    """Replace each both-ways particle ("lesson-lstm은(는)") by the one the preceding word takes."""
    def pick(match: re.Match) -> str:
        before, closing, written = match.groups()
        start = match.start(1)
        sound = _final_sound(text[max(0, start - 40):start + 1])
        after_consonant, after_vowel = _PARTICLES[written]
        if written == "(으)로":  # ㄹ takes 로, as a vowel does
            form = after_vowel if sound in (None, "ㄹ") else after_consonant
        else:
            form = after_vowel if sound is None else after_consonant
        return before + closing + form
    return _PARTICLE.sub(pick, text)


def class_key(name: str) -> str:
    """'Sci/Tech' -> 'class.sci_tech' (the same rule as the widget's)."""
    return "class." + re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def class_label(name: str, lang: str | None = None) -> str:
    """A class name in the current language; an unknown class keeps its own name."""
    key = class_key(name)
    return tr(key, lang) if key in locales()[DEFAULT] else name


_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


def choose(requested: str | None, accept_language: str | None = None) -> tuple[str, str | None]:
    """(language, note): `?lang=` when it names a language with a file, else the best match of the
    browser's Accept-Language header, else English. The note (English; the caller translates it)
    says why a requested language was not used."""
    langs = locales()
    if requested:
        code = requested.strip().lower()
        if _TAG.match(code) and code.split("-")[0] in langs:
            return code.split("-")[0], None
        return _from_header(accept_language), "unknown_lang"
    return _from_header(accept_language), None


def _from_header(header: str | None) -> str:
    langs = locales()
    weighted = []
    for i, part in enumerate((header or "").split(",")[:20]):  # a header of thousands of parts is not parsed
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        code = tag.strip().lower().split("-")[0]
        if code in langs and q > 0:
            weighted.append((-q, i, code))
    return min(weighted)[2] if weighted else DEFAULT


def gradio_tables() -> dict[str, dict[str, str]]:
    """{lang: {key: text}} of the page's keys, for gr.I18n (translated in the browser)."""
    return {lang: {k: v for k, v in table.items() if k.startswith(APP_PREFIXES)} for lang, table in locales().items()}


def head_script() -> str:
    """The page head's <script> (static/lang.js): applies ?lang= to the labels translated in the browser."""
    js = (Path(__file__).resolve().parent / "static" / "lang.js").read_text(encoding="utf-8")
    return "<script>\n" + js.replace("__LANGS__", json.dumps(languages())) + "</script>"
