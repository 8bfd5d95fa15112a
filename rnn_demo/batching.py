"""Turning a whole dataset into tensors once, then cutting length-bucketed batches from them."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch

from .tokenizer import UNK_ID, Vocab

from .fast_tokenizer import encode_batch_np


class EncodedDataset:
    """All texts as one right-padded (N, T_max) int64 tensor plus (N,) lengths and labels."""

    def __init__(self, vocab: Vocab, texts: Sequence[str], labels: Sequence[int], max_len: int) -> None:
        tokens, lengths = encode_batch_np(vocab, texts, max_len)
        self.tokens, self.lengths = torch.from_numpy(tokens), torch.from_numpy(lengths)
        self.labels = torch.tensor(list(labels), dtype=torch.long)
        self.unknown_rate = float((self.tokens == UNK_ID).sum()) / float(self.lengths.sum())

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "EncodedDataset":
        sub = object.__new__(EncodedDataset)
        sub.lengths = self.lengths[index]
        sub.tokens = self.tokens[index][:, : int(sub.lengths.max())]
        sub.labels = self.labels[index]
        sub.unknown_rate = self.unknown_rate
        return sub

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows `index` -> tokens (b, longest in batch), lengths (b,), labels (b,)."""
        lengths = self.lengths[index]
        return self.tokens[index, : int(lengths.max())], lengths, self.labels[index]

    def bucketed_batches(self, batch_size: int, generator: torch.Generator | None = None,
                         bucket: int = 32) -> Iterator[torch.Tensor]:
        """Shuffled batches of similar lengths, so little time is spent on padding.

        Rows are shuffled, cut into pools of `bucket` batches, each pool sorted by length and
        cut into batches; the batch order is shuffled again. Without a generator: in
        length order, no shuffling (for evaluation).
        """
        n = len(self)
        if generator is None:
            order = torch.argsort(self.lengths, stable=True)
            yield from order.split(batch_size)
            return
        perm = torch.randperm(n, generator=generator)
        batches = []
        for pool in perm.split(batch_size * bucket):
            pool = pool[torch.argsort(self.lengths[pool], stable=True)]
            batches.extend(pool.split(batch_size))
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i]
