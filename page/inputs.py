"""The page's input rule: what a typed text becomes, and what is said about it.

Every view reads its text through `split_headlines` (one headline per non-empty line, at most
MAX_HEADLINES, each cut at MAX_CHARS), and the notes it returns are shown in the page's language.
`input_problem` decides whether a headline can be answered at all; every view that shows an
answer asks it, and web/input_rule.js is the same rule for the in-browser widget.
"""
from __future__ import annotations

import re

from rnn_demo import states
from rnn_demo.tokenizer import PAD_ID, UNK_ID

from .i18n import tr

MAX_HEADLINES = 32
MAX_CHARS = 2000
NON_LATIN = re.compile(r"[^\W\d_A-Za-z\u00C0-\u024F]")  # a letter outside the Latin alphabets


class InputError(ValueError):
    """Input the app cannot analyse (e.g. empty); the message is meant for the user."""


def split_headlines(text: str | None) -> tuple[list[str], list[str]]:
    """One headline per non-empty line, within the limits; returns (headlines, notes for the user)."""
    lines = [line.strip() for line in (text or "").splitlines()]
    lines = [line for line in lines if line]
    notes = []
    if len(lines) > MAX_HEADLINES:
        notes.append(tr("note.too_many", given=len(lines), kept=MAX_HEADLINES))
        lines = lines[:MAX_HEADLINES]
    for i, line in enumerate(lines):
        if len(line) > MAX_CHARS:
            notes.append(tr("note.too_long", index=i + 1, chars=f"{len(line):,}", kept=f"{MAX_CHARS:,}"))
            lines[i] = line[:MAX_CHARS]
    return lines, notes


def first_headline(text: str | None) -> tuple[str, list[str]]:
    """The first headline of `text` (the API's rule) and the notes; InputError when there is none."""
    headlines, notes = split_headlines(text)
    if not headlines:
        raise InputError("Please type a headline (the text is empty).")
    if len(headlines) > 1:
        notes.append(f"{len(headlines)} headlines given; this call analyses the first one.")
    return headlines[0], notes


def not_english(headline: str) -> bool:
    """True when most letters are not Latin (Korean, Chinese, Cyrillic, ...): the models read English only."""
    letters = [c for c in headline if c.isalpha()]
    return bool(letters) and sum(bool(NON_LATIN.match(c)) for c in letters) > len(letters) / 2


# Why a headline gets no answer, checked in this order (web/input_rule.js: the same codes and order).
INPUT_PROBLEMS = ("empty", "not_english", "numbers_only", "no_known_words")
_PROBLEM_NOTES = {"empty": "note.input_empty", "not_english": "note.not_english",
                  "numbers_only": "note.input_numbers_only", "no_known_words": "note.input_no_known_words"}
_PROBLEM_LABELS = {"empty": "note.input_empty_label", "not_english": "note.not_english_label",
                   "numbers_only": "note.input_numbers_only_label",
                   "no_known_words": "note.input_no_known_words_label"}


def _has_letter(token: str) -> bool:
    return any(c.isalpha() for c in token)


def input_problem(headline: str, vocab) -> str | None:
    """Why no view should answer `headline`, as a code of INPUT_PROBLEMS, or None when it can be read.

    "empty": the tokenizer finds nothing (only quotes, colons, semicolons); "not_english": most
    letters are not Latin (`not_english`); "numbers_only": no token has a letter (numbers,
    punctuation, symbols); "no_known_words": no token with a letter is in the vocabulary (numbers
    and commas alone say nothing about the topic). A model's answer to such a text comes from its
    biases and the unknown word, not from reading, so it is not shown as an answer anywhere.
    """
    tokens = vocab.tokenize(headline)
    if not tokens:
        return "empty"
    if not_english(headline):
        return "not_english"
    words = [t for t in tokens if _has_letter(t)]
    if not words:
        return "numbers_only"
    if all(vocab.lookup(t) in (PAD_ID, UNK_ID) for t in words):
        return "no_known_words"
    return None


def problem_note(code: str, index: int = 0, model: str = "") -> str:
    """The note for a code of `input_problem` about headline `index` (0-based), in the page's language."""
    return tr(_PROBLEM_NOTES[code], index=index + 1, model=model)


def problem_label(code: str) -> str:
    """The short text shown where the answer would be (e.g. "not English")."""
    return tr(_PROBLEM_LABELS[code])


def vocabulary_notes(entry, headline: str, index: int = 0) -> list[str]:
    """What the model cannot read in the headline: why it gets no answer (`input_problem`), or
    more words than it reads."""
    problem = input_problem(headline, entry.ckpt.vocab)
    if problem is not None:
        return [problem_note(problem, index, entry.name)]
    tokens = entry.ckpt.vocab.tokenize(headline)
    if len(tokens) > states.DEFAULT_MAX_TOKENS:
        return [tr("note.too_many_words", index=index + 1, words=len(tokens), kept=states.DEFAULT_MAX_TOKENS)]
    return []


MARKDOWN_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")  # every ASCII punctuation mark: each can be escaped


def plain_markdown(text: str) -> str:
    """`text` shown as itself inside Markdown (and the HTML Markdown becomes).

    Every ASCII punctuation mark gets a backslash, which CommonMark renders as the mark itself: no
    link, image, emphasis, heading, table, code span or HTML tag can form, and `http\\://` or
    `www\\.` is no longer an autolink. Whitespace runs (line breaks included) become one space, so
    a value cannot start a block of its own.
    """
    return MARKDOWN_PUNCTUATION.sub(r"\\\g<0>", " ".join(str(text).split()))


def notes_markdown(notes: list[str]) -> str:
    """User-facing notes as a Markdown list of plain texts: a headline, a link's value or a model name
    in a note can never become markup (the note texts themselves hold none)."""
    return "\n".join(f"- {plain_markdown(n)}" for n in dict.fromkeys(notes))
