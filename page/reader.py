"""The Read tab's numbers for the browser: the page draws them (web/reader.js), the server only computes.

One Read sends one payload (`reader_payload`, a few KB to a few tens of KB): for the first headline its
words, the state after each word projected per reading direction, the prediction after each word, each
word's importance, and one layer/direction's hidden state, cell state and gates per word (as whole
hundredths, which page/static/reader_page.js divides back); for the other headlines only their paths.
The reference cloud of a model does not change between Reads, so it is sent once per model by its own
route (`cloud_json`, served by page/assets.py) and kept by the browser.
Moving the word stepper then needs no request at all.
"""
from __future__ import annotations

import numpy as np

from rnn_demo import states

from . import diagrams, i18n
from .figures import CLASS_COLORS
from .i18n import class_label
from .registry import ModelEntry, Registry

WORD_LIMIT = 60  # per-word views (stepper, prediction as it reads, cells) show a headline's first words
MAX_PATHS = 8  # headlines drawn in the trajectory (the first one is the one the stepper walks)
KEEP = 0.9  # a forget (LSTM) or update (GRU) gate at or above this keeps most of the unit's old value
COORD_DIGITS = 3  # a few hundred pixels of plot cannot show more
# the gate whose value near 1 means "keep the old memory", per cell type
MEMORY_GATE = {"lstm": "forget gate", "gru": "update gate"}


def _r(x, digits: int) -> list:
    return np.round(np.asarray(x, dtype=np.float64), digits).tolist()


def cell_choices(entry: ModelEntry) -> list[str]:
    """'layer L direction' for every layer and direction of a recurrent model (the cell picker's values)."""
    cfg = entry.ckpt.config
    if not cfg.is_recurrent:
        return []
    return [f"layer {l + 1} {states.DIRECTION_NAMES[d]}" for l in range(cfg.num_layers) for d in range(cfg.num_directions)]


def default_choice(entry: ModelEntry) -> str | None:
    """The last layer's forward direction: the states the trajectory shows."""
    choices = cell_choices(entry)
    return choices[len(choices) - entry.ckpt.config.num_directions] if choices else None


def cloud_json(entry: ModelEntry) -> dict:
    """A model's reference cloud and axes (what web/reader.js draws under every path), sent once."""
    proj = entry.projection
    if proj is None:
        return {"model": entry.name, "directions": [], "labels": []}
    ratios = proj.meta.get("explained_variance_ratio") or [[]] * proj.num_directions
    return {"model": entry.name, "labels": [int(x) for x in proj.labels],
            "directions": [{"cloud": _r(proj.clouds[d], COORD_DIGITS), "explained_variance_ratio": list(ratios[d])}
                           for d in range(proj.num_directions)]}


def _projected(entry: ModelEntry, tr: states.Trace) -> list[list]:
    """Per direction: the state after each word (token order), projected to 3 coordinates."""
    hidden = entry.ckpt.config.hidden_size
    return [_r(entry.projection.project(d, tr.states[:, d * hidden:(d + 1) * hidden]), COORD_DIGITS)
            for d in range(entry.projection.num_directions)]


def memory_unit(values: np.ndarray) -> dict:
    """The unit whose keep-gate (LSTM forget, GRU update) stays at or above KEEP for the most words
    in a row (ties: the higher mean); values is (T, H). Words are 0-based, `last` inclusive."""
    kept = values >= KEEP
    best = None
    for unit in range(values.shape[1]):
        run = start = longest = 0
        first = 0
        for t, k in enumerate(kept[:, unit]):
            run = run + 1 if k else 0
            if k and run == 1:
                start = t
            if run > longest:
                longest, first = run, start
        key = (longest, float(values[:, unit].mean()))
        if best is None or key > best[0]:
            best = (key, unit, first)
    (longest, mean), unit, first = best
    return {"unit": unit, "run": longest, "mean": round(mean, 3), "first": first, "last": first + longest - 1}


def memory_sentence(kind: str, found: dict | None, tokens: list[str]) -> str:
    """What the cell view points at, in the page's language."""
    if kind == "rnn":
        return i18n.tr("reader.memory_rnn")
    if found is None:
        return ""
    gate = i18n.tr(f"plot.gate_{MEMORY_GATE[kind].replace(' ', '_')}")
    if found["run"] == 0:
        return i18n.tr("reader.memory_none", gate=gate, keep=KEEP, unit=found["unit"] + 1, mean=f"{found['mean']:.2f}")
    return i18n.tr(f"reader.memory_{kind}", gate=gate, unit=found["unit"] + 1, keep=KEEP, run=found["run"],
                   words=len(tokens), first=tokens[found["first"]], last=tokens[found["last"]])


def watch_sentence(prefix: np.ndarray, tokens: list[str], classes: list[str], recurrent: bool) -> str:
    """Where the answer settles: the word from which the prediction stays the final one."""
    answers = prefix.argmax(axis=1)
    final = int(answers[-1])
    settle = len(answers) - 1
    while settle > 0 and answers[settle - 1] == final:
        settle -= 1
    label = class_label(classes[final])
    if not recurrent:
        return i18n.tr("reader.watch_bag", word=tokens[settle], n=settle + 1, label=label)
    if settle == 0:
        return i18n.tr("reader.watch_first", word=tokens[0], label=label)
    return i18n.tr("reader.watch", word=tokens[settle], n=settle + 1, label=label)


def cells_json(entry: ModelEntry, tr: states.Trace, choice: str | None, steps: int) -> dict | None:
    """One layer/direction's hidden state, cell state and gates for the first `steps` words, each
    (T, H) rounded, plus the unit that keeps its memory; None for the bag of embeddings."""
    choices = cell_choices(entry)
    if not choices:
        return None
    choice = choice if choice in choices else default_choice(entry)
    _, layer, direction = choice.split()
    cell = tr.cell_trace(int(layer) - 1, states.DIRECTION_NAMES.index(direction))
    kind = entry.ckpt.config.cell
    panels = [{"key": "hidden", "label": i18n.tr("plot.hidden_state"), "range": [-1, 1],
               "hundredths": diagrams.hundredths(cell.hidden[:steps])}]
    if cell.cell is not None:
        bound = max(1.0, float(np.abs(cell.cell[:steps]).max()))
        panels.append({"key": "cell", "label": i18n.tr("plot.cell_state"), "range": [-bound, bound],
                       "hundredths": diagrams.hundredths(cell.cell[:steps])})
    for name, values in cell.gates.items():
        signed = name in ("cell candidate", "candidate")
        panels.append({"key": name.replace(" ", "_"), "label": i18n.tr("plot.gate_" + name.replace(" ", "_")),
                       "range": [-1, 1] if signed else [0, 1],
                       "hundredths": diagrams.hundredths(values[:steps])})
    found = memory_unit(cell.gates[MEMORY_GATE[kind]][:steps]) if kind in MEMORY_GATE else None
    label = i18n.tr("plot.layer", layer=layer, direction=i18n.tr(f"plot.{direction}"))
    return {"choice": choice, "label": label, "kind": kind, "units": int(cell.hidden.shape[1]), "panels": panels,
            "changed_key": "cell" if cell.cell is not None else "hidden",
            "memory": found, "memory_text": memory_sentence(kind, found, tr.tokens[:steps])}


def strings() -> dict[str, str]:
    """The texts web/reader.js writes, in the page's language ({name} placeholders filled in there)."""
    keys = ("start", "end", "average", "word", "probability", "axis", "forward", "backward", "step",
            "after", "changed", "unit", "play", "pause", "stepper", "no_trajectory", "no_cells", "column",
            "memory_marker", "limit")
    return {k: i18n.tr(f"reader.{k}") for k in keys}


def reader_payload(reg: Registry, headlines: list[str], model: str, choice: str | None = None) -> dict:
    """Everything the Read tab draws for `headlines` (the first one in detail), as JSON-ready data."""
    entry = reg.get(model)
    cfg = entry.ckpt.config
    first = headlines[0]
    tr = reg.trace(model, first)
    steps = min(len(tr.tokens), WORD_LIMIT)
    tokens = tr.tokens[:steps]
    prefix = states.prefix_probabilities(entry.ckpt.model, tr.ids[:steps])
    importance = states.occlusion_importance(entry.ckpt.model, tr.ids)[:steps]
    paths = []
    if entry.projection is not None:
        for h in headlines[:MAX_PATHS]:
            t = tr if h == first else reg.trace(model, h)
            paths.append({"name": h, "tokens": t.tokens, "coords": _projected(entry, t)})
    return {
        "model": entry.name,
        "headline": first,
        "classes": [class_label(c) for c in entry.ckpt.class_names],
        "colors": list(CLASS_COLORS),
        "recurrent": cfg.is_recurrent,
        "pooling": cfg.pooling,
        "directions": entry.projection.num_directions if entry.projection is not None else 0,
        "tokens": tokens,
        "known": tr.known[:steps],
        "words": len(tr.tokens),  # the stepper walks min(words, WORD_LIMIT) of them
        "limit": WORD_LIMIT,
        "probabilities": _r(tr.probabilities, 4),
        "prefix": _r(prefix, 4),
        "importance": _r(importance, 4),
        "watch": watch_sentence(prefix, tokens, list(entry.ckpt.class_names), cfg.is_recurrent),
        "paths": paths,
        "cells": cells_json(entry, tr, choice, steps),
        "diagram": diagrams.diagram_json(entry, tr, steps, choice),  # the unrolled network (page/diagrams.py)
        "strings": strings(),
    }


# The Read tab's containers (static: made once, then drawn into by page/static/reader_page.js).
STEPPER_HTML = """<div id="reader-stepper" class="reader-view">
<div id="step-words" class="step-words"></div>
<div class="step-controls"><button id="play" type="button">▶</button>
<input id="stepper" type="range" min="0" max="0" step="1" value="0">
<output id="step-label" for="stepper"></output></div>
<p id="step-watch" class="step-watch"></p>
<p id="step-after" class="step-after"></p><div id="step-bars" class="answer step-bars"></div>
<p id="step-limit" class="step-limit"></p></div>"""
TRAJECTORY_HTML = """<div id="reader-trajectory" class="reader-view">
<div id="reader-legend" class="reader-legend"></div>
<div id="reader-layers" class="layers"><div id="reader-cloud"></div><canvas id="reader-canvas"></canvas>
<div id="reader-path"></div></div></div>"""
PREFIX_HTML = """<div id="reader-prefix-box" class="reader-view banded"><div id="reader-prefix"></div>
<div id="prefix-band" class="step-band" hidden></div></div>"""
COLUMN_HTML = """<div id="reader-column" class="reader-view">
<p id="column-memory" class="column-memory"></p><p id="column-title" class="column-title"></p>
<div id="column-strip" class="column-strip"></div><p id="column-changed" class="column-changed"></p></div>"""
CELLS_HTML = """<p id="cells-title" class="column-title"></p>
<div id="reader-cells-box" class="reader-view banded"><div id="reader-cells"></div>
<div id="cells-band" class="step-band" hidden></div></div>"""
