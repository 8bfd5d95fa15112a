"""Figure builders and page views: the numbers in each figure are the model's numbers."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from helpers import write_tiny_checkpoints, write_tiny_data, shown
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
    figures = [*views.compare_view(reg, XSS)[::2], lesson_views.packing_view(reg, XSS, 3)[0]]
    for fig in figures:
        blob = fig.to_json()
        assert "<script" not in blob and "<img" not in blob
    assert "&lt;script&gt;window" in figures[1].to_json()  # shown as text, escaped
    # the Read tab's HTML pieces escape it too (its drawn views get it as data: tests/test_reader_browser.py)
    page = views.analyze_page(reg, XSS, "bilstm")
    assert "<script" not in page.importance + page.answer + page.notes


def test_every_builder_sets_a_height():
    classes = ("a", "b", "c", "d")
    figures = [
        plots.message_figure("hi"),
        plots.compare_figure(["m"], np.full((1, 4), 0.25), classes),
        plots.confusion_figure(np.eye(4), classes),
        plots.training_curves_figure([{"epoch": 1, "train_loss": 1.0}]),
        plots.drift_figure([0, 1], {"m": np.full((2, 4), 0.25)}, {"m": np.zeros(2)}, 0, classes),
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
    assert "only the first 2,000 are read" in shown(long.notes)
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
