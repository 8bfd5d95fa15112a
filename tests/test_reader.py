"""The Read tab's payload (page/reader.py): the numbers the browser draws are the model's numbers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import write_tiny_checkpoints, write_tiny_data
from page import reader, views
from page.i18n import language
from page.registry import Registry
from rnn_demo import projection as P
from rnn_demo import states as st

HEADLINE = "stocks fall as oil prices rise"


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    root = write_tiny_checkpoints(tmp_path_factory.mktemp("ckpts"))
    data = write_tiny_data(root.parent / "tiny.jsonl")
    assert P.main(["--all", "--root", str(root), "--data", str(data)]) == 0
    return Registry(root)


@pytest.mark.parametrize("model", ["lesson-lstm-packed", "bilstm", "bilstm-2layer"])
def test_paths_are_the_projected_states_in_token_order(reg, model):
    entry = reg.get(model)
    second = "team wins the final match"
    payload = reader.reader_payload(reg, [HEADLINE, second], model)
    hidden = entry.ckpt.config.hidden_size
    assert payload["directions"] == entry.ckpt.config.num_directions
    assert [p["name"] for p in payload["paths"]] == [HEADLINE, second]
    for path, headline in zip(payload["paths"], (HEADLINE, second)):
        tr = reg.trace(model, headline)
        assert path["tokens"] == tr.tokens
        for d, coords in enumerate(path["coords"]):
            expected = entry.projection.project(d, tr.states[:, d * hidden:(d + 1) * hidden])
            assert np.allclose(coords, expected, atol=5e-4)  # 3 decimals


def test_prefix_importance_and_probabilities(reg):
    entry = reg.get("bilstm-2layer")
    tr = reg.trace("bilstm-2layer", HEADLINE)
    payload = reader.reader_payload(reg, [HEADLINE], "bilstm-2layer")
    assert payload["tokens"] == tr.tokens and payload["known"] == tr.known
    assert np.allclose(payload["prefix"], st.prefix_probabilities(entry.ckpt.model, tr.ids), atol=5e-5)
    assert np.allclose(payload["importance"], st.occlusion_importance(entry.ckpt.model, tr.ids), atol=5e-5)
    assert np.allclose(payload["prefix"][-1], payload["probabilities"], atol=1e-4)


@pytest.mark.parametrize("model,keys", [
    ("lesson-lstm-packed", ["hidden", "cell", "input_gate", "forget_gate", "cell_candidate", "output_gate"]),
    ("gru", ["hidden", "reset_gate", "update_gate", "candidate"]),
    ("lesson-rnn", ["hidden"]),
])
def test_cells_hold_the_recomputed_states(reg, model, keys):
    tr = reg.trace(model, HEADLINE)
    cells = reader.reader_payload(reg, [HEADLINE], model)["cells"]
    assert [p["key"] for p in cells["panels"]] == keys
    cell = tr.cell_trace(0, 0)
    sources = {"hidden": cell.hidden, "cell": cell.cell, **{k.replace(" ", "_"): v for k, v in cell.gates.items()}}
    for panel in cells["panels"]:
        values = np.array(panel["hundredths"]) / 100  # whole hundredths: two decimals, written as integers
        assert values.shape == (len(tr.tokens), cells["units"])  # (T, H): a column per word
        assert np.allclose(values, sources[panel["key"]], atol=5e-3)
        assert all(isinstance(v, int) for word in panel["hundredths"] for v in word)
    assert cells["changed_key"] == ("cell" if "cell" in keys else "hidden")


def test_a_chosen_layer_and_direction(reg):
    tr = reg.trace("bilstm-2layer", HEADLINE)
    assert views.internals_choices(reg, "bilstm-2layer") == [
        "layer 1 forward", "layer 1 backward", "layer 2 forward", "layer 2 backward"]
    cells = reader.reader_payload(reg, [HEADLINE], "bilstm-2layer", "layer 1 backward")["cells"]
    assert cells["choice"] == "layer 1 backward"
    assert np.allclose(np.array(cells["panels"][0]["hundredths"]) / 100, tr.cell_trace(0, 1).hidden, atol=5e-3)
    default = reader.reader_payload(reg, [HEADLINE], "bilstm-2layer", "layer 9 sideways")["cells"]
    assert default["choice"] == "layer 2 forward"  # an unknown choice falls back to what the trajectory shows


def test_memory_unit_is_the_longest_run_near_one():
    values = np.full((6, 3), 0.5)
    values[1:5, 2] = 0.95  # unit 2: four words in a row at or above KEEP
    values[0:3, 0] = 0.99  # unit 0: three
    found = reader.memory_unit(values)
    assert found == {"unit": 2, "run": 4, "mean": pytest.approx(values[:, 2].mean(), abs=1e-3), "first": 1, "last": 4}
    assert reader.memory_unit(np.full((4, 2), 0.3))["run"] == 0  # no unit keeps anything


def test_memory_sentences_name_the_unit_or_the_missing_gate(reg):
    tokens = ["a", "b", "c", "d", "e", "f"]
    found = {"unit": 2, "run": 4, "mean": 0.8, "first": 1, "last": 4}
    lstm = reader.memory_sentence("lstm", found, tokens)
    assert "Unit 3" in lstm and "forget gate" in lstm and "“b” … “e”" in lstm
    assert "update gate" in reader.memory_sentence("gru", found, tokens)
    assert "no gate" in reader.memory_sentence("rnn", None, tokens)
    with language("ko"):
        assert "유닛은 3번" in reader.memory_sentence("lstm", found, tokens) and "망각 게이트" in reader.memory_sentence("lstm", found, tokens)
        assert "게이트가 없습니다" in reader.memory_sentence("rnn", None, tokens)


def test_watch_sentence_names_the_word_where_the_answer_settles():
    classes = ["World", "Sports", "Business", "Sci/Tech"]
    prefix = np.array([[0.7, 0.1, 0.1, 0.1], [0.2, 0.6, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.1, 0.1, 0.8, 0.0]])
    text = reader.watch_sentence(prefix, ["w", "x", "y", "z"], classes, True)
    assert "word 3" in text and "“y”" in text and "Business" in text
    first = reader.watch_sentence(prefix[2:], ["y", "z"], classes, True)
    assert "very first word" in first


def test_long_headlines_keep_their_per_word_views_to_the_word_limit(reg):
    long = " ".join(["bank", "rates", "team", "wins"] * 40)  # 160 words
    page = views.analyze_page(reg, long, "gru")
    payload = page.payload
    assert payload["words"] == 160 and len(payload["tokens"]) == reader.WORD_LIMIT
    assert len(payload["prefix"]) == reader.WORD_LIMIT and len(payload["importance"]) == reader.WORD_LIMIT
    assert all(len(p["hundredths"]) == reader.WORD_LIMIT for p in payload["cells"]["panels"])
    assert len(payload["paths"][0]["tokens"]) == 160  # the path itself is whole
    assert f"first {reader.WORD_LIMIT} of the headline\\'s 160 words" in page.notes  # plain-text Markdown
    assert page.importance.count('class="chip"') == reader.WORD_LIMIT + 2  # + the legend's two


def test_payload_is_small_json_and_the_cloud_is_sent_apart(reg):
    payload = reader.reader_payload(reg, [HEADLINE], "bilstm")
    blob = json.dumps(payload, separators=(",", ":"))
    assert "cloud" not in payload and len(blob) < 40_000
    cloud = reader.cloud_json(reg.get("bilstm"))
    entry = reg.get("bilstm")
    assert len(cloud["directions"]) == 2 and cloud["labels"] == entry.projection.labels.tolist()
    assert np.allclose(cloud["directions"][1]["cloud"], entry.projection.clouds[1], atol=5e-4)


def test_the_bag_has_no_path_and_no_cells(tmp_path):
    bag = Registry(write_tiny_checkpoints(tmp_path / "ck", presets=("bag-of-embeddings",)))
    payload = reader.reader_payload(bag, [HEADLINE], "bag-of-embeddings")
    assert payload["paths"] == [] and payload["cells"] is None and payload["directions"] == 0
    assert reader.cloud_json(bag.get("bag-of-embeddings"))["directions"] == []
    assert "order of the words plays no part" in payload["watch"]


def test_a_refused_headline_draws_no_confident_bars(reg):
    page = views.analyze_page(reg, "삼성전자 주가 급등", "gru")
    assert page.label is None and page.payload["answerable"] is False
    assert views.analyze_page(reg, HEADLINE, "gru").payload["answerable"] is True
