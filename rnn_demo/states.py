"""Look inside a `TextClassifier` while it reads one headline.

`nn.RNN`/`nn.LSTM`/`nn.GRU` return only the hidden state per step (and the last cell state),
so the per-step cell state and the gate activations are recomputed here from the weights of
each single-layer cell `model.layers[l][d]`, with PyTorch's own equations and gate order:

    LSTM  (weight rows i, f, g, o)            GRU  (weight rows r, z, n)
    i = sigmoid(Wii x + bii + Whi h + bhi)    r = sigmoid(Wir x + bir + Whr h + bhr)
    f = sigmoid(Wif x + bif + Whf h + bhf)    z = sigmoid(Wiz x + biz + Whz h + bhz)
    g = tanh   (Wig x + big + Whg h + bhg)    n = tanh(Win x + bin + r * (Whn h + bhn))
    o = sigmoid(Wio x + bio + Who h + bho)    h' = (1 - z) * n + z * h
    c' = f * c + i * g ;  h' = o * tanh(c')

One headline is inspected on its own (no padding). The backward direction of a bidirectional
layer reads the words right to left; its states are stored aligned with the tokens, so
position t holds the backward state after reading words T-1 .. t.

Also here: prefix predictions ("what would the model answer if the headline ended after word
t") and occlusion importance ("how much does the predicted class lose when word t is replaced
by the unknown word").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .models import TextClassifier
from .tokenizer import PAD_ID, UNK_ID, Vocab

DEFAULT_MAX_TOKENS = 200  # as TorchPredictor's max_len: longer headlines are cut here
DIRECTION_NAMES = ("forward", "backward")
GATE_NAMES = {
    "lstm": ("input gate", "forget gate", "cell candidate", "output gate"),
    "gru": ("reset gate", "update gate", "candidate"),
    "rnn": (),
}


@dataclass
class CellTrace:
    """What one direction of one layer did, step by step; every array is (T, H), aligned to tokens."""

    layer: int
    direction: int
    hidden: np.ndarray
    cell: np.ndarray | None = None  # LSTM only
    gates: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"layer {self.layer + 1} {DIRECTION_NAMES[self.direction]}"


@dataclass
class Trace:
    """One headline read by one model: tokens, per-step internals, last-layer states, output."""

    tokens: list[str]
    ids: list[int]
    known: list[bool]
    cells: list[CellTrace]
    states: np.ndarray  # (T, D*H) last-layer output from model.encode, aligned to tokens
    pooled: np.ndarray  # (D*H,) the feature the final linear layer reads
    probabilities: np.ndarray  # (C,)
    truncated: bool = False

    def cell_trace(self, layer: int, direction: int) -> CellTrace:
        for c in self.cells:
            if c.layer == layer and c.direction == direction:
                return c
        raise KeyError(f"no layer {layer} direction {direction}")


def recompute_cell(module: torch.nn.Module, x: torch.Tensor) -> dict:
    """Run a single-layer nn.RNN/LSTM/GRU over one sequence x (T, I) step by step from its weights.

    Returns {"hidden": (T, H), "cell": (T, H) or None, "gates": {name: (T, H)}} as tensors.
    """
    if module.num_layers != 1 or module.bidirectional:
        raise ValueError("recompute_cell expects a single-layer, single-direction cell")
    kind = type(module).__name__.lower()
    w_ih, w_hh = module.weight_ih_l0, module.weight_hh_l0
    b_ih = module.bias_ih_l0 if module.bias else torch.zeros(w_ih.size(0), dtype=x.dtype)
    b_hh = module.bias_hh_l0 if module.bias else torch.zeros(w_hh.size(0), dtype=x.dtype)
    steps, hidden_size = x.size(0), module.hidden_size
    x_proj = x @ w_ih.T + b_ih  # (T, I) -> (T, G*H): the input part of every gate, all steps at once
    h = torch.zeros(hidden_size, dtype=x.dtype)
    c = torch.zeros(hidden_size, dtype=x.dtype)
    hs, cs = [], []
    gates: dict[str, list[torch.Tensor]] = {name: [] for name in GATE_NAMES[kind]}
    for t in range(steps):
        h_proj = w_hh @ h + b_hh  # (G*H,)
        if kind == "lstm":
            gi, gf, gg, go = (x_proj[t] + h_proj).chunk(4)
            i, f, g, o = torch.sigmoid(gi), torch.sigmoid(gf), torch.tanh(gg), torch.sigmoid(go)
            c = f * c + i * g
            h = o * torch.tanh(c)
            for name, value in zip(GATE_NAMES["lstm"], (i, f, g, o)):
                gates[name].append(value)
            cs.append(c)
        elif kind == "gru":
            xr, xz, xn = x_proj[t].chunk(3)
            hr, hz, hn = h_proj.chunk(3)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = (1 - z) * n + z * h
            for name, value in zip(GATE_NAMES["gru"], (r, z, n)):
                gates[name].append(value)
        elif kind == "rnn":
            pre = x_proj[t] + h_proj
            h = torch.tanh(pre) if module.nonlinearity == "tanh" else torch.relu(pre)
        else:
            raise ValueError(f"unsupported cell {type(module).__name__}; allowed: RNN, LSTM, GRU")
        hs.append(h)
    empty = x.new_zeros((0, hidden_size))
    return {
        "hidden": torch.stack(hs) if hs else empty,
        "cell": (torch.stack(cs) if cs else empty) if kind == "lstm" else None,
        "gates": {name: torch.stack(v) if v else empty for name, v in gates.items()},
    }


def encode_one(vocab: Vocab, text: str, max_tokens: int = DEFAULT_MAX_TOKENS) -> tuple[list[str], list[int], bool]:
    """Text -> (tokens, ids, truncated); an empty text becomes the single unknown word."""
    tokens = vocab.tokenize(text)
    truncated = len(tokens) > max_tokens
    tokens = tokens[:max_tokens]
    ids = [vocab.lookup(t) for t in tokens]
    if not ids:  # as encode_batch: every sequence has at least one step
        tokens, ids = [vocab.tokens[UNK_ID]], [UNK_ID]
    return tokens, ids, truncated


@torch.inference_mode()
def trace(model: TextClassifier, vocab: Vocab, text: str, max_tokens: int = DEFAULT_MAX_TOKENS) -> Trace:
    """Read `text` with `model` and record every layer's and direction's states and gates."""
    tokens, ids, truncated = encode_one(vocab, text, max_tokens)
    token_tensor = torch.tensor([ids], dtype=torch.long)  # (1, T)
    lengths = torch.tensor([len(ids)], dtype=torch.long)
    x = model.embedding(token_tensor)[0]  # (T, E); dropout is off in eval mode
    cells: list[CellTrace] = []
    for layer_index, directions in enumerate(model.layers):
        outputs = []
        for direction, module in enumerate(directions):
            seq = x if direction == 0 else x.flip(0)  # backward: read right to left
            rec = recompute_cell(module, seq)
            if direction == 1:  # put back in token order
                rec = {"hidden": rec["hidden"].flip(0),
                       "cell": None if rec["cell"] is None else rec["cell"].flip(0),
                       "gates": {k: v.flip(0) for k, v in rec["gates"].items()}}
            outputs.append(rec["hidden"])
            cells.append(CellTrace(
                layer=layer_index, direction=direction, hidden=rec["hidden"].numpy(),
                cell=None if rec["cell"] is None else rec["cell"].numpy(),
                gates={k: v.numpy() for k, v in rec["gates"].items()},
            ))
        x = torch.cat(outputs, dim=-1)  # (T, D*H): next layer's input
    states, pooled = model.encode(token_tensor, lengths)
    probs = torch.softmax(model.fc(pooled), dim=-1)[0]
    return Trace(tokens=tokens, ids=ids, known=[i != UNK_ID for i in ids], cells=cells,
                 states=states[0].numpy(), pooled=pooled[0].numpy(), probabilities=probs.numpy(),
                 truncated=truncated)


BATCH_TOKENS = 8_000  # rows x words per forward pass in the per-headline batches below


def _logits_in_chunks(model: TextClassifier, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """model(tokens, lengths) for a (N, T) batch, BATCH_TOKENS at a time.

    A long headline makes a T x T batch whose activations would all be held at once in the server
    (`bench/bench_memory.py` measures it). Rows are independent, so chunks change nothing.
    """
    rows = max(1, BATCH_TOKENS // max(1, tokens.size(1)))
    return torch.cat([model(tokens[i:i + rows], lengths[i:i + rows]) for i in range(0, tokens.size(0), rows)])


@torch.inference_mode()
def prefix_probabilities(model: TextClassifier, ids: list[int]) -> np.ndarray:
    """(T, C): row t = class probabilities for the headline made of words 0..t alone.

    All T prefixes go through the model as one batch with lengths 1..T:

        row 0   a _ _ _   length 1
        row 1   a b _ _   length 2
        row 3   a b c d   length 4

    The lesson's `last_padded` model ignores lengths and would read the pads, so for it (it is
    unidirectional) the prefix answer is read directly from the state after word t instead.
    """
    steps = len(ids)
    if steps == 0:
        raise ValueError("no tokens")
    lengths = torch.arange(1, steps + 1, dtype=torch.long)  # (T,)
    if model.config.pooling == "last_padded":
        if model.config.bidirectional:  # not a preset; fall back to one forward pass per prefix
            logits = torch.cat([model(torch.tensor([ids[: t + 1]]), torch.tensor([t + 1])) for t in range(steps)])
        else:
            states, _ = model.encode(torch.tensor([ids]), torch.tensor([steps]))  # (1, T, H)
            logits = model.fc(model.pool(states.expand(steps, -1, -1), lengths))
    else:
        full = torch.tensor(ids, dtype=torch.long)
        keep = torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)  # (T, T) lower triangle
        tokens = torch.where(keep, full.unsqueeze(0), torch.full_like(keep, PAD_ID, dtype=torch.long))
        logits = _logits_in_chunks(model, tokens, lengths)
    return torch.softmax(logits, dim=-1).numpy()


@torch.inference_mode()
def occlusion_importance(model: TextClassifier, ids: list[int], target: int | None = None) -> np.ndarray:
    """(T,): drop in the target class probability when word t is replaced by the unknown word.

    Positive = the word pushed the model towards `target` (default: the predicted class).
    All T occluded copies run as one batch of equal length, so no padding is involved.
    """
    steps = len(ids)
    tokens = torch.tensor([ids], dtype=torch.long)
    base = torch.softmax(model(tokens, torch.tensor([steps])), dim=-1)[0]
    target = int(base.argmax()) if target is None else target
    occluded = tokens.repeat(steps, 1)  # (T, T)
    occluded[torch.arange(steps), torch.arange(steps)] = UNK_ID
    probs = torch.softmax(_logits_in_chunks(model, occluded, torch.full((steps,), steps, dtype=torch.long)), dim=-1)
    return (base[target] - probs[:, target]).numpy()


@torch.inference_mode()
def padding_drift(model: TextClassifier, ids: list[int], max_pads: int) -> tuple[np.ndarray, np.ndarray]:
    """Append k = 0..max_pads padding tokens to one headline (its length stays the true one).

    Returns (probabilities (K+1, C), pooled features (K+1, D*H)). A length-aware model gives the
    same row for every k; the lesson's unpacked LSTM keeps reading the pads and drifts.
    Each k is its own forward pass: in a batch, a headline meets exactly as many pads as the
    longest headline is longer than it.
    """
    probs, feats = [], []
    length = torch.tensor([len(ids)], dtype=torch.long)
    for k in range(max_pads + 1):
        tokens = torch.tensor([list(ids) + [PAD_ID] * k], dtype=torch.long)
        _, pooled = model.encode(tokens, length)
        probs.append(torch.softmax(model.fc(pooled), dim=-1)[0])
        feats.append(pooled[0])
    return torch.stack(probs).numpy(), torch.stack(feats).numpy()
