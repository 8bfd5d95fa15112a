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
