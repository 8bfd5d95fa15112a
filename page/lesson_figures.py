"""Plotly figures for the lesson's three arguments, in the JSON-spec style of `figures.py`.

Every builder takes plain numbers (already computed by `rnn_demo.lessons` and `lesson_views`) and returns
a `go.Figure` built without Plotly's validation (see figures.py for why). Words typed by a user
are escaped with `figures.esc` before they reach a label.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .i18n import class_label, tr
from .figures import AXIS, as_list, base_layout, esc, make_figure, short

VARIANT_NAMES = ("as written", "reversed", "shuffled")
VARIANT_COLORS = ("#111111", "#D55E00", "#56B4E9")
# One style per model in the memory and batching figures: a colour (Okabe-Ito and a brown; any two
# stay apart under deuteranopia, tests/test_plots_readable.py) and a marker, so that eight lines
# differ in two cues each. A backward reader keeps its model's colour, with an open marker and dots.
MODEL_COLORS = ("#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8C564B")
MODEL_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")
MIN_TEXT_PX = 11  # no label of these figures is drawn smaller
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def model_color(index: int) -> str:
    return MODEL_COLORS[index % len(MODEL_COLORS)]


def model_symbol(index: int) -> str:
    return MODEL_SYMBOLS[index % len(MODEL_SYMBOLS)]


def _style(styles: dict[str, int] | None, name: str, i: int) -> tuple[str, str]:
    """(colour, marker) of model `name`: by its index in `styles` (the same in every figure), else by `i`."""
    index = (styles or {}).get(name, i)
    return model_color(index), model_symbol(index)


def log_axis(values: list, title: str) -> dict:
    """A log y axis labelled at powers of ten written as plain text ("10⁻³"): Plotly's own <sup>
    labels are measured too narrow, and the axis title was drawn over them. The range runs over whole
    decades, so there is a label at each end (at least two); at most 7 labels."""
    flat = np.concatenate([np.asarray(v, dtype=float).ravel() for v in values]) if values else np.ones(1)
    flat = flat[np.isfinite(flat) & (flat > 0)]
    lo = int(np.floor(np.log10(flat.min()))) if flat.size else -1
    hi = max(0, int(np.ceil(np.log10(flat.max()))) if flat.size else 0)
    lo = min(lo, hi - 1)
    step = -(-(hi - lo + 1) // 7)
    powers = list(range(hi, lo - 1, -step))[::-1]
    text = ["1" if p == 0 else "10" if p == 1 else "10" + str(p).translate(_SUPERSCRIPT) for p in powers]
    return dict(AXIS, type="log", tickmode="array", tickvals=[10.0 ** p for p in powers], ticktext=text,
                exponentformat="none", range=[lo - 0.08, hi + 0.08], title=dict(text=title, standoff=12))


def word_order_figure(model_names: Sequence[str], probs: np.ndarray, class_names: Sequence[str],
                      height: int | None = None) -> go.Figure:
    """Grouped horizontal bars: per model (rows) and variant (colours), the probability of the class
    the model answers for the headline *as written*; the bar text names the class each variant gets.

    probs: (M, 3, C) probabilities per model, variant (as written, reversed, shuffled), class.
    """
    probs = np.asarray(probs, dtype=float)
    height = height or 170 + 70 * len(model_names)
    layout = base_layout(height, tr("lesson.order_title"), top=110,  # room for a two-line legend on a phone
                         barmode="group", bargap=0.25, bargroupgap=0.05,
                         uniformtext=dict(minsize=MIN_TEXT_PX, mode="show"))  # never shrunk to fit a bar
    layout["margin"].update(l=10)
    names = [esc(n) for n in model_names]
    original = probs[:, 0].argmax(-1)  # (M,) class answered for the headline as written
    data = []
    for v, variant in enumerate(VARIANT_NAMES):
        answered = probs[:, v].argmax(-1)
        x = probs[np.arange(len(model_names)), v, original]  # P(original answer) under this variant
        changed = tr("lesson.changed")
        text = [class_label(class_names[a]) + ("" if a == o else f" ({changed})") for a, o in zip(answered, original)]
        variant = tr("lesson." + variant.replace(" ", "_"))
        data.append(dict(type="bar", orientation="h", y=names, x=as_list(x), name=variant, text=text,
                         textposition="auto", insidetextanchor="start", marker=dict(color=VARIANT_COLORS[v]),
                         textfont=dict(size=MIN_TEXT_PX + 1),
                         hovertemplate="%{y}, " + variant + ": " + tr("lesson.answers") + " %{text}<br>P = %{x:.3f}"
                                       "<extra></extra>"))
    layout["xaxis"] = dict(AXIS, range=[0, 1.0], title=dict(text=tr("lesson.order_axis")))
    layout["yaxis"] = dict(AXIS, autorange="reversed", automargin=True)
    return make_figure(data, layout)


def _line_style(color: str, symbol: str, backward: bool, width: float) -> dict:
    """Line and marker of one model's curve; the backward reader: dotted, open marker, same colour."""
    return dict(line=dict(color=color, width=width, dash="dot" if backward else "solid"),
                marker=dict(size=7, color=color, symbol=symbol + "-open" if backward else symbol,
                            line=dict(width=1.5, color=color)))


def word_sensitivity_figure(tokens: Sequence[str], curves: dict[str, dict[str, np.ndarray]],
                            selected: str | None = None, styles: dict[str, int] | None = None,
                            height: int = 520) -> go.Figure:
    """Per word of the typed headline: ||d h_final / d x_t|| relative to its largest value, log scale.

    curves: model -> {"forward": (T,), optionally "backward": (T,)}. Each curve is divided by its own
    maximum so models of different sizes share an axis; the selected model is drawn thicker.
    styles: model -> style index (`model_color`, `model_symbol`), so a model looks the same in every figure.
    """
    layout = base_layout(height, tr("lesson.sensitivity_title"), top=50)
    x = list(range(len(tokens)))
    data = []
    for i, (name, dirs) in enumerate(curves.items()):
        color, symbol = _style(styles, name, i)
        for direction, values in dirs.items():
            values = np.asarray(values, dtype=float)
            rel = values / max(float(values.max()), 1e-30)
            rel = np.maximum(rel, 1e-12)  # a log axis cannot show 0
            backward = direction == "backward"
            data.append(dict(
                type="scatter", x=x, y=as_list(rel), mode="lines+markers",
                name=esc(name) + (tr("lesson.backward_reader") if backward else ""),
                **_line_style(color, symbol, backward, 4 if name == selected else 2),
                customdata=[esc(t) for t in tokens],
                hovertemplate="%{customdata}: %{y:.2e}<extra>" + esc(name) + "</extra>"))
    layout["xaxis"] = dict(AXIS, tickmode="array", tickvals=x, ticktext=[esc(short(t, 14)) for t in tokens],
                           tickangle=-60, title=dict(text=tr("lesson.word_axis"), standoff=12))
    layout["yaxis"] = log_axis([t["y"] for t in data], tr("lesson.relative"))
    # many models: the legend goes below the chart (on a phone a legend above would cover the title)
    layout["legend"].update(yanchor="top", y=-0.42, x=0)
    return make_figure(data, layout)


def memory_curves_figure(curves: dict[str, dict], styles: dict[str, int] | None = None,
                         height: int = 500) -> go.Figure:
    """Test-set medians: sensitivity relative to the last word, by distance from it, one line per model.

    curves: model -> {"distance": [...], "median": [...], optionally "backward": [...]} (as in lessons.json).
    styles: as in `word_sensitivity_figure`.
    """
    layout = base_layout(height, tr("lesson.memory_title"), top=50)
    data = []
    for i, (name, mem) in enumerate(curves.items()):
        color, symbol = _style(styles, name, i)
        for key, suffix in (("median", ""), ("backward", tr("lesson.backward_first"))):
            if not mem.get(key):
                continue
            y = np.maximum(np.asarray(mem[key], dtype=float), 1e-12)
            data.append(dict(type="scatter", x=list(mem["distance"]), y=as_list(y), mode="lines+markers",
                             name=esc(name) + suffix, **_line_style(color, symbol, key == "backward", 2.5),
                             hovertemplate="%{x} words back: %{y:.3g}<extra>" + esc(name + suffix) + "</extra>"))
    layout["xaxis"] = dict(AXIS, title=dict(text=tr("lesson.distance_axis")))
    layout["yaxis"] = log_axis([t["y"] for t in data], tr("lesson.median_axis"))
    layout["legend"].update(yanchor="top", y=-0.3, x=0)  # clear of the axis title, which may wrap on a phone
    return make_figure(data, layout)


def batching_figure(results: dict[str, dict], modes: Sequence[str], styles: dict[str, int] | None = None,
                    height: int | None = None) -> go.Figure:
    """Test accuracy per batching mode (rows) for each model (one bar per model in each row).

    The bars lie down so that their numbers are written beyond their ends at full size: standing
    bars are ~25 px wide on a phone, and Plotly shrank the numbers to fit them (to about 6 px).
    """
    height = height or 150 + 34 * len(modes) * max(1, len(results))
    layout = base_layout(height, tr("lesson.batching_title"), top=80, barmode="group", bargap=0.3,
                         uniformtext=dict(minsize=MIN_TEXT_PX, mode="show"))
    layout["margin"].update(l=10, r=10)
    data = []
    for i, (name, b) in enumerate(results.items()):
        xs = [b[m] for m in modes]
        changed = [0 if m == "one_by_one" else b["changed"][m] for m in modes]
        color, _ = _style(styles, name, i)
        data.append(dict(type="bar", orientation="h", y=[tr("lesson.mode_" + m) for m in modes], x=xs, name=esc(name),
                         marker=dict(color=color), text=[f"{x:.4f}" for x in xs], textposition="outside",
                         textfont=dict(size=MIN_TEXT_PX + 1), constraintext="none", cliponaxis=False,
                         customdata=changed,
                         hovertemplate="%{y}: accuracy %{x:.4f}, %{customdata} answers differ from one by one"
                                       "<extra>" + esc(name) + "</extra>"))
    lo = min(min(b[m] for m in modes) for b in results.values()) if results else 0.0
    # room on the right for the numbers written beyond the bars' ends
    layout["xaxis"] = dict(AXIS, range=[max(0.0, lo - 0.05), 1.0], title=dict(text=tr("lesson.test_accuracy")))
    layout["yaxis"] = dict(AXIS, autorange="reversed", automargin=True)  # the modes name themselves
    return make_figure(data, layout)


__all__ = ["word_order_figure", "word_sensitivity_figure", "memory_curves_figure", "batching_figure",
           "model_color", "model_symbol", "log_axis", "VARIANT_NAMES"]
