"""rnn_demo.states: recomputed states and gates against torch's own outputs, prefixes, occlusion, padding."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from helpers import TINY_PRESETS, tiny_model, tiny_vocab
from rnn_demo import states as st
from rnn_demo.models import reverse_within_length
from rnn_demo.tokenizer import PAD_ID, UNK_ID

TOL = 1e-5
HEADLINE = "stocks fall as oil prices rise in the final match"


@pytest.fixture(scope="module")
def vocab():
    return tiny_vocab()


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU, nn.RNN])
def test_recomputed_hidden_and_cell_states_match_torch(cell):
    torch.manual_seed(1)
    module = cell(5, 7, batch_first=True)
    x = torch.randn(9, 5)
    rec = st.recompute_cell(module, x)
    with torch.no_grad():
        out, final = module(x.unsqueeze(0))
    assert rec["hidden"].shape == (9, 7)
    assert torch.allclose(rec["hidden"], out[0], atol=TOL)
    if cell is nn.LSTM:
        # torch only returns the last cell state; step it one word at a time to get every c_t
        h = c = torch.zeros(1, 1, 7)
        cells = []
        with torch.no_grad():
            for t in range(9):
                _, (h, c) = module(x[t].view(1, 1, 5), (h, c))
                cells.append(c[0, 0])
        assert torch.allclose(rec["cell"], torch.stack(cells), atol=TOL)
        assert torch.allclose(rec["cell"][-1], final[1][0, 0], atol=TOL)
        i, f, g, o = (rec["gates"][n] for n in st.GATE_NAMES["lstm"])
        assert torch.allclose(rec["hidden"], o * torch.tanh(rec["cell"]), atol=1e-6)
        prev = torch.cat([torch.zeros(1, 7), rec["cell"][:-1]])
        assert torch.allclose(rec["cell"], f * prev + i * g, atol=1e-6)
        assert all(((v >= 0) & (v <= 1)).all() for v in (i, f, o))
    else:
        assert rec["cell"] is None
        assert torch.allclose(rec["hidden"][-1], final[0, 0], atol=TOL)
    if cell is nn.GRU:
        assert set(rec["gates"]) == set(st.GATE_NAMES["gru"])


def test_recompute_rejects_multi_layer_cells():
    with pytest.raises(ValueError, match="single-layer"):
        st.recompute_cell(nn.LSTM(3, 4, num_layers=2), torch.zeros(2, 3))


def _torch_layer_outputs(model, ids):
    """Each layer's per-direction outputs, run through torch's own modules (no recomputation)."""
    x = model.embedding(torch.tensor([ids]))
    lengths = torch.tensor([len(ids)])
    reverse = reverse_within_length(lengths, len(ids))
    outs = []
    with torch.no_grad():
        for directions in model.layers:
            per_dir = [directions[0](x)[0]]
            if len(directions) > 1:
                xb = x.gather(1, reverse.unsqueeze(-1).expand(-1, -1, x.size(-1)))
                yb = directions[1](xb)[0]
                per_dir.append(yb.gather(1, reverse.unsqueeze(-1).expand(-1, -1, yb.size(-1))))
            outs.append(per_dir)
            x = torch.cat(per_dir, dim=-1)
    return outs


@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_trace_matches_every_layer_and_the_model(preset, vocab):
    model = tiny_model(preset, vocab)
    tr = st.trace(model, vocab, HEADLINE)
    assert tr.tokens == vocab.tokenize(HEADLINE)
    assert tr.ids == vocab.encode(HEADLINE)
    cfg = model.config
    assert len(tr.cells) == cfg.num_layers * cfg.num_directions
    for layer, per_dir in enumerate(_torch_layer_outputs(model, tr.ids)):
        for d, expected in enumerate(per_dir):
            got = tr.cell_trace(layer, d)
            assert np.allclose(got.hidden, expected[0].numpy(), atol=TOL), (preset, layer, d)
            assert (got.cell is not None) == (cfg.cell == "lstm")
    with torch.no_grad():
        states, pooled = model.encode(torch.tensor([tr.ids]), torch.tensor([len(tr.ids)]))
        probs = torch.softmax(model(torch.tensor([tr.ids]), torch.tensor([len(tr.ids)])), -1)[0]
    last = np.concatenate([tr.cell_trace(cfg.num_layers - 1, d).hidden for d in range(cfg.num_directions)], -1)
    assert np.allclose(last, states[0].numpy(), atol=TOL)
    assert np.allclose(tr.pooled, pooled[0].numpy(), atol=TOL)
    assert np.allclose(tr.probabilities, probs.numpy(), atol=TOL)


def test_trace_of_text_without_words_and_unknown_words(vocab):
    model = tiny_model("lesson-lstm-packed", vocab)
    tr = st.trace(model, vocab, "   ?!  ")
    assert tr.tokens == ["?", "!"] and tr.ids == [UNK_ID, UNK_ID] and tr.known == [False, False]
    empty = st.trace(model, vocab, "")
    assert empty.ids == [UNK_ID] and len(empty.states) == 1
    long = st.trace(model, vocab, "stocks " * 250)
    assert long.truncated and len(long.tokens) == st.DEFAULT_MAX_TOKENS


@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_prefix_probabilities_equal_one_by_one_forward(preset, vocab):
    model = tiny_model(preset, vocab)
    ids = vocab.encode(HEADLINE)
    batched = st.prefix_probabilities(model, ids)
    assert batched.shape == (len(ids), 4)
    with torch.no_grad():
        alone = np.stack([torch.softmax(model(torch.tensor([ids[: t + 1]]), torch.tensor([t + 1])), -1)[0].numpy()
                          for t in range(len(ids))])
    assert np.allclose(batched, alone, atol=TOL)


@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_chunked_batches_change_nothing(preset, vocab, monkeypatch):
    """Prefix and occlusion batches run BATCH_TOKENS at a time (server memory); any chunking is exact."""
    model = tiny_model(preset, vocab)
    ids = vocab.encode(HEADLINE)
    whole = st.prefix_probabilities(model, ids), st.occlusion_importance(model, ids)
    monkeypatch.setattr(st, "BATCH_TOKENS", 1)  # one row per forward pass
    chunked = st.prefix_probabilities(model, ids), st.occlusion_importance(model, ids)
    for a, b in zip(whole, chunked):
        assert np.allclose(a, b, atol=TOL)


def test_occlusion_is_the_drop_when_a_word_becomes_unknown(vocab):
    model = tiny_model("bilstm", vocab)
    ids = vocab.encode(HEADLINE)
    scores = st.occlusion_importance(model, ids)
    with torch.no_grad():
        run = lambda seq: torch.softmax(model(torch.tensor([seq]), torch.tensor([len(seq)])), -1)[0]  # noqa: E731
        base = run(ids)
        target = int(base.argmax())
        expected = [float(base[target] - run(ids[:j] + [UNK_ID] + ids[j + 1:])[target]) for j in range(len(ids))]
    assert np.allclose(scores, expected, atol=TOL)
    # an already unknown word changes nothing when occluded
    assert st.occlusion_importance(model, [UNK_ID, UNK_ID])[0] == pytest.approx(0.0, abs=1e-7)


def test_padding_drift_moves_the_unpacked_lstm_only(vocab):
    ids = vocab.encode(HEADLINE)
    packed_p, packed_f = st.padding_drift(tiny_model("lesson-lstm-packed", vocab), ids, 12)
    lesson_p, lesson_f = st.padding_drift(tiny_model("lesson-lstm", vocab), ids, 12)
    assert packed_p.shape == lesson_p.shape == (13, 4)
    assert np.allclose(packed_p, packed_p[0], atol=1e-6) and np.allclose(packed_f, packed_f[0], atol=1e-6)
    assert np.allclose(lesson_p[0], packed_p[0], atol=TOL)  # k = 0: same weights, same answer
    assert np.linalg.norm(lesson_f[12] - lesson_f[0]) > 1e-3
    # each row is what the model gives with exactly k pads
    model = tiny_model("lesson-lstm", vocab)
    with torch.no_grad():
        k5 = torch.softmax(model(torch.tensor([ids + [PAD_ID] * 5]), torch.tensor([len(ids)])), -1)[0].numpy()
    assert np.allclose(lesson_p[5], k5, atol=TOL)
