"""The lesson's diagrams without a browser: the numbers they draw are the model's and torch's own.

- the unrolled network (page/diagrams.py): every layer's and direction's hidden state per word, the
  picker's row sent once (in `cells`), the bag's embeddings; a 12-word Read stays within 40 KB;
- packing (page/packing_diagram.py): the lesson's batch and the typed headlines, checked against
  `pack_padded_sequence`'s `.data`, `.batch_sizes` and `.sorted_indices`;
- the texts are served once per language (page/assets.py), and the bag opens with its diagram.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from starlette.applications import Starlette
from starlette.testclient import TestClient
from torch.nn.utils.rnn import pack_padded_sequence

from helpers import TINY_PRESETS, write_tiny_checkpoints
from page import assets, diagrams, packing_diagram, reader
from page.handlers import Handlers
from page.i18n import language, locales
from page.registry import Registry
from rnn_demo.tokenizer import PAD_ID

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = "stocks fall as oil prices rise"
TWELVE = "Central bank raises interest rates as inflation climbs to a ten-year high"


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    return Registry(write_tiny_checkpoints(tmp_path_factory.mktemp("ckpts"), presets=(*TINY_PRESETS, "bag-of-embeddings")))


# ---------------------------------------------------------------- the unrolled network


@pytest.mark.parametrize("model,choice", [("bilstm-2layer", None), ("bilstm-2layer", "layer 1 backward"),
                                          ("bilstm", None), ("gru", None), ("lesson-rnn", None)])
def test_rows_hold_every_layer_and_direction_and_the_pickers_row_once(reg, model, choice):
    entry = reg.get(model)
    cfg = entry.ckpt.config
    tr = reg.trace(model, HEADLINE)
    payload = reader.reader_payload(reg, [HEADLINE], model, choice)
    d = payload["diagram"]
    assert (d["kind"], d["layers"], d["directions"], d["units"]) == (cfg.cell, cfg.num_layers, cfg.num_directions,
                                                                    cfg.hidden_size)
    assert [(r["layer"], r["direction"]) for r in d["rows"]] == [
        (layer, direction) for layer in range(cfg.num_layers) for direction in range(cfg.num_directions)]
    chosen = [r for r in d["rows"] if r["cells"]]
    assert len(chosen) == 1 and chosen[0]["hundredths"] is None  # sent once: it is the cells view's hidden panel
    name = f"layer {chosen[0]['layer'] + 1} {('forward', 'backward')[chosen[0]['direction']]}"
    assert name == payload["cells"]["choice"] == diagrams.chosen_row(entry, choice)
    hidden = next(p for p in payload["cells"]["panels"] if p["key"] == "hidden")["hundredths"]
    hidden = np.array(hidden) / 100
    for row in d["rows"]:
        values = hidden if row["cells"] else np.array(row["hundredths"]) / 100
        assert np.allclose(values, tr.cell_trace(row["layer"], row["direction"]).hidden, atol=5e-3)  # 2 decimals
        assert row["cells"] or all(isinstance(v, int) for word in row["hundredths"] for v in word)


def test_the_bags_row_is_its_embeddings_with_a_range_that_holds_them(reg):
    tr = reg.trace("bag-of-embeddings", HEADLINE)
    d = reader.reader_payload(reg, [HEADLINE], "bag-of-embeddings")["diagram"]
    assert d["kind"] == "bag" and d["layers"] == 0 and len(d["rows"]) == 1 and not d["rows"][0]["cells"]
    emb = reg.get("bag-of-embeddings").ckpt.model.embedding.weight[tr.ids].detach().numpy()
    values = np.array(d["rows"][0]["hundredths"]) / 100
    assert np.allclose(values, emb, atol=5e-3)
    lo, hi = d["range"]
    assert lo == -hi and np.abs(values).max() <= hi
    assert d["readout"] == "The classifier reads the average embedding."


def test_readout_names_the_boxes_the_classifier_reads(reg):
    sentence = {m: reader.reader_payload(reg, [HEADLINE], m)["diagram"]["readout"]
                for m in ("lesson-rnn", "lesson-lstm", "lesson-lstm-packed", "bilstm")}
    assert "average" in sentence["lesson-rnn"] and "6 boxes" in sentence["lesson-rnn"]
    assert "S₆" in sentence["lesson-lstm-packed"] and "last box" in sentence["lesson-lstm-packed"]
    assert "pads" in sentence["lesson-lstm"]
    assert "backward row's first box (S₁)" in sentence["bilstm"]
    with language("ko"):
        assert "S₆" in reader.reader_payload(reg, [HEADLINE], "gru")["diagram"]["readout"]


@pytest.mark.skipif(not (ROOT / "checkpoints" / "bilstm-2layer").is_dir(), reason="needs the shipped bilstm-2layer")
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_twelve_word_read_on_bilstm_2layer_stays_within_40_kb(tmp_path, lang):
    (tmp_path / "bilstm-2layer").symlink_to(ROOT / "checkpoints" / "bilstm-2layer")
    shipped = Registry(tmp_path)
    with language(lang):
        payload = reader.reader_payload(shipped, [TWELVE], "bilstm-2layer")
    assert len(payload["tokens"]) == 12 and len(payload["diagram"]["rows"]) == 4
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    assert size <= 40_000, size


# ---------------------------------------------------------------- packing


def test_the_lessons_batch_is_packed_by_torch_as_the_lesson_says(reg):
    lesson = packing_diagram.packing_json(reg, "")["lesson"]
    padded = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 0, 0], [9, 0, 0, 0, 0]])
    packed = pack_padded_sequence(padded, torch.tensor([5, 3, 1]), batch_first=True)
    assert lesson["padded"] == padded.tolist() and lesson["lengths"] == [5, 3, 1]
    assert lesson["data"] == packed.data.tolist() == [1, 6, 9, 2, 7, 3, 8, 4, 5]
    assert lesson["batch_sizes"] == packed.batch_sizes.tolist() == [3, 2, 2, 1, 1]
    assert lesson["sorted"] == [0, 1, 2]
    # every packed element names the cell of the padded batch it came from, time step by time step
    assert [lesson["padded"][r][t] for r, t in lesson["origin"]] == lesson["data"]
    assert [t for _, t in lesson["origin"]] == [0, 0, 0, 1, 1, 2, 2, 3, 4]


def test_the_learners_headlines_are_packed_by_torch_shortest_and_empty_lines_included(reg):
    text = 'team wins\n\nstocks fall as oil prices rise\n"";\nbank cuts rates again'
    batch = packing_diagram.packing_json(reg, text)["learner"]
    vocab = reg.get("lesson-lstm-packed").ckpt.vocab
    words = [vocab.tokenize(h) for h in ("team wins", "stocks fall as oil prices rise", "bank cuts rates again")]
    assert batch["words"] == words  # '"";' has no word: left out, as a sequence of length 0 cannot be packed
    assert batch["lengths"] == [2, 6, 4]
    assert batch["padded"][0] == [vocab.lookup(w) for w in words[0]] + [PAD_ID] * 4
    packed = pack_padded_sequence(torch.tensor(batch["padded"]), torch.tensor(batch["lengths"]), batch_first=True,
                                  enforce_sorted=False)
    assert batch["data"] == packed.data.tolist()
    assert batch["batch_sizes"] == packed.batch_sizes.tolist() == [3, 3, 2, 2, 1, 1]
    assert batch["sorted"] == packed.sorted_indices.tolist() == [1, 2, 0]  # longest first
    assert [batch["padded"][r][t] for r, t in batch["origin"]] == batch["data"]
    assert not batch["cut"]


def test_long_inputs_are_cut_and_said_and_an_empty_box_draws_no_batch(reg):
    many = "\n".join(" ".join(["bank"] * (packing_diagram.MAX_WORDS + 5)) for _ in range(packing_diagram.MAX_ROWS + 2))
    batch = packing_diagram.packing_json(reg, many)["learner"]
    assert len(batch["padded"]) == packing_diagram.MAX_ROWS and batch["lengths"] == [packing_diagram.MAX_WORDS] * 8
    assert batch["cut"] is True
    assert packing_diagram.packing_json(reg, "  \n ")["learner"] is None
    assert packing_diagram.packing_json(reg, '";"')["learner"] is None


def test_a_bad_batch_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"one length per row; got \(2, 3\) and 3 lengths"):
        packing_diagram.packed_batch([[1, 2, 3], [4, 0, 0]], [3, 1, 1])


def test_the_packing_handler_answers_in_the_pages_language(reg):
    out = Handlers(reg).packing_drawing("team wins\nbank cuts rates", "ko")
    assert out["lang"] == "ko" and out["learner"]["lengths"] == [2, 3]


# ---------------------------------------------------------------- texts, routes and the bag


def test_texts_every_language_and_served_once_per_language(reg):
    en, ko = diagrams.strings_json("en"), diagrams.strings_json("ko")
    assert set(en) == set(ko) and {"net_title", "pack_title", "eq_lstm_forget", "rnn_forgets"} <= set(en)
    assert ko["net_title"] == locales()["ko"]["diagram.net_title"] != en["net_title"]
    assert diagrams.strings_json("xx") == en  # an unknown language: English
    client = TestClient(Starlette(routes=assets.routes(reg)))
    got = client.get("/reader/strings-ko.json")
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/json")
    assert got.json() == ko
    script = client.get("/reader/diagrams.js")
    assert script.status_code == 200 and "rnn-reader-step" in script.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/reader/strings-xx.json").status_code == 404


def test_the_bag_opens_with_its_diagram_and_no_cell_picker(reg):
    """The bag has no layer/direction to pick: opening it (dropdown or link) failed with an IndexError."""
    h = Handlers(reg)
    args = h.cell_args("bag-of-embeddings")
    assert args["choices"] == [] and args["value"] is None and args["visible"] is False
    payload = h.read_headlines(HEADLINE, "bag-of-embeddings", args["value"], "en")[-1]
    assert payload["cells"] is None and payload["diagram"]["kind"] == "bag"
