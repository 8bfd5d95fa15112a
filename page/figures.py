"""Plotly figure builders. Each takes plain arrays (the model's numbers) and sets an explicit height.

Figures are written as Plotly JSON specs (dicts) and wrapped in `go.Figure(..., _validate=False)`:
Plotly's validating object model and `make_subplots` cost more time per figure than the
model itself, so subplots are laid out here by hand (`_rows`, `_grid`).

Text that came from a user (headline words) is HTML-escaped before it reaches a figure:
Plotly renders a subset of HTML tags in labels, and a headline must show as typed.
"""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .i18n import class_label, tr

# One colour per class, in CLASS_NAMES order (colour-blind safe: Okabe-Ito).
CLASS_COLORS = ("#0072B2", "#009E73", "#E69F00", "#CC79A7")
# A second cue besides colour, so the classes stay apart under colour-blindness (and in print).
CLASS_SYMBOLS = ("circle", "square", "diamond", "triangle-up")
CLASS_SYMBOLS_3D = ("circle", "square", "diamond", "cross")  # scatter3d has no triangles
# Headline paths: dark, saturated colours unlike any class colour (and unlike each other).
PATH_COLORS = ("#111111", "#D55E00", "#5D3A9B", "#8B0000", "#4D4D4D", "#000080", "#7A5230", "#556B2F")
GRID = "#e5e5e5"
AXIS = dict(gridcolor=GRID, zeroline=False, linecolor="#999", automargin=True)


def class_color(index: int) -> str:
    return CLASS_COLORS[index % len(CLASS_COLORS)]


def class_symbol(index: int, dims: int = 2) -> str:
    symbols = CLASS_SYMBOLS_3D if dims == 3 else CLASS_SYMBOLS
    return symbols[index % len(symbols)]


def esc(text: str) -> str:
    """Escape a user-provided string for Plotly labels (which understand some HTML)."""
    return html.escape(str(text), quote=False)  # Plotly parses <tags> and &entities; quotes are inert


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_list(x) -> list:
    return np.asarray(x, dtype=float).tolist()


def rounded(x, digits: int) -> list:
    """Coordinates sent to the browser, rounded: a 17-digit float costs ~20 bytes of JSON, and a
    few hundred pixels of plot cannot show more than 3 digits (the page's figures are the bulk of a
    Read's response)."""
    return np.round(np.asarray(x, dtype=float), digits).tolist()


def base_layout(height: int, title: str | None = None, top: int = 50, **extra) -> dict:
    layout = dict(
        height=height, template={}, paper_bgcolor="white", plot_bgcolor="white",
        font=dict(size=12, family="Arial, sans-serif"), margin=dict(l=50, r=15, t=top, b=45),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, font=dict(size=11)),
        hoverlabel=dict(namelength=-1), annotations=[],
    )
    if title:
        # pinned to the top edge, so a legend above the axes (which wraps to two lines on a phone) sits below it
        layout["title"] = dict(text=title, x=0.01, xanchor="left", y=1, yref="container", yanchor="top",
                               pad=dict(t=10), font=dict(size=14))
    layout.update(extra)
    return layout


def make_figure(data: list[dict], layout: dict) -> go.Figure:
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _axis_names(k: int) -> tuple[str, str, str, str]:
    """k-th subplot (0-based) -> ('x2', 'y2', 'xaxis2', 'yaxis2')."""
    suffix = "" if k == 0 else str(k + 1)
    return f"x{suffix}", f"y{suffix}", f"xaxis{suffix}", f"yaxis{suffix}"


def _rows(n: int, gap: float) -> list[tuple[float, float]]:
    """Vertical domains of n stacked rows, top first."""
    h = (1.0 - gap * (n - 1)) / n
    clamp = lambda v: round(min(1.0, max(0.0, v)), 6)  # noqa: E731  (float error must not leave [0, 1])
    return [(clamp(1.0 - (i + 1) * h - i * gap), clamp(1.0 - i * h - i * gap)) for i in range(n)]


def _grid(n: int, cols: int, hgap: float, vgap: float) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """(x domain, y domain) of n cells in a rows x cols grid, filled row by row."""
    rows = max(1, -(-n // cols))
    w = (1.0 - hgap * (cols - 1)) / cols
    ys = _rows(rows, vgap)
    return [((round(c * (w + hgap), 6), round(min(1.0, c * (w + hgap) + w), 6)), ys[r])
            for r, c in ((k // cols, k % cols) for k in range(n))]


def _subplot_title(text: str, x: tuple[float, float], y: tuple[float, float]) -> dict:
    return dict(text=text, x=(x[0] + x[1]) / 2, y=y[1], xref="paper", yref="paper", xanchor="center",
                yanchor="bottom", showarrow=False, font=dict(size=13))


def message_figure(text: str, height: int = 200) -> go.Figure:
    """An empty figure carrying a short message (e.g. "type a headline first")."""
    layout = base_layout(height)
    layout["xaxis"] = dict(visible=False)
    layout["yaxis"] = dict(visible=False)
    layout["annotations"] = [dict(text=esc(text), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                                  font=dict(size=14, color="#555"))]
    return make_figure([], layout)


# ---------------------------------------------------------------- trajectories

def _cloud_traces(cloud, labels, class_names: Sequence[str], dims: int, showlegend: bool, where: dict) -> list[dict]:
    cloud, labels = np.asarray(cloud, dtype=float), np.asarray(labels)
    traces = []
    for c, name in enumerate(class_names):
        name = class_label(name)
        pts = cloud[labels == c] if len(cloud) else cloud
        if not len(pts):
            continue
        kind = "scatter3d" if dims == 3 else "scatter"
        marker = dict(color=class_color(c), symbol=class_symbol(c, dims))
        t = dict(type=kind, mode="markers", name=tr("plot.reference", name=name),
                 legendgroup=f"cloud{c}", showlegend=False, hoverinfo="name",
                 marker=dict(marker, size=2.5 if dims == 3 else 5, opacity=0.3),
                 x=rounded(pts[:, 0], 2), y=rounded(pts[:, 1], 2), **where)  # faint dots: 2 decimals suffice
        if dims == 3:
            t["z"] = rounded(pts[:, 2], 2)
        traces.append(t)
        if showlegend:  # the cloud's 25 %-opaque 4 px dots make an unreadable legend swatch
            key = dict(type=kind, mode="markers", name=tr("plot.reference", name=name), legendgroup=f"cloud{c}",
                       showlegend=True, hoverinfo="skip", marker=dict(marker, size=10, opacity=1.0),
                       x=[None], y=[None], **where)
            if dims == 3:
                key["z"] = [None]
            traces.append(key)
    return traces


MAX_WORD_LABELS = 12  # words written next to a 2-D path; the rest are on hover


def _path_traces(path: dict, color: str, dims: int, showlegend: bool, where: dict,
                 label_words: bool = True) -> list[dict]:
    """A headline's path (line + one marker per word), its start (open circle) and end (star)."""
    xyz = np.asarray(path["coords"], dtype=float)
    words = [esc(t) for t in path["tokens"]]
    name = esc(short(path["name"]))
    group = path.get("group", name)
    kind = "scatter3d" if dims == 3 else "scatter"

    def pts(index) -> dict:
        sel = xyz[index]
        d = dict(x=rounded(sel[:, 0], 3), y=rounded(sel[:, 1], 3))
        if dims == 3:
            d["z"] = rounded(sel[:, 2], 3)
        return d

    last = len(xyz) - 1
    traces = [dict(type=kind, mode="lines+markers", name=name, legendgroup=group, showlegend=showlegend,
                   text=[f"{i + 1}. {w}" for i, w in enumerate(words)],
                   hovertemplate="%{text}<extra>" + name + "</extra>",
                   line=dict(color=color, width=4 if dims == 3 else 2.5, dash=path.get("dash", "solid")),
                   marker=dict(color=color, size=3 if dims == 3 else 6), **pts(slice(None)), **where)]
    # the end is a star in 2-D and a diamond in 3-D (scatter3d has no star); the help text says both
    for idx, symbol, what in ((0, "circle-open", tr("plot.start")), (last, "diamond" if dims == 3 else "star", tr("plot.end"))):
        traces.append(dict(type=kind, mode="markers", name=f"{what}", legendgroup=group, showlegend=False,
                           text=[f"{what}: {words[idx]}"], hovertemplate="%{text}<extra></extra>",
                           marker=dict(color=color, size=(7 if dims == 3 else 13 if idx == 0 else 16),
                                       symbol=symbol, line=dict(width=2, color=color)),
                           **pts([idx]), **where))
    if dims == 2 and label_words:
        every = max(1, -(-len(words) // MAX_WORD_LABELS))  # label every n-th word; hover shows all
        shown = [i for i in range(len(words)) if i % every == 0 or i == last]
        traces.append(dict(type="scatter", mode="text", text=[words[i] for i in shown],
                           textposition=["top center" if j % 2 == 0 else "bottom center" for j in range(len(shown))],
                           textfont=dict(size=10, color=color), legendgroup=group, showlegend=False,
                           hoverinfo="skip", **pts(shown), **where))
    if path.get("readout") is not None:  # mean pooling: the point the classifier actually reads
        r = np.asarray(path["readout"], dtype=float)[None, :]
        d = dict(x=as_list(r[:, 0]), y=as_list(r[:, 1]))
        if dims == 3:
            d["z"] = as_list(r[:, 2])
        traces.append(dict(type=kind, mode="markers", name=tr("plot.mean_short"), legendgroup=group, showlegend=False,
                           text=[tr("plot.mean")],
                           hovertemplate="%{text}<extra></extra>",
                           marker=dict(color=color, size=6 if dims == 3 else 12, symbol="x"), **d, **where))
    return traces


def small_multiples_figure(panels: list[dict], class_names: Sequence[str], cols: int = 2,
                           cell_height: int = 250) -> go.Figure:
    """2-D trajectories, one small panel per (model, direction), each over its own reference cloud."""
    n = max(1, len(panels))
    rows = -(-n // cols)
    height = 140 + cell_height * rows
    layout = base_layout(height, tr("plot.small_multiples"), top=60)
    layout["legend"].update(yanchor="top", y=-20 / height)
    layout["margin"].update(l=15, r=15, b=20)
    data: list[dict] = []
    for k, (panel, (xdom, ydom)) in enumerate(zip(panels, _grid(n, cols, 0.05, 60 / height))):
        x, y, xa, ya = _axis_names(k)
        layout[xa] = dict(AXIS, domain=list(xdom), anchor=y, showticklabels=False)
        layout[ya] = dict(AXIS, domain=list(ydom), anchor=x, showticklabels=False)
        layout["annotations"].append(_subplot_title(esc(panel["title"]), xdom, ydom))
        where = {"xaxis": x, "yaxis": y}
        data += _cloud_traces(panel["cloud"], panel["labels"], class_names, 2, k == 0, where)
        for i, path in enumerate(panel["paths"]):
            data += _path_traces(path, PATH_COLORS[i % len(PATH_COLORS)], 2, k == 0, where, label_words=False)
    return make_figure(data, layout)


# ---------------------------------------------------------------- per-word views

def compare_figure(model_names: Sequence[str], probs: np.ndarray, class_names: Sequence[str],
                   height: int = 360) -> go.Figure:
    """Grouped bars: each model's class probabilities for the same headline."""
    probs = np.asarray(probs, dtype=float)
    data = [dict(type="bar", x=list(model_names), y=as_list(probs[:, c]), name=class_label(name),
                 marker=dict(color=class_color(c)),
                 hovertemplate="%{x}: %{y:.3f}<extra>" + esc(class_label(name)) + "</extra>")
            for c, name in enumerate(class_names)]
    layout = base_layout(height, tr("plot.compare"), top=110, barmode="group")  # room for a two-line legend
    layout["xaxis"] = dict(AXIS)
    layout["yaxis"] = dict(AXIS, range=[0, 1], title=dict(text=tr("plot.probability")))
    return make_figure(data, layout)


# Signed values (h, cell candidate, cell state): -1 blue, 0 white, +1 red, as the help text says.
# (Plotly's named "RdBu" runs blue -> red too, but reversed it ran the other way round.)
SIGNED_SCALE = [[0.0, "#2166AC"], [0.5, "#F7F7F7"], [1.0, "#B2182B"]]
CORRECT_SCALE = [[0.0, "#ffffff"], [1.0, "#0072B2"]]  # white -> blue: share of the class answered right
ERROR_SCALE = [[0.0, "#ffffff"], [1.0, "#D55E00"]]  # white -> vermillion: errors, darkest = biggest confusion


def confusion_figure(confusion: np.ndarray, class_names: Sequence[str], height: int = 380) -> go.Figure:
    """Confusion matrix (rows: true class, columns: predicted), count and row share written in.

    Correct answers (the diagonal) and errors are coloured on separate scales: on one scale the
    diagonal's ~1,800 would wash out the difference between 15 and 229 errors, which is the point.
    """
    m = np.asarray(confusion, dtype=float)
    rows = np.maximum(m.sum(axis=1, keepdims=True), 1)
    diag = np.eye(len(m), dtype=bool)
    n = len(m)
    cell = lambda i, j: f"{int(m[i, j]):,}<br>{100 * m[i, j] / rows[i, 0]:.1f}%"  # noqa: E731
    grid = lambda keep, f, off: [[f(i, j) if keep[i, j] else off for j in range(n)] for i in range(n)]  # noqa: E731
    class_names = [class_label(c) for c in class_names]
    common = dict(type="heatmap", x=list(class_names), y=list(class_names), texttemplate="%{text}",
                  xgap=2, ygap=2, hovertemplate="true %{y}, predicted %{x}: %{z:,}<extra></extra>")
    worst = float(m[~diag].max()) if (~diag).any() and m[~diag].max() > 0 else 1.0
    # the diagonal is always dark blue (most headlines are right): white text there, dark text on the errors
    data = [dict(common, z=grid(diag, lambda i, j: float(m[i, j]), None), text=grid(diag, cell, ""), name=tr("plot.correct"),
                 colorscale=CORRECT_SCALE, zmin=0, zmax=float(rows.max()), textfont=dict(color="white", size=12),
                 colorbar=dict(title=dict(text=tr("plot.correct"), side="right"), x=1.02, y=0.75, len=0.45, thickness=10)),
            dict(common, z=grid(~diag, lambda i, j: float(m[i, j]), None), text=grid(~diag, cell, ""), name=tr("plot.errors"),
                 colorscale=ERROR_SCALE, zmin=0, zmax=worst, textfont=dict(color="#111111", size=12),
                 colorbar=dict(title=dict(text=tr("plot.errors"), side="right"), x=1.02, y=0.22, len=0.45, thickness=10))]
    layout = base_layout(height, tr("plot.confusion"), top=50)
    layout["margin"].update(r=80)
    # axis titles stand off the class names (they touched them)
    layout["xaxis"] = dict(title=dict(text=tr("plot.predicted_class"), standoff=10), automargin=True)
    layout["yaxis"] = dict(title=dict(text=tr("plot.true_class"), standoff=10), autorange="reversed", automargin=True)
    return make_figure(data, layout)


def training_curves_figure(epochs: list[dict], height: int = 540, best_epoch: int | None = None) -> go.Figure:
    """Loss and accuracy per epoch from metrics.json's "epochs" list (whatever keys are present).

    The two panels are stacked (loss above accuracy, one epoch axis each): side by side on a phone
    the accuracy panel's axis title was drawn over the loss panel. `best_epoch` (the epoch whose
    weights were kept, chosen on validation accuracy) is marked in both.
    """
    x = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    series = [("train_loss", 0, "#0072B2", "solid"), ("val_loss", 0, "#D55E00", "dash"),
              ("train_accuracy", 1, "#0072B2", "solid"), ("val_accuracy", 1, "#D55E00", "dash")]
    data = []
    for key, k, color, dash in series:
        if not any(key in e for e in epochs):
            continue
        xs, ys, _, _ = _axis_names(k)
        data.append(dict(type="scatter", x=x, y=[e.get(key) for e in epochs], mode="lines+markers",
                         name=tr(f"plot.{key}"), line=dict(color=color, dash=dash), xaxis=xs, yaxis=ys))
    layout = base_layout(height, tr("plot.curves"), top=50)
    layout["margin"].update(b=90)  # the legend goes below the axes: above, it wraps into the title on a phone
    domains = _rows(2, 110 / height)  # room for the top panel's epoch axis and its title
    for k, (ydom, name) in enumerate(zip(domains, (tr("plot.loss"), tr("plot.accuracy")))):
        xs, ys, xa, ya = _axis_names(k)
        layout[xa] = dict(AXIS, domain=[0, 1], anchor=ys, tickmode="auto", nticks=7, tickformat="d",
                          title=dict(text=tr("plot.epoch"), standoff=10), **({"matches": "x"} if k else {}))
        layout[ya] = dict(AXIS, domain=list(ydom), anchor=xs, title=dict(text=name))
    layout["legend"].update(yanchor="top", y=-90 / height)
    if best_epoch is not None:
        layout["shapes"] = [dict(type="line", x0=best_epoch, x1=best_epoch, y0=ydom[0], y1=ydom[1],
                                 xref="x" if k == 0 else "x2", yref="paper", line=dict(color="#555", dash="dot", width=1.5))
                            for k, ydom in enumerate(domains)]
        # named once, at the top of the loss panel, where the falling curves leave room
        layout["annotations"].append(dict(text=tr("plot.kept", epoch=best_epoch), x=best_epoch, y=domains[0][1],
                                          xref="x", yref="paper", xanchor="right", yanchor="top", showarrow=False,
                                          font=dict(size=11, color="#555")))
    return make_figure(data, layout)


def drift_figure(ks: Sequence[int], probs: dict[str, np.ndarray], drift: dict[str, np.ndarray],
                 target: int, class_names: Sequence[str], selected_k: int | None = None,
                 height: int = 500) -> go.Figure:
    """Padding drift: P(target class) and distance of the final state from the k = 0 state, per model."""
    layout = base_layout(height, tr("plot.packing"), top=80)
    domains = _rows(2, 70 / height)
    titles = [tr("plot.drift_prob", name=esc(class_label(class_names[target]))), tr("plot.drift_dist")]
    data = []
    for i, (name, p) in enumerate(probs.items()):
        color = PATH_COLORS[(i + 1) % len(PATH_COLORS)]
        common = dict(type="scatter", x=list(ks), mode="lines+markers", legendgroup=name,
                      line=dict(color=color, width=2.5))
        data.append(dict(common, y=as_list(np.asarray(p)[:, target]), name=esc(name)))
        data.append(dict(common, y=as_list(drift[name]), name=esc(name), showlegend=False, xaxis="x2", yaxis="y2"))
    for k, (ydom, text) in enumerate(zip(domains, titles)):
        xs, ys, xa, ya = _axis_names(k)
        layout[xa] = dict(AXIS, domain=[0, 1], anchor=ys, **({"matches": "x"} if k else {}),
                          **({"title": dict(text=tr("plot.k_axis"))} if k else {}))
        layout[ya] = dict(AXIS, domain=list(ydom), anchor=xs)
        layout["annotations"].append(_subplot_title(text, (0, 1), ydom))
    layout["yaxis"].update(range=[0, 1.02], title=dict(text=tr("plot.probability")))
    layout["yaxis2"].update(rangemode="tozero", title=dict(text=tr("plot.l2")))
    layout["legend"].update(yanchor="top", y=-0.2, x=0)  # below: at phone width a legend on top covers the titles
    if selected_k is not None:
        layout["shapes"] = [dict(type="line", x0=selected_k, x1=selected_k, y0=0, y1=1, xref="x", yref="paper",
                                 line=dict(color="#888", dash="dot"))]
    return make_figure(data, layout)
