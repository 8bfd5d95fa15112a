"""Figures a learner can read: colour scales that run the right way, colour bars with their
ranges, class colours that survive colour-blindness, legends that can be seen."""
from __future__ import annotations

import numpy as np
import pytest

from page import figures as plots

CLASSES = ("World", "Sports", "Business", "Sci/Tech")
# rows: true class, columns: predicted; 229 Business headlines read as Sci/Tech is the big confusion
CONFUSION = np.array([[1700, 40, 100, 60], [15, 1870, 10, 5], [80, 15, 1576, 229], [60, 15, 130, 1695]])


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def _deuteranopia(rgb: np.ndarray) -> np.ndarray:
    """Machado et al. (2009) simulation matrix, severity 1.0, applied in linear RGB."""
    c = rgb / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]])
    out = np.clip(lin @ m.T, 0, 1)
    return 255 * np.where(out <= 0.0031308, out * 12.92, 1.055 * out ** (1 / 2.4) - 0.055)


def _hex(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def test_confusion_errors_have_their_own_scale_and_the_biggest_is_darkest():
    fig = plots.confusion_figure(CONFUSION, CLASSES)
    correct, errors = fig.data
    assert correct.name == "correct" and errors.name == "errors"
    # the diagonal only in one trace, the errors only in the other
    assert all((correct.z[i][j] is None) == (i != j) for i in range(4) for j in range(4))
    assert all((errors.z[i][j] is None) == (i == j) for i in range(4) for j in range(4))
    # low counts are pale (white at 0) and high counts dark, on both scales
    for trace in (correct, errors):
        assert trace.colorscale[0][1].lower() in ("#ffffff", "white")
        assert trace.zmin == 0
    assert errors.zmax == 229  # the biggest confusion gets the darkest colour ...
    assert errors.zmax / 15 > 10  # ... far from a 15-error cell, which stays pale
    assert correct.colorbar.title.text == "correct" and errors.colorbar.title.text == "errors"
    assert correct.text[0][1] == "" and errors.text[0][0] == ""  # each cell written once
    assert errors.text[2][3] == "229<br>12.1%" and correct.text[1][1] == "1,870<br>98.4%"


def test_class_colours_stay_apart_under_deuteranopia_and_have_shapes():
    # At full strength (legend keys, labels) the palette stays apart for deuteranopes (worst pair:
    # Sports vs Sci/Tech, about 18); the faint cloud points are closer, so each class also has a shape.
    labs = [_srgb_to_lab(_deuteranopia(_hex(c))) for c in plots.CLASS_COLORS]
    worst = min(np.linalg.norm(labs[i] - labs[j]) for i in range(4) for j in range(i + 1, 4))
    assert worst > 15
    assert len(set(plots.CLASS_SYMBOLS)) == 4 and len(set(plots.CLASS_SYMBOLS_3D)) == 4


def test_path_colours_are_not_class_colours():
    for p in plots.PATH_COLORS:
        for c in plots.CLASS_COLORS:
            assert np.linalg.norm(_srgb_to_lab(_hex(p)) - _srgb_to_lab(_hex(c))) > 20, (p, c)


def test_trajectory_legend_keys_are_solid_and_large():
    cloud = np.random.default_rng(0).normal(size=(40, 3))
    labels = np.arange(40) % 4
    path = {"name": "headline", "coords": np.zeros((3, 3)), "tokens": ["a", "b", "c"]}
    fig = plots.small_multiples_figure([{"title": "forward", "cloud": cloud, "labels": labels, "paths": [path]}],
                                       CLASSES)
    keys = [t for t in fig.data if str(t.name).startswith("reference: ") and t.showlegend]
    assert len(keys) == 4
    for c, key in enumerate(keys):
        assert key.marker.opacity == 1.0 and key.marker.size >= 10
        assert key.marker.color == plots.CLASS_COLORS[c] and key.marker.symbol == plots.class_symbol(c, 2)
    points = [t for t in fig.data if str(t.name).startswith("reference: ") and not t.showlegend]
    assert sum(len(t.x) for t in points) == 40


def test_training_curves_mark_the_kept_epoch():
    epochs = [{"epoch": e, "train_loss": 1 / e, "val_accuracy": 0.5 + e / 100} for e in range(1, 15)]
    fig = plots.training_curves_figure(epochs, best_epoch=11)
    assert [s.x0 for s in fig.layout.shapes] == [11, 11]
    assert any(a.text == "kept: epoch 11" for a in fig.layout.annotations)
    assert fig.layout.xaxis.nticks and fig.layout.xaxis.dtick is None  # no tick per epoch to collide on a phone


# ---------------------------------------------------------------- the lesson's figures on a phone

def _memory_curves(models: int = 6, backward: tuple[int, ...] = (4, 5)) -> dict:
    rng = np.random.default_rng(0)
    curves = {}
    for m in range(models):
        mem = {"distance": list(range(30)), "median": (10.0 ** -rng.uniform(0, 5, 30)).tolist()}
        if m in backward:
            mem["backward"] = (10.0 ** -rng.uniform(0, 5, 30)).tolist()
        curves[f"model-{m}"] = mem
    return curves


def _memory_figures():
    from page import lesson_figures as lf

    curves = _memory_curves()
    live = {name: {"forward": np.array(mem["median"][:8]), **({"backward": np.array(mem["backward"][:8])}
                                                                 if "backward" in mem else {})}
            for name, mem in curves.items()}
    return [lf.memory_curves_figure(curves), lf.word_sensitivity_figure([f"w{i}" for i in range(8)], live)]


def test_memory_log_axis_labels_are_plain_text_standing_off_the_axis_title():
    """Plotly measures <sup> tick labels too narrow, so the axis title was drawn over 10^-1 ... 10^-5:
    the powers of ten are written as plain text (10⁻³) and the title keeps its distance."""
    for fig in _memory_figures():
        y = fig.layout.yaxis
        assert y.type == "log" and y.exponentformat != "power"
        assert list(y.tickvals) and all("<" not in t for t in y.ticktext)
        assert "10⁻¹" in y.ticktext and y.ticktext[list(y.tickvals).index(1)] == "1"
        lows = [min(t.y) for t in fig.data]
        assert min(y.tickvals) <= min(lows) * 10  # the lowest line is within a decade of a labelled tick
        assert y.title.standoff >= 10 and len(y.title.text) <= 40  # short: it fits beside a phone-sized plot


def test_memory_lines_differ_in_two_cues_and_their_colours_survive_deuteranopia():
    """Eight lines (six models, two of them bidirectional): any two differ in at least two of colour,
    marker and dash; the models' colours stay apart for deuteranopes, as the class colours do."""
    for fig in _memory_figures():
        lines = list(fig.data)
        assert len(lines) == 8
        labs = {t.line.color: _srgb_to_lab(_deuteranopia(_hex(t.line.color))) for t in lines}
        for i, a in enumerate(lines):
            for b in lines[i + 1:]:
                colour = np.linalg.norm(labs[a.line.color] - labs[b.line.color]) > 12
                cues = [colour, a.marker.symbol != b.marker.symbol, (a.line.dash or "solid") != (b.line.dash or "solid")]
                assert sum(cues) >= 2, (a.name, b.name, cues)
        assert all(t.marker.size >= 6 for t in lines)


def test_batching_bars_are_labelled_at_a_readable_size():
    """Vertical bars 25 px wide on a phone shrank their numbers to about 6 px: the bars lie down, the
    numbers sit beyond their ends at 11 px or more and are never shrunk to fit."""
    from page import lesson_figures as lf

    modes = ("one_by_one", "sorted_64", "random_16")
    results = {m: {"one_by_one": 0.87, "sorted_64": 0.86, "random_16": 0.8703, "changed": {"sorted_64": 3, "random_16": 4}}
               for m in ("lesson-lstm", "lesson-lstm-packed")}
    fig = lf.batching_figure(results, modes)
    for trace in fig.data:
        assert trace.orientation == "h" and trace.textposition == "outside"
        assert (trace.textfont.size or 0) >= 11 and trace.constraintext == "none"
    assert (fig.layout.uniformtext.minsize or 0) >= 11


def test_word_order_bar_text_is_never_shrunk_below_11px():
    from page import lesson_figures as lf

    probs = np.random.default_rng(0).dirichlet(np.ones(4), size=(7, 3))
    fig = lf.word_order_figure([f"m{i}" for i in range(7)], probs, CLASSES)
    assert (fig.layout.uniformtext.minsize or 0) >= 11 and all((t.textfont.size or 0) >= 11 for t in fig.data)


def test_training_curves_stack_so_no_axis_title_lands_on_the_other_panel():
    """Side by side on a phone, the accuracy panel's axis title was drawn over the loss panel."""
    epochs = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_accuracy": 0.5 + e / 40,
               "val_accuracy": 0.5 + e / 50} for e in range(1, 13)]
    fig = plots.training_curves_figure(epochs, best_epoch=11)
    top, bottom = fig.layout.yaxis.domain, fig.layout.yaxis2.domain
    assert list(fig.layout.xaxis.domain) == [0, 1] and list(fig.layout.xaxis2.domain) == [0, 1]
    assert bottom[1] < top[0]  # one panel above the other, with a gap
    assert any("11" in a.text for a in fig.layout.annotations)
