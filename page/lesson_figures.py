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
from .figures import AXIS, PATH_COLORS, as_list, base_layout, esc, make_figure, short

VARIANT_NAMES = ("as written", "reversed", "shuffled")
VARIANT_COLORS = ("#111111", "#D55E00", "#56B4E9")


def model_color(index: int) -> str:
    return PATH_COLORS[(index + 1) % len(PATH_COLORS)]


def word_order_figure(model_names: Sequence[str], probs: np.ndarray, class_names: Sequence[str],
                      height: int | None = None) -> go.Figure:
    """Grouped horizontal bars: per model (rows) and variant (colours), the probability of the class
    the model answers for the headline *as written*; the bar text names the class each variant gets.

    probs: (M, 3, C) probabilities per model, variant (as written, reversed, shuffled), class.
    """
    probs = np.asarray(probs, dtype=float)
    height = height or 170 + 70 * len(model_names)
    layout = base_layout(height, tr("lesson.order_title"), top=110,  # room for a two-line legend on a phone
                     barmode="group", bargap=0.25, bargroupgap=0.05)
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
                         hovertemplate="%{y}, " + variant + ": " + tr("lesson.answers") + " %{text}<br>P = %{x:.3f}"
                                       "<extra></extra>"))
    layout["xaxis"] = dict(AXIS, range=[0, 1.0], title=dict(text=tr("lesson.order_axis")))
    layout["yaxis"] = dict(AXIS, autorange="reversed", automargin=True)
    return make_figure(data, layout)


def word_sensitivity_figure(tokens: Sequence[str], curves: dict[str, dict[str, np.ndarray]],
                            selected: str | None = None, colors: dict[str, str] | None = None,
                            height: int = 520) -> go.Figure:
    """Per word of the typed headline: ||d h_final / d x_t|| relative to its largest value, log scale.

    curves: model -> {"forward": (T,), optionally "backward": (T,)}. Each curve is divided by its own
    maximum so models of different sizes share an axis; the selected model is drawn thicker.
    colors: model -> colour, so a model keeps its colour across figures.
    """
    layout = base_layout(height, tr("lesson.sensitivity_title"), top=50)
    x = list(range(len(tokens)))
    data = []
    for i, (name, dirs) in enumerate(curves.items()):
        for direction, values in dirs.items():
            values = np.asarray(values, dtype=float)
            rel = values / max(float(values.max()), 1e-30)
            rel = np.maximum(rel, 1e-12)  # a log axis cannot show 0
            backward = direction == "backward"
            data.append(dict(
                type="scatter", x=x, y=as_list(rel), mode="lines+markers",
                name=esc(name) + (tr("lesson.backward_reader") if backward else ""),
                line=dict(color=(colors or {}).get(name, model_color(i)), width=4 if name == selected else 2, dash="dot" if backward else "solid"),
                marker=dict(size=5), customdata=[esc(t) for t in tokens],
                hovertemplate="%{customdata}: %{y:.2e}<extra>" + esc(name) + "</extra>"))
    layout["xaxis"] = dict(AXIS, tickmode="array", tickvals=x, ticktext=[esc(short(t, 14)) for t in tokens],
                           tickangle=-60, title=dict(text=tr("lesson.word_axis")))
    layout["yaxis"] = dict(AXIS, type="log", exponentformat="power", dtick=1,  # labels at powers of ten only
                           title=dict(text=tr("lesson.relative")))
    # many models: the legend goes below the chart (on a phone a legend above would cover the title)
    layout["legend"].update(yanchor="top", y=-0.42, x=0)
    return make_figure(data, layout)


def memory_curves_figure(curves: dict[str, dict], colors: dict[str, str] | None = None,
                         height: int = 500) -> go.Figure:
    """Test-set medians: sensitivity relative to the last word, by distance from it, one line per model.

    curves: model -> {"distance": [...], "median": [...], optionally "backward": [...]} (as in lessons.json).
    """
    layout = base_layout(height, tr("lesson.memory_title"), top=50)
    data = []
    for i, (name, mem) in enumerate(curves.items()):
        for key, suffix, dash in (("median", "", "solid"), ("backward", tr("lesson.backward_first"), "dot")):
            if not mem.get(key):
                continue
            y = np.maximum(np.asarray(mem[key], dtype=float), 1e-12)
            data.append(dict(type="scatter", x=list(mem["distance"]), y=as_list(y), mode="lines+markers",
                             name=esc(name) + suffix, line=dict(color=(colors or {}).get(name, model_color(i)),
                                                                width=2.5, dash=dash),
                             marker=dict(size=5),
                             hovertemplate="%{x} words back: %{y:.3g}<extra>" + esc(name + suffix) + "</extra>"))
    layout["xaxis"] = dict(AXIS, title=dict(text=tr("lesson.distance_axis")))
    layout["yaxis"] = dict(AXIS, type="log", exponentformat="power", dtick=1,  # labels at powers of ten only
                           title=dict(text=tr("lesson.median_axis")))
    layout["legend"].update(yanchor="top", y=-0.3, x=0)  # clear of the axis title, which may wrap on a phone
    return make_figure(data, layout)


def batching_figure(results: dict[str, dict], modes: Sequence[str], height: int = 360) -> go.Figure:
    """Test accuracy per batching mode (x) for each model (one bar group per mode)."""
    layout = base_layout(height, tr("lesson.batching_title"), top=110, barmode="group")
    data = []
    for i, (name, b) in enumerate(results.items()):
        ys = [b[m] for m in modes]
        changed = [0 if m == "one_by_one" else b["changed"][m] for m in modes]
        data.append(dict(type="bar", x=[tr("lesson.mode_" + m) for m in modes], y=ys, name=esc(name),
                         marker=dict(color=model_color(i)), text=[f"{y:.4f}" for y in ys], textposition="outside",
                         customdata=changed,
                         hovertemplate="%{x}: accuracy %{y:.4f}, %{customdata} answers differ from one by one"
                                       "<extra>" + esc(name) + "</extra>"))
    lo = min(min(b[m] for m in modes) for b in results.values()) if results else 0.0
    layout["yaxis"] = dict(AXIS, range=[max(0.0, lo - 0.05), 1.0], title=dict(text=tr("lesson.test_accuracy")))
    layout["xaxis"] = dict(AXIS, title=dict(text=tr("lesson.batching_axis")))
    return make_figure(data, layout)


__all__ = ["word_order_figure", "word_sensitivity_figure", "memory_curves_figure", "batching_figure",
           "model_color", "VARIANT_NAMES"]
