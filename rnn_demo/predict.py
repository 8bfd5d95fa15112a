"""Batch prediction behind one small interface, so the app can swap PyTorch for onnxruntime."""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import torch

from .checkpoint import Checkpoint
from .fast_tokenizer import encode_batch


class Predictor(Protocol):
    """Anything that turns headlines into class probabilities."""

    name: str
    class_names: tuple[str, ...]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """texts -> (len(texts), num_classes) float32 probabilities."""
        ...


class TorchPredictor:
    """Predictions from a loaded PyTorch checkpoint, on the CPU."""

    def __init__(self, ckpt: Checkpoint, max_len: int = 200) -> None:
        self.ckpt = ckpt
        self.name = ckpt.name
        self.class_names = ckpt.class_names
        self.max_len = max_len

    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        tokens, lengths = encode_batch(self.ckpt.vocab, texts, self.max_len)
        return torch.softmax(self.ckpt.model(tokens, lengths), dim=-1).numpy()
