"""One recurrent classifier family: embedding -> RNN/LSTM/GRU (uni/bi, n layers) -> pool -> linear.

Padding is handled without `pack_padded_sequence`, so that the very same graph exports to
ONNX and batched results equal one-by-one results. Each direction of each layer is its own
single-layer cell run over a right-padded batch:

    tokens   a b c _ _        (B=1, T=5, length 3; _ = PAD)
    forward  a b c _ _   ->  states at t < 3 never saw a pad; read the last at t = 2
    backward c b a _ _   ->  the sequence is reversed *within its length*, run forward,
                             then put back: position t holds the backward state of token t,
                             and the final backward state (after reading "a") sits at t = 0

Pooling `mean` averages real positions only; `last` reads the forward state at the true last
token and the backward state at the first; `last_padded` is the lesson's LSTMClassifier:
it runs over the padding and reads the state after the last pad (a teaching exhibit).

`cell="bag"` is the previous lesson's bag of embeddings, a member of the same family with no
recurrence: embedding -> mean over the real words -> linear. Its per-step "states" are the word
embeddings themselves, so it has no hidden state to trace, no gates and no memory; word order
cannot change its answer.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from . import CLASS_NAMES
from .tokenizer import PAD_ID

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU, "bag": None}  # bag: no recurrent cell
RECURRENT_CELLS = ("rnn", "lstm", "gru")
POOLINGS = ("mean", "last", "last_padded")


@dataclass
class ClassifierConfig:
    """Hyper-parameters of a `TextClassifier`; a checkpoint rebuilds its model from this."""

    vocab_size: int
    num_classes: int = len(CLASS_NAMES)
    embed_dim: int = 64
    hidden_size: int = 32
    cell: str = "lstm"
    num_layers: int = 1
    bidirectional: bool = False
    pooling: str = "last"
    dropout: float = 0.0
    pad_id: int = PAD_ID

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; allowed: {', '.join(CELLS)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; allowed: {', '.join(POOLINGS)}")
        for name in ("vocab_size", "num_classes", "embed_dim", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} outside vocabulary of size {self.vocab_size}")
        if self.cell == "bag" and (self.pooling != "mean" or self.bidirectional or self.num_layers != 1):
            # The bag's feature is the mean embedding: one layer, one direction, mean pooling.
            raise ValueError("cell 'bag' needs pooling='mean', bidirectional=False, num_layers=1")

    @property
    def is_recurrent(self) -> bool:
        """False for the bag of embeddings: no hidden state, gates or memory to show."""
        return self.cell in RECURRENT_CELLS

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def state_size(self) -> int:
        """Width of the per-step output and of the pooled feature: directions x hidden.

        The bag has no hidden layer: its per-step "states" are the embeddings (hidden_size unused).
        """
        if self.cell == "bag":
            return self.embed_dim
        return self.num_directions * self.hidden_size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ClassifierConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**data)


# name -> (config without vocab_size, one-line description)
PRESETS: dict[str, tuple[dict, str]] = {
    "lesson-rnn": (
        dict(cell="rnn", embed_dim=64, hidden_size=32, pooling="mean", dropout=0.3),
        "The lesson's RNNClassifier: simple tanh RNN, mean of the states over real words.",
    ),
    "lesson-lstm": (
        dict(cell="lstm", embed_dim=64, hidden_size=32, pooling="last_padded", dropout=0.3),
        "The lesson's LSTMClassifier as written: reads h[-1] after the padding steps.",
    ),
    "lesson-lstm-packed": (
        dict(cell="lstm", embed_dim=64, hidden_size=32, pooling="last", dropout=0.3),
        "The lesson's packed LSTM: the state at each headline's true last word.",
    ),
    "gru": (
        dict(cell="gru", embed_dim=64, hidden_size=64, pooling="last", dropout=0.3),
        "GRU, 64 units, state at the last word.",
    ),
    "bilstm": (
        dict(cell="lstm", embed_dim=64, hidden_size=64, bidirectional=True, pooling="last", dropout=0.3),
        "Bidirectional LSTM, 64 units each way: reads the headline forwards and backwards.",
    ),
    "bilstm-2layer": (
        dict(cell="lstm", embed_dim=64, hidden_size=48, num_layers=2, bidirectional=True,
             pooling="mean", dropout=0.3),
        "Two stacked bidirectional LSTM layers, 48 units each way, mean over words.",
    ),
    "bag-of-embeddings": (
        dict(cell="bag", embed_dim=64, hidden_size=64, pooling="mean", dropout=0.0),
        "The previous lesson's bag of embeddings: mean of the word embeddings, then linear; no word order.",
    ),
}


def preset_config(name: str, vocab_size: int, **overrides) -> ClassifierConfig:
    """The `ClassifierConfig` of a named preset (overrides replace preset values)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    return ClassifierConfig(vocab_size=vocab_size, **{**PRESETS[name][0], **overrides})


def reverse_within_length(lengths: torch.Tensor, seq_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) index that reverses the first `length` steps, keeps pads in place.

    It is its own inverse: gathering twice with it gives the original order back.
    """
    steps = torch.arange(seq_len, device=lengths.device).unsqueeze(0)  # (1, T)
    lengths = lengths.unsqueeze(1)  # (B, 1)
    return torch.where(steps < lengths, lengths - 1 - steps, steps)


def _gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, T, F), index (B, T) -> x[b, index[b, t], :]."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


class TextClassifier(nn.Module):
    """Embedding -> recurrent layers -> pooling -> linear; `forward(tokens, lengths) -> logits`."""

    def __init__(self, config: ClassifierConfig, *, init_embedding: bool = True) -> None:
        """init_embedding=False leaves the embedding uninitialised (torch.empty), for a model that
        only describes shapes on the meta device: initialising an embedding there runs a Python
        decomposition that imports torch._dynamo (resident memory: `bench/bench_memory.py --startup`)."""
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.pad_id,
                                      _weight=None if init_embedding else torch.empty(config.vocab_size, config.embed_dim))
        # layers[l][d]: layer l, direction d (0 forward, 1 backward), each a 1-layer cell.
        self.layers = nn.ModuleList()
        in_size = config.embed_dim
        cell = CELLS[config.cell]
        for _ in range(config.num_layers if cell is not None else 0):  # the bag has no layers
            self.layers.append(nn.ModuleList(
                cell(in_size, config.hidden_size, batch_first=True) for _ in range(config.num_directions)
            ))
            in_size = config.state_size
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(config.state_size, config.num_classes)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_inputs(self, tokens: torch.Tensor, lengths: torch.Tensor) -> None:
        """Raise ValueError for inputs the model cannot read correctly."""
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(f"tokens must be int64 of shape (batch, seq), got {tuple(tokens.shape)} {tokens.dtype}")
        if lengths.shape != tokens.shape[:1] or lengths.dtype != torch.long:
            raise ValueError(f"lengths must be int64 of shape ({tokens.size(0)},), got {tuple(lengths.shape)} {lengths.dtype}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size):
            raise ValueError(f"token ids must be in 0..{self.config.vocab_size - 1}")
        if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > tokens.size(1)):
            raise ValueError(f"lengths must be in 1..{tokens.size(1)} (the padded sequence length)")

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T), (B,) -> per-step states of the last layer (B, T, D*H) and pooled features (B, D*H).

        Per-step states are aligned with the tokens: [..., :H] forward, [..., H:] backward.
        Positions at or past a sequence's length hold values that must be ignored.
        """
        if self.config.pooling == "last_padded":
            lengths = torch.full_like(lengths, tokens.size(1))  # the lesson's model reads every pad
        x = self.dropout(self.embedding(tokens))  # (B, T) -> (B, T, E)
        x = self.run_layers(x, lengths)
        return x, self.pool(x, lengths)

    def run_layers(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, E) word embeddings, (B,) lengths -> (B, T, D*H) per-step states of the last layer.

        Split from `encode` so that gradients can be taken with respect to the embeddings
        (the lessons' memory measurement). The bag has no layers: its "states" are the embeddings.
        """
        seq_len = x.size(1)
        reverse = reverse_within_length(lengths, seq_len) if self.config.bidirectional else None
        for index, directions in enumerate(self.layers):
            outputs = [directions[0](x)[0]]  # (B, T, H)
            if reverse is not None:
                backward = directions[1](_gather_steps(x, reverse))[0]
                outputs.append(_gather_steps(backward, reverse))
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]  # (B, T, D*H)
            if index < len(self.layers) - 1:
                x = self.dropout(x)
        return x

    def pool(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D*H) per-step states -> (B, D*H) features, reading real positions only."""
        if self.config.pooling == "mean":
            steps = torch.arange(states.size(1), device=states.device).unsqueeze(0)
            mask = (steps < lengths.unsqueeze(1)).unsqueeze(-1).to(states.dtype)  # (B, T, 1)
            return (states * mask).sum(dim=1) / lengths.unsqueeze(1).to(states.dtype)
        hidden = self.config.hidden_size
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.size(-1))
        final = states.gather(1, last).squeeze(1)  # (B, D*H): forward half is the true final state
        if self.config.bidirectional:
            final = torch.cat([final[:, :hidden], states[:, 0, hidden:]], dim=-1)
        return final

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids, (B,) lengths -> (B, num_classes) logits."""
        _, pooled = self.encode(tokens, lengths)
        return self.fc(self.dropout(pooled))
