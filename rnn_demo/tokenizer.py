"""A torchtext-free reproduction of `basic_english` plus a frequency-cut vocabulary.

torchtext stopped at 0.18 and cannot be imported with torch >= 2.4, so the lesson's
`get_tokenizer("basic_english")` and `build_vocab_from_iterator` are rebuilt here: the same
regex rules, applied in the same order, and a vocabulary saved as plain JSON data.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
PAD_ID = 0
UNK_ID = 1
VOCAB_FORMAT = "rnn_demo.vocab/1"

# torchtext.data.utils._basic_english_normalize: applied in this order after lower-casing.
_BASIC_ENGLISH_RULES = [
    (re.compile(r"\'"), " '  "),
    (re.compile(r"\""), ""),
    (re.compile(r"\."), " . "),
    (re.compile(r"<br \/>"), " "),
    (re.compile(r","), " , "),
    (re.compile(r"\("), " ( "),
    (re.compile(r"\)"), " ) "),
    (re.compile(r"\!"), " ! "),
    (re.compile(r"\?"), " ? "),
    (re.compile(r"\;"), " "),
    (re.compile(r"\:"), " "),
    (re.compile(r"\s+"), " "),
]


def basic_english(line: str) -> list[str]:
    """Split a line exactly as torchtext's `basic_english` tokenizer did."""
    line = line.lower()
    for pattern, replacement in _BASIC_ENGLISH_RULES:
        line = pattern.sub(replacement, line)
    return line.split()


class VocabError(ValueError):
    """A vocabulary file that is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Vocab:
    """Token <-> id mapping with PAD_ID=0 and UNK_ID=1 reserved."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.tokens) < 2 or self.tokens[PAD_ID] != PAD_TOKEN or self.tokens[UNK_ID] != UNK_TOKEN:
            raise VocabError(f"vocabulary must start with {PAD_TOKEN!r}, {UNK_TOKEN!r}")
        if len(set(self.tokens)) != len(self.tokens):
            raise VocabError("vocabulary has duplicate tokens")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index  # type: ignore[attr-defined]

    def lookup(self, token: str) -> int:
        return self._index.get(token, UNK_ID)  # type: ignore[attr-defined]

    def tokenize(self, text: str) -> list[str]:
        return basic_english(text)

    def encode(self, text: str) -> list[int]:
        """Text -> token ids (unknown words map to UNK_ID)."""
        return [self.lookup(t) for t in basic_english(text)]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 2, max_size: int | None = None) -> "Vocab":
        """Count tokens over `texts`; keep those seen >= min_freq times, most frequent first."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(basic_english(text))
        # Most frequent first, ties broken alphabetically so the result is deterministic.
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - 2)]
        return cls((PAD_TOKEN, UNK_TOKEN, *kept))

    def to_json(self, **extra) -> str:
        payload = {
            "format": VOCAB_FORMAT,
            "tokenizer": "basic_english",
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            **extra,
            "tokens": list(self.tokens),
        }
        return json.dumps(payload, ensure_ascii=False, indent=0)

    def save(self, path: str | Path, **extra) -> None:
        Path(path).write_text(self.to_json(**extra), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        path = Path(path)
        if not path.is_file():
            raise VocabError(f"{path}: tokenizer file is missing")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise VocabError(f"{path}: not valid JSON ({exc}); the file may be truncated") from exc
        if not isinstance(payload, dict) or payload.get("format") != VOCAB_FORMAT:
            raise VocabError(f"{path}: not a {VOCAB_FORMAT} vocabulary file")
        if payload.get("pad_id") != PAD_ID or payload.get("unk_id") != UNK_ID:
            raise VocabError(f"{path}: expected pad_id={PAD_ID}, unk_id={UNK_ID}")
        tokens = payload.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise VocabError(f"{path}: 'tokens' must be a list of strings")
        try:
            return cls(tuple(tokens))
        except VocabError as exc:
            raise VocabError(f"{path}: {exc}") from exc


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
