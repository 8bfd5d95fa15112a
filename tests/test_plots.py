"""Figure builders and page views: the numbers in each figure are the model's numbers."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from helpers import write_tiny_checkpoints, write_tiny_data
from rnn_demo import states as st
from page import figures as plots
from page import card, lesson_views, views
from page.inputs import MAX_HEADLINES, InputError
from page.registry import Registry, UnknownModelError
from rnn_demo import projection as P
from rnn_demo.catalog import lesson_order

HEADLINE = "stocks fall as oil prices rise"
XSS = '<script>window.__xss=1</script> <img src=x onerror="alert(1)"> bank cuts rates'


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    root = write_tiny_checkpoints(tmp_path_factory.mktemp("ckpts"))
    data = write_tiny_data(root.parent / "tiny.jsonl")
    assert P.main(["--all", "--root", str(root), "--data", str(data)]) == 0
    return Registry(root)


def _traces(fig, **match):
    return [t for t in fig.data if all(getattr(t, k) == v for k, v in match.items())]


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("model", ["lesson-lstm-packed", "bilstm"])
def test_trajectory_paths_are_the_projected_states(reg, model, dims):
    entry = reg.get(model)
    tr = reg.trace(model, HEADLINE)
    fig = views.trajectory_view(reg, [HEADLINE], model, dims)
    hidden = entry.ckpt.config.hidden_size
    directions = entry.ckpt.config.num_directions
    paths = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(paths) == directions
    for d, path in enumerate(paths):
        expected = entry.projection.project(d, tr.states[:, d * hidden:(d + 1) * hidden])
        words = tr.tokens
        if d == 1:  # backward reads right to left: its path starts at the last word
            expected, words = expected[::-1], words[::-1]
        # the figure carries 3 decimals (plots._rounded: bytes per Read), so within half a unit of that
        assert np.allclose(path.x, expected[:, 0], atol=5e-4) and np.allclose(path.y, expected[:, 1], atol=5e-4)
        if dims == 3:
            assert np.allclose(path.z, expected[:, 2], atol=5e-4)
        assert [t.split(". ", 1)[1] for t in path.text] == words  # tokens on hover
        ends = [t for t in fig.data if t.mode == "markers" and t.name in ("start", "end")
                and (t.scene if dims == 3 else t.yaxis) == (path.scene if dims == 3 else path.yaxis)]
        start, end = ends
        assert (start.x[0], start.y[0]) == (path.x[0], path.y[0])
        assert (end.x[0], end.y[0]) == (path.x[-1], path.y[-1])
    clouds = [t for t in fig.data if str(t.name).startswith("reference: ") and t.x[0] is not None]  # not legend keys
    assert sum(len(t.x) for t in clouds) == directions * len(entry.projection.labels)
    assert fig.layout.height and fig.layout.height >= 400


def test_mean_pooling_marks_the_classifier_input(reg):
    tr = reg.trace("lesson-rnn", HEADLINE)
    fig = views.trajectory_view(reg, [HEADLINE], "lesson-rnn")
    mark = _traces(fig, name="mean")
    assert len(mark) == 1
    expected = reg.get("lesson-rnn").projection.project(0, tr.pooled)
    assert np.allclose([mark[0].x[0], mark[0].y[0]], expected[:2])
    assert np.allclose(tr.pooled, tr.states.mean(0), atol=1e-6)
    assert not _traces(views.trajectory_view(reg, [HEADLINE], "gru"), name="mean")


def test_prefix_figure_plots_the_prefix_probabilities(reg):
    entry = reg.get("bilstm-2layer")
    tr = reg.trace("bilstm-2layer", HEADLINE)
    probs = st.prefix_probabilities(entry.ckpt.model, tr.ids)
    fig = plots.prefix_figure(tr.tokens, probs, entry.ckpt.class_names)
    assert [t.name for t in fig.data] == list(entry.ckpt.class_names)
    for c, trace in enumerate(fig.data):
        assert np.allclose(trace.y, probs[:, c])
    assert list(fig.layout.xaxis.ticktext) == tr.tokens
    assert fig.layout.height == 360


@pytest.mark.parametrize("model,names", [
    ("lesson-lstm-packed", ["hidden state h", "cell state c", "input gate", "forget gate", "cell candidate",
                            "output gate"]),
    ("gru", ["hidden state h", "reset gate", "update gate", "candidate"]),
    ("lesson-rnn", ["hidden state h"]),
])
def test_internals_heatmaps_hold_the_recomputed_states(reg, model, names):
    tr = reg.trace(model, HEADLINE)
    fig = views.internals_view(reg, HEADLINE, model)
    assert len(fig.data) == len(names)
    titles = [a.text.split("  (colour:")[0] for a in fig.layout.annotations]  # "name  (colour: lo to hi)"
    assert titles == names
    cell = tr.cell_trace(0, 0)
    sources = {"hidden state h": cell.hidden, "cell state c": cell.cell, **cell.gates}
    for trace, name in zip(fig.data, names):
        assert np.allclose(np.asarray(trace.z), sources[name].T, atol=5e-3)  # units x words, 2 decimals
    assert fig.layout.height > 100


def test_internals_of_a_chosen_layer_and_direction(reg):
    assert views.internals_choices(reg, "bilstm-2layer") == [
        "layer 1 forward", "layer 1 backward", "layer 2 forward", "layer 2 backward"]
    tr = reg.trace("bilstm-2layer", HEADLINE)
    fig = views.internals_view(reg, HEADLINE, "bilstm-2layer", "layer 1 backward")
    assert np.allclose(np.asarray(fig.data[0].z), tr.cell_trace(0, 1).hidden.T, atol=5e-3)


def test_compare_view_shows_every_models_probabilities(reg):
    text = HEADLINE + "\nteam wins the final match"
    bars, table, paths, _ = views.compare_view(reg, text)
    for c, trace in enumerate(bars.data):
        assert list(trace.x) == lesson_order(reg.names)  # the lesson's order, not the folders' alphabetical one
        for name, value in zip(trace.x, trace.y):
            expected = reg.get(name).predictor.predict_proba([HEADLINE])[0][c]
            assert value == pytest.approx(float(expected), abs=1e-6)
    assert len(table) == 2 * len(reg.names)
    panels = sum(reg.get(n).ckpt.config.num_directions for n in reg.names)
    assert len(paths.layout.annotations) == panels
    assert bars.layout.height and paths.layout.height


def test_model_card_figures_come_from_the_checkpoint_files(reg):
    entry = reg.get("gru")
    text, confusion, curves = card.model_card(reg, "gru")
    texts = [[a or b for a, b in zip(r1, r2)] for r1, r2 in zip(*(t.text for t in confusion.data))]
    counts = [[int(cell.split("<br>")[0].replace(",", "")) for cell in row] for row in texts]
    assert counts == entry.ckpt.test_metrics["confusion"]
    assert f"{entry.ckpt.model.num_parameters():,}" in text
    assert f"{entry.ckpt.test_metrics['accuracy']:.3f}" in text
    losses = [t for t in curves.data if t.name == "train loss"][0]
    assert list(losses.y) == [e["train_loss"] for e in entry.ckpt.metrics["epochs"]]
    assert confusion.layout.height and curves.layout.height


def test_packing_view_drift_lines_are_the_models_numbers(reg):
    fig, table = lesson_views.packing_view(reg, HEADLINE, 7)
    packed = reg.get("lesson-lstm-packed").ckpt
    p, feats = st.padding_drift(packed.model, packed.vocab.encode(HEADLINE), lesson_views.MAX_PADS)
    target = int(np.argmax(p[0]))
    line = [t for t in fig.data if t.name == "lesson-lstm-packed" and t.yaxis in (None, "y")][0]
    assert np.allclose(line.y, p[:, target])
    drift = [t for t in fig.data if t.name == "lesson-lstm" and t.yaxis == "y2"][0]
    assert max(drift.y) > 0  # the unpacked LSTM moves
    assert "k = 7" in table and fig.layout.height == 500


def test_label_table_and_importance_of_the_page(reg):
    text = HEADLINE + "\nteam wins the final match"
    page = views.analyze_page(reg, text, "bilstm")
    probs = reg.get("bilstm").predictor.predict_proba([HEADLINE, "team wins the final match"])
    assert page.label == pytest.approx(dict(zip(reg.class_names, probs[0].tolist())))
    assert np.allclose(page.table[list(reg.class_names)].to_numpy(), probs, atol=1e-4)
    scores = st.occlusion_importance(reg.get("bilstm").ckpt.model, reg.get("bilstm").ckpt.vocab.encode(HEADLINE))
    words = re.findall(r'<span class="w">([^<]*)</span><span class="n">([^<]*)</span>', page.importance)
    assert [w for w, _ in words] == HEADLINE.split()
    assert [n for _, n in words] == [f"{100 * s:+.1f}" for s in scores]  # percentage points of the answer


def test_user_text_is_escaped_in_every_figure(reg):
    page = views.analyze_page(reg, XSS, "bilstm", dims=2)
    figures = [page.trajectory, page.prefix, page.internals, *views.compare_view(reg, XSS)[::2],
               lesson_views.packing_view(reg, XSS, 3)[0]]
    for fig in figures:
        blob = fig.to_json()
        assert "<script" not in blob and "<img" not in blob
    assert "&lt;script&gt;window" in page.trajectory.to_json()  # shown as text, escaped


def test_every_builder_sets_a_height():
    classes = ("a", "b", "c", "d")
    figures = [
        plots.message_figure("hi"),
        plots.prefix_figure(["x", "y"], np.full((2, 4), 0.25), classes),
        plots.internals_figure(["x"], [("h", np.zeros((3, 1)), (-1, 1))]),
        plots.compare_figure(["m"], np.full((1, 4), 0.25), classes),
        plots.confusion_figure(np.eye(4), classes),
        plots.training_curves_figure([{"epoch": 1, "train_loss": 1.0}]),
        plots.drift_figure([0, 1], {"m": np.full((2, 4), 0.25)}, {"m": np.zeros(2)}, 0, classes),
        plots.trajectory_figure([{"title": "t", "cloud": np.zeros((0, 3)), "labels": np.zeros(0), "paths": []}],
                                classes),
        plots.small_multiples_figure([], classes),
    ]
    for fig in figures:
        assert isinstance(fig.layout.height, (int, float)) and fig.layout.height >= 150
        json.loads(fig.to_json())  # serialisable for gr.Plot


def test_bad_input_gives_notes_not_errors(reg):
    empty = views.analyze_page(reg, "   \n \t ", "gru")
    assert empty.label is None and "Type a headline" in empty.notes
    many = views.analyze_page(reg, "\n".join(["bank cuts rates"] * 40), "gru")
    assert len(many.table) == MAX_HEADLINES and "only the first 32" in many.notes
    long = views.analyze_page(reg, "bank " * 600, "gru")
    assert "only the first 2,000 are read" in long.notes
    unknown = views.analyze_page(reg, "zzqx wug blorft", "gru")
    assert unknown.label is None and "None of the words" in unknown.notes  # the input rule: no answer
    with pytest.raises(UnknownModelError, match="valid models: .*lesson-rnn"):
        views.predict(reg, "hi", "nope")
    with pytest.raises(InputError, match="type a headline"):
        views.predict(reg, "  ", "gru")


def test_analyze_json_is_consistent(reg):
    out = views.analyze(reg, HEADLINE + "\nsecond line", "bilstm")
    json.dumps(out)
    assert out["tokens"] == HEADLINE.split()
    assert out["per_token_probabilities"][-1] == pytest.approx(out["probabilities"], abs=1e-5)
    assert [d["direction"] for d in out["trajectory"]["directions"]] == ["forward", "backward"]
    assert all(len(d["coords"]) == len(out["tokens"]) for d in out["trajectory"]["directions"])
    assert any("analyses the first one" in n for n in out["notes"])
    with torch.no_grad():
        entry = reg.get("bilstm")
        assert out["probabilities"] == pytest.approx(
            dict(zip(entry.ckpt.class_names, entry.predictor.predict_proba([HEADLINE])[0].tolist())))
