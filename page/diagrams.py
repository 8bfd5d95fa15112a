"""The lesson's pictures on the Read tab, alive: the numbers the unrolled network and the cell need.

`page/static/diagrams.js` draws them in the browser from the Read payload and follows the word
stepper. The cell diagram reads the gates of the chosen layer/direction that the payload already
carries (`cells`); what is added here (`diagram_json`, the payload's `diagram`) is every layer's
and direction's state after each word, for one row of boxes per layer and direction:

    layer 2 forward    [S1] → [S2] → [S3]        one box per word, the same cell (weights W) in each,
    layer 2 backward   [S1] ← [S2] ← [S3]        the strip in a box is the state after that word
    layer 1 forward    [S1] → [S2] → [S3]
    layer 1 backward   [S1] ← [S2] ← [S3]
    words               X1     X2     X3

The bag of embeddings has no cell: its row holds each word's embedding and no arrow joins them.
Values are sent as whole hundredths (0.42 -> 42: two decimals, a third fewer bytes than the floats;
a strip's colour shows less); for a 12-word headline on `bilstm-2layer` this adds about 6 KB.
"""
from __future__ import annotations

import numpy as np

from rnn_demo import states

from . import i18n
from .registry import ModelEntry

VALUE_DIGITS = 2
STRING_PREFIX = "diagram."  # the texts diagrams.js writes: every key under it, sent once per language


def strings_json(lang: str) -> dict[str, str]:
    """Every diagram.* text in `lang` (English where it has none), keys without the prefix; served
    once per language by page/assets.py, so a Read's payload does not carry them."""
    table = i18n.locales()
    own = table.get(lang, {})
    return {k[len(STRING_PREFIX):]: own.get(k, v) for k, v in table[i18n.DEFAULT].items() if k.startswith(STRING_PREFIX)}


SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def subscript(n: int) -> str:
    """12 -> '₁₂' (the lesson's S₁ … Sₙ)."""
    return str(n).translate(SUBSCRIPTS)


def hundredths(x) -> list:
    """Values as whole hundredths (two decimals, written as integers: -0.31 -> -31)."""
    return np.rint(np.asarray(x, dtype=np.float64) * 10 ** VALUE_DIGITS).astype(np.int64).tolist()


def readout_sentence(entry: ModelEntry, steps: int) -> str:
    """Which boxes' states the classifier reads, in the page's language."""
    cfg = entry.ckpt.config
    if not cfg.is_recurrent:
        return i18n.tr("diagram.readout_bag")
    if cfg.pooling == "mean":
        return i18n.tr("diagram.readout_mean", n=steps)
    if cfg.pooling == "last_padded":
        return i18n.tr("diagram.readout_padded", n=subscript(steps))
    if cfg.bidirectional:
        return i18n.tr("diagram.readout_bi", n=subscript(steps))
    return i18n.tr("diagram.readout_last", n=subscript(steps))


def chosen_row(entry: ModelEntry, choice: str | None) -> str | None:
    """The layer/direction the cell picker shows ('layer L forward'), as page/reader.py resolves it:
    an unknown or missing choice is the last layer's forward direction; None for the bag."""
    cfg = entry.ckpt.config
    if not cfg.is_recurrent:
        return None
    names = [f"layer {l + 1} {states.DIRECTION_NAMES[d]}" for l in range(cfg.num_layers) for d in range(cfg.num_directions)]
    return choice if choice in names else names[len(names) - cfg.num_directions]


def diagram_json(entry: ModelEntry, tr: states.Trace, steps: int, choice: str | None = None) -> dict:
    """Every layer's and direction's state after each of the first `steps` words (rows of (T, H)
    values, bottom layer first, forward before backward), or the words' embeddings for the bag.

    Each row's `hundredths` are its (T, H) values times 100. The row the cell picker shows is sent
    once: its values are the payload's `cells` hidden panel (`hundredths` None here, `cells` True),
    which keeps a Read of a 12-word headline on `bilstm-2layer` near 27 KB."""
    cfg = entry.ckpt.config
    shown = chosen_row(entry, choice)
    if cfg.is_recurrent:
        rows = []
        for c in sorted(tr.cells, key=lambda c: (c.layer, c.direction)):
            in_cells = c.name == shown
            rows.append({"layer": c.layer, "direction": c.direction, "cells": in_cells,
                         "hundredths": None if in_cells else hundredths(c.hidden[:steps])})
        bound = 1.0  # tanh and o * tanh(c): every hidden value lies in (-1, 1)
    else:
        embeddings = tr.states[:steps]  # the bag's per-word "states" are the embeddings, (T, E)
        rows = [{"layer": 0, "direction": 0, "cells": False, "hundredths": hundredths(embeddings)}]
        bound = max(0.01, float(np.ceil(np.abs(embeddings).max() * 10 ** VALUE_DIGITS)) / 10 ** VALUE_DIGITS)
    return {
        "kind": cfg.cell,  # rnn, lstm, gru or bag
        "lang": i18n.current(),  # diagrams.js fetches this language's texts once (strings_json)
        "layers": cfg.num_layers if cfg.is_recurrent else 0,
        "directions": cfg.num_directions,
        "units": cfg.hidden_size if cfg.is_recurrent else cfg.embed_dim,
        "range": [-bound, bound],
        "rows": rows,
        "readout": readout_sentence(entry, steps),
    }


# The container on the Read tab (static; diagrams.js draws into it).
NETWORK_HTML = """<div id="reader-network" class="reader-view">
<p id="net-title" class="diagram-title"></p><p id="net-help" class="diagram-help"></p>
<div id="net-scroll" class="net-scroll" tabindex="0" role="region"><div id="net-grid" class="net-grid"></div></div>
<p id="net-readout" class="diagram-help"></p>
<div id="cell-box" class="cell-box"><p id="cell-title" class="diagram-title"></p>
<div class="cell-main"><div id="cell-svg" class="cell-svg"></div><div class="cell-side">
<p id="cell-tap" class="diagram-help"></p><div id="cell-eq" class="cell-eq" aria-live="polite"></div>
<p id="cell-rnn" class="cell-rnn" hidden><span id="cell-rnn-text"></span> <a id="memory-link" target="_self"></a></p>
</div></div></div></div>"""
