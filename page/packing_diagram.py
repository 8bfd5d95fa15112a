"""Packing as the lesson draws it, on the packing tab: a padded minibatch and torch's packed form of it.

The lesson's example, and then the learner's own headlines (the packing tab's text box, one per
line) as token ids. Every drawn number comes from `torch.nn.utils.rnn.pack_padded_sequence`
itself: its `.data`, its `.batch_sizes`, its `.sorted_indices`, and where each packed element came
from (the same call on a grid of position codes, so the drawing cannot reorder anything):

    padded (B, T), lengths [5, 3, 1]        packed, one time step after the other
    [[1, 2, 3, 4, 5],                       data        [1, 6, 9 | 2, 7 | 3, 8 | 4 | 5]
     [6, 7, 8, 0, 0],                       batch_sizes [3,       2,     2,     1,   1]
     [9, 0, 0, 0, 0]]

At time step t the packed LSTM reads the first batch_sizes[t] sequences (longest first); the
unpacked one reads every row, so B - batch_sizes[t] of its steps are on pads. page/static/diagrams.js
draws both with a stepper of its own.
"""
from __future__ import annotations

import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnn_demo.catalog import PACKING_PAIR
from rnn_demo.tokenizer import PAD_ID

from . import i18n
from .inputs import split_headlines
from .registry import Registry

# The lesson's padded minibatch: three sequences of lengths 5, 3 and 1, padded with 0.
LESSON_BATCH = [[1, 2, 3, 4, 5], [6, 7, 8, 0, 0], [9, 0, 0, 0, 0]]
LESSON_LENGTHS = [5, 3, 1]
MAX_ROWS = 8  # the learner's headlines drawn (a grid a phone can show)
MAX_WORDS = 20  # words per headline drawn


def packed_batch(padded: list[list[int]], lengths: list[int]) -> dict:
    """torch's packed form of a right-padded (B, T) batch: data, batch sizes, the order it sorted the
    rows in, and for each packed element the [row, time step] of the padded batch it came from."""
    tokens = torch.tensor(padded, dtype=torch.long)  # (B, T)
    if tokens.dim() != 2 or tokens.size(0) != len(lengths):
        raise ValueError(f"padded must be (B, T) with one length per row; got {tuple(tokens.shape)} and "
                         f"{len(lengths)} lengths")
    rows, steps = tokens.shape
    lens = torch.tensor(lengths, dtype=torch.long)
    packed = pack_padded_sequence(tokens, lens, batch_first=True, enforce_sorted=False)
    codes = torch.arange(rows * steps, dtype=torch.long).view(rows, steps)  # row * T + t
    where = pack_padded_sequence(codes, lens, batch_first=True, enforce_sorted=False).data
    order = packed.sorted_indices
    return {
        "padded": tokens.tolist(),
        "lengths": [int(n) for n in lengths],
        "data": packed.data.tolist(),
        "batch_sizes": packed.batch_sizes.tolist(),
        "sorted": list(range(rows)) if order is None else order.tolist(),
        "origin": [[int(c) // steps, int(c) % steps] for c in where],
        "pad_id": PAD_ID,
    }


def learner_batch(reg: Registry, text: str) -> dict | None:
    """The packing tab's headlines as a padded batch of token ids (with their words), packed; None
    when the box holds no headline. Long inputs are cut to MAX_ROWS headlines of MAX_WORDS words."""
    headlines, _ = split_headlines(text)
    if not headlines:
        return None
    name = next((n for n in reversed(PACKING_PAIR) if n in reg.entries), reg.names[0])
    vocab = reg.get(name).ckpt.vocab  # the shipped models share one tokenizer
    words, ids, cut = [], [], len(headlines) > MAX_ROWS
    for headline in headlines[:MAX_ROWS]:
        tokens = vocab.tokenize(headline)
        cut = cut or len(tokens) > MAX_WORDS
        tokens = tokens[:MAX_WORDS]
        if not tokens:  # a line with no word (punctuation only): it would be a sequence of length 0
            continue
        words.append(tokens)
        ids.append([vocab.lookup(t) for t in tokens])
    if not ids:
        return None
    longest = max(map(len, ids))
    padded = [row + [PAD_ID] * (longest - len(row)) for row in ids]
    batch = packed_batch(padded, [len(row) for row in ids])
    batch["words"] = words
    batch["cut"] = cut
    return batch


def packing_json(reg: Registry, text: str) -> dict:
    """What the packing tab's diagram draws: the lesson's batch, the learner's, and the texts."""
    return {
        "lesson": packed_batch(LESSON_BATCH, LESSON_LENGTHS),
        "learner": learner_batch(reg, text),
        "limits": {"rows": MAX_ROWS, "words": MAX_WORDS},
        "lang": i18n.current(),  # diagrams.js writes its texts in this language (diagram.pack_* keys)
    }


# The packing tab's container (static; diagrams.js draws into it).
PACKING_HTML = """<div id="packing-diagram-box" class="packing-diagram">
<p id="pack-title" class="diagram-title"></p>
<div id="pack-lesson" class="pack-block"></div><div id="pack-learner" class="pack-block"></div></div>"""
