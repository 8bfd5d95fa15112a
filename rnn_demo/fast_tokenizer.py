"""`basic_english` + vocabulary lookup for many texts at once, token for token equal to `Vocab.encode`.

Why not per text: `Vocab.encode` runs twelve regex substitutions and a dict lookup per token
in Python for every headline, which on a large file costs more than the model itself once batches
are length-sorted (docs/export.md measures both). Here a whole chunk of texts is joined
into one string, so every step is a single C-level call over the chunk:

    texts ──join(" \\x00 ")──> one str ──lower()──> 11 × str.replace ──> split() ──> tokens
          ──map(dict lookup)──> ids (with -1 where each text ends) ──> CSR: ids, starts, lengths

Why it is exact (each point is also checked by tests/test_fast_tokenizer.py):
- Every rule of `basic_english` but the last is a regex made of one escaped literal
  (`\\'`, `\\.`, `<br \\/>` ...), and `re.sub` with a literal pattern is `str.replace`: both
  replace the leftmost non-overlapping matches, and the rules run in the same order.
- The last rule (`\\s+` -> " ") followed by `str.split()` is `str.split()`: re's `\\s` on str and
  `str.split()` both use Python's own Unicode whitespace test (`str.isspace`); the test checks
  every code point.
- Joining does not change any text's tokens: no pattern can match across the separator
  " \\x00 " (no pattern contains a space next to NUL), and `str.lower()` is per character except
  for the final-sigma rule, whose context stops at a character that is neither cased nor
  case-ignorable — space and NUL are neither, exactly like the end of a string.
- The separator token "\\x00" marks where each text ends. A text that itself contains NUL
  would break that, so the chunk then goes through `Vocab.encode` (the guard,
  `joined.count("\\x00") == n`, is one C call and complete: it fails iff some text has a NUL).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Sequence

import numpy as np

from .tokenizer import PAD_ID, UNK_ID, Vocab

# basic_english's rules as (literal, replacement), in its order; its final `\s+` rule is split().
_LITERAL_RULES = (
    ("'", " '  "),
    ('"', ""),
    (".", " . "),
    ("<br />", " "),
    (",", " , "),
    ("(", " ( "),
    (")", " ) "),
    ("!", " ! "),
    ("?", " ? "),
    (";", " "),
    (":", " "),
)
_SEP = "\x00"           # marks the end of each text in the joined chunk
_JOIN = f" {_SEP} "     # spaces make the separator a token of its own
_END_ID = -1            # id the separator maps to (never a real id)


def split_many(texts: Sequence[str]) -> list[str] | None:
    """`basic_english` of every text, flattened, each text followed by the token "\\x00".

    Returns None when some text contains NUL (the separator could not be told apart).
    """
    if not texts:
        return []
    joined = _JOIN.join(texts) + _JOIN  # every text, including the last, ends with " \x00 "
    if joined.count(_SEP) != len(texts):
        return None
    joined = joined.lower()
    for literal, replacement in _LITERAL_RULES:
        joined = joined.replace(literal, replacement)
    return joined.split()


@dataclass(frozen=True)
class EncodedTexts:
    """Token ids of n texts in one flat array (CSR layout), ready to be cut into padded batches.

    ids:     (N,) int64, text i's ids are ids[starts[i] : starts[i] + lengths[i]]
    starts:  (n,) int64
    lengths: (n,) int64 in 1..max_len; a text without tokens reads as one UNK_ID (as in
             `encode_batch_np`), one that is longer is truncated to its first max_len ids
    """

    ids: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, rows: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """rows (B,) -> tokens (B, T) int64 right-padded with PAD_ID, lengths (B,) int64; T = max length."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        width = int(lengths.max()) if len(rows) else 0
        cols = np.arange(width, dtype=np.int64)
        positions = self.starts[rows][:, None] + cols           # (B, T) indices into ids
        real = cols < lengths[:, None]                           # (B, T) True where not padding
        np.minimum(positions, len(self.ids) - 1, out=positions)  # padding positions may run past the end
        tokens = np.where(real, self.ids[positions], PAD_ID)
        return tokens, lengths.copy()

    def tolist(self) -> list[list[int]]:
        """Per-text id lists (for tests and small inputs)."""
        return [self.ids[s: s + n].tolist() for s, n in zip(self.starts.tolist(), self.lengths.tolist())]


class FastEncoder:
    """`Vocab.encode` for many texts at once: same ids, a fraction of the Python work."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        self._lookup = {t: i for i, t in enumerate(vocab.tokens)}
        self._lookup[_SEP] = _END_ID  # texts with NUL never reach the lookup (see split_many)

    def encode(self, texts: Sequence[str], max_len: int | None = None, block: int = 2048) -> EncodedTexts:
        """texts -> EncodedTexts; max_len None or 0 means no truncation (as in encode_batch_np).

        Works through `block` texts at a time: each C-level call then holds the GIL for a few
        milliseconds only, so a thread running onnxruntime is not kept waiting to start its
        next batch (and the temporary token list stays small).
        """
        if max_len is not None and max_len < 0:
            raise ValueError(f"max_len must be >= 0 (0 or None: no truncation), got {max_len}")
        if len(texts) <= block:
            return self._encode_block(texts, max_len)
        parts = [self._encode_block(texts[i: i + block], max_len) for i in range(0, len(texts), block)]
        offsets = np.cumsum([0] + [len(p.ids) for p in parts[:-1]])
        return EncodedTexts(np.concatenate([p.ids for p in parts]),
                            np.concatenate([p.starts + o for p, o in zip(parts, offsets)]),
                            np.concatenate([p.lengths for p in parts]))

    def _encode_block(self, texts: Sequence[str], max_len: int | None) -> EncodedTexts:
        tokens = split_many(texts)
        if tokens is None:  # some text contains NUL: the per-text path, identical by definition
            return self._from_lists([self.vocab.encode(t) for t in texts], max_len)
        # dict.get(token, UNK_ID) for every token, all inside C (map over two iterables)
        ids = np.array(list(map(self._lookup.get, tokens, repeat(UNK_ID))), dtype=np.int64)
        ends = np.flatnonzero(ids == _END_ID)                   # (n,) position of each text's end marker
        starts = np.empty_like(ends)
        starts[:1] = 0
        starts[1:] = ends[:-1] + 1
        raw = ends - starts                                     # (n,) untruncated token counts
        ids[ends[raw == 0]] = UNK_ID  # an empty text reads its end marker's slot as one UNK
        lengths = np.maximum(raw, 1)
        if max_len:
            np.minimum(lengths, max_len, out=lengths)
        return EncodedTexts(ids, starts, lengths)

    @staticmethod
    def _from_lists(lists: list[list[int]], max_len: int | None) -> EncodedTexts:
        lists = [(x[:max_len] if max_len else x) or [UNK_ID] for x in lists]
        lengths = np.array([len(x) for x in lists], dtype=np.int64)
        starts = np.zeros(len(lists), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        ids = np.fromiter((i for x in lists for i in x), dtype=np.int64, count=int(lengths.sum()))
        return EncodedTexts(ids, starts, lengths)


def fast_encoder(vocab: Vocab) -> FastEncoder:
    """The FastEncoder of a vocabulary, built once and kept on the (immutable) Vocab."""
    encoder = getattr(vocab, "_fast_encoder", None)
    if encoder is None:
        encoder = FastEncoder(vocab)
        object.__setattr__(vocab, "_fast_encoder", encoder)  # a cache, not a field: eq/hash unchanged
    return encoder


def encode_batch_np(vocab: Vocab, texts: Sequence[str], max_len: int | None = None):
    """Texts -> (tokens (B, T) int64 right-padded with PAD_ID, lengths (B,) int64), as numpy.

    A text with no tokens at all gets a single UNK so every length is >= 1; max_len None or 0
    means no truncation. numpy only, so a server running onnxruntime can tokenize without
    importing torch. The ids are `vocab.encode`'s, computed for all texts at once by
    `fast_encoder` below (token for token the same; tests/test_fast_tokenizer.py).
    """
    if not texts:
        return np.zeros((0, 0), dtype=np.int64), np.zeros(0, dtype=np.int64)
    encoded = fast_encoder(vocab).encode(texts, max_len)
    return encoded.batch(np.arange(len(encoded)))


def encode_batch(vocab: Vocab, texts: Sequence[str], max_len: int | None = None):
    """`encode_batch_np` as torch tensors: (tokens (B, T) int64, lengths (B,) int64)."""
    import torch  # lazy: onnxruntime servers tokenize without torch

    tokens, lengths = encode_batch_np(vocab, texts, max_len)
    return torch.from_numpy(tokens), torch.from_numpy(lengths)


__all__ = ["EncodedTexts", "FastEncoder", "encode_batch", "encode_batch_np", "fast_encoder", "split_many"]
