import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnn_demo.models import CELLS, PRESETS, ClassifierConfig, TextClassifier, preset_config, reverse_within_length
from rnn_demo.tokenizer import PAD_ID

VOCAB = 50


def mixed_batch(seed=0, batch=6, max_len=11):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (batch,), generator=g)
    lengths[0] = max_len  # at least one full row
    tokens = torch.randint(2, VOCAB, (batch, max_len), generator=g)
    tokens[torch.arange(max_len).unsqueeze(0) >= lengths.unsqueeze(1)] = PAD_ID
    return tokens, lengths


def model_for(name, seed=0):
    torch.manual_seed(seed)
    return TextClassifier(preset_config(name, VOCAB)).eval()


@pytest.mark.parametrize("name", list(PRESETS))
def test_shapes(name):
    model = model_for(name)
    tokens, lengths = mixed_batch()
    states, pooled = model.encode(tokens, lengths)
    cfg = model.config
    assert states.shape == (6, 11, cfg.state_size)
    assert pooled.shape == (6, cfg.state_size)
    assert model(tokens, lengths).shape == (6, cfg.num_classes)


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "lesson-lstm"])
def test_padding_invariance(name):
    """A mixed-length batch gives the same logits as each headline alone, unpadded."""
    model = model_for(name)
    tokens, lengths = mixed_batch()
    with torch.no_grad():
        batched = model(tokens, lengths)
        single = torch.cat([model(tokens[i:i + 1, : lengths[i]], lengths[i:i + 1]) for i in range(len(lengths))])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)


def test_lesson_lstm_depends_on_padding():
    """The lesson's LSTMClassifier reads h[-1] after the pads: padding changes its answer."""
    model = model_for("lesson-lstm")
    tokens, lengths = mixed_batch()
    with torch.no_grad():
        batched = model(tokens, lengths)
        single = torch.cat([model(tokens[i:i + 1, : lengths[i]], lengths[i:i + 1]) for i in range(len(lengths))])
    short = lengths < tokens.size(1)
    assert short.any()
    assert (batched[short] - single[short]).abs().max() > 1e-3
    # rows without padding agree
    torch.testing.assert_close(batched[~short], single[~short], atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional, layers", [(False, 1), (True, 1), (True, 2), (False, 2)])
def test_last_pooling_equals_pack_padded_sequence(cell, bidirectional, layers):
    """`last` pooling reproduces torch's packed-sequence final states, both directions."""
    torch.manual_seed(1)
    cfg = ClassifierConfig(vocab_size=VOCAB, cell=cell, bidirectional=bidirectional, num_layers=layers,
                           embed_dim=8, hidden_size=5, pooling="last")
    model = TextClassifier(cfg).eval()
    ref = CELLS[cell](8, 5, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    with torch.no_grad():
        for l, directions in enumerate(model.layers):
            for d, module in enumerate(directions):
                suffix = "_reverse" if d else ""
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(ref, f"{name}_l{l}{suffix}").copy_(getattr(module, f"{name}_l0"))
    tokens, lengths = mixed_batch(seed=3)
    with torch.no_grad():
        packed = pack_padded_sequence(model.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, h = ref(packed)
        h = h[0] if cell == "lstm" else h  # (layers * dirs, B, H)
        expected = torch.cat([h[-2], h[-1]], dim=-1) if bidirectional else h[-1]
        _, pooled = model.encode(tokens, lengths)
    torch.testing.assert_close(pooled, expected, atol=1e-6, rtol=0)


def test_mean_pooling_ignores_pads():
    model = model_for("lesson-rnn")
    tokens, lengths = mixed_batch()
    with torch.no_grad():
        states, pooled = model.encode(tokens, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(pooled[i], states[i, :n].mean(0), atol=1e-6, rtol=0)


def test_reverse_within_length_is_an_involution():
    lengths = torch.tensor([3, 1, 5])
    idx = reverse_within_length(lengths, 5)
    assert idx.tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]
    assert torch.equal(idx.gather(1, idx), torch.arange(5).expand(3, 5))


def test_config_errors_name_allowed_values():
    with pytest.raises(ValueError, match="unknown cell 'transformer'; allowed: rnn, lstm, gru"):
        ClassifierConfig(vocab_size=10, cell="transformer")
    with pytest.raises(ValueError, match="unknown pooling"):
        ClassifierConfig(vocab_size=10, pooling="max")
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("nope", 10)
    with pytest.raises(ValueError, match="unknown config keys: colour"):
        ClassifierConfig.from_dict({"vocab_size": 10, "colour": "red"})


def test_check_inputs_rejects_bad_inputs():
    model = model_for("lesson-lstm-packed")
    tokens, lengths = mixed_batch()
    model.check_inputs(tokens, lengths)
    with pytest.raises(ValueError, match="int64"):
        model.check_inputs(tokens.int(), lengths)
    with pytest.raises(ValueError, match="lengths must be in 1..11"):
        model.check_inputs(tokens, lengths.clone().fill_(0))
    with pytest.raises(ValueError, match="lengths must be in 1..11"):
        model.check_inputs(tokens, lengths + 20)
    with pytest.raises(ValueError, match="token ids must be in 0..49"):
        model.check_inputs(tokens.clone().fill_(VOCAB), lengths)
