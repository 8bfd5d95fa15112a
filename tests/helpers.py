"""Shared helpers for the app's tests: tiny random checkpoints and a live `python app.py` server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

from rnn_demo.checkpoint import TEST_METRICS_FILE, save_checkpoint
from rnn_demo.models import TextClassifier, preset_config
from rnn_demo.tokenizer import Vocab

ROOT = Path(__file__).resolve().parents[1]
TINY_TEXTS = [
    "stocks fall as oil prices rise", "team wins the final match", "new chip doubles battery life",
    "leaders meet for peace talks", "bank cuts rates again", "striker scores twice in the cup final",
    "software update fixes security bug", "election results spark protests",
]
TINY_LABELS = [2, 1, 3, 0, 2, 1, 3, 0]
# every cell, both directions, 1-2 layers and every pooling, at tiny sizes
TINY_PRESETS = ("lesson-rnn", "lesson-lstm", "lesson-lstm-packed", "gru", "bilstm", "bilstm-2layer")


def tiny_vocab() -> Vocab:
    return Vocab.build(TINY_TEXTS, min_freq=1)


def tiny_model(preset: str, vocab: Vocab, seed: int = 0, hidden: int = 6) -> TextClassifier:
    torch.manual_seed(seed)
    model = TextClassifier(preset_config(preset, len(vocab), embed_dim=8, hidden_size=hidden, dropout=0.0))
    return model.eval()


def write_tiny_checkpoints(root: Path, presets=TINY_PRESETS, with_test_metrics: bool = True) -> Path:
    """Random-weight checkpoints (real file format) under root/NAME; returns root."""
    vocab = tiny_vocab()
    for i, preset in enumerate(presets):
        model = tiny_model(preset, vocab, seed=i)
        metrics = {"preset": preset, "epochs": [
            {"epoch": 1, "train_loss": 1.2, "train_accuracy": 0.4, "val_loss": 1.1, "val_accuracy": 0.45},
            {"epoch": 2, "train_loss": 0.9, "train_accuracy": 0.6, "val_loss": 1.0, "val_accuracy": 0.55}],
            "data": {"path": "tiny.jsonl", "train_rows": 8, "val_rows": 2}, "best_val_accuracy": 0.55}
        out = save_checkpoint(root / preset, model, vocab, preset, metrics)
        if with_test_metrics:
            report = {"accuracy": 0.5, "n": 8, "confusion": [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 2, 0]],
                      "per_class": {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
                                    for c in ("World", "Sports", "Business", "Sci/Tech")}}
            (out / TEST_METRICS_FILE).write_text(json.dumps(report), encoding="utf-8")
    return root


def write_tiny_data(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for text, label in zip(TINY_TEXTS * 3, TINY_LABELS * 3):
            fh.write(json.dumps({"label": label, "text": text}) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`python app.py` in a subprocess on `port` (default: a free one); `url` once it answers HTTP 200."""

    def __init__(self, env: dict | None = None, timeout: float = 90.0, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        full_env = {**os.environ, "GRADIO_SERVER_PORT": str(self.port), "GRADIO_SERVER_NAME": "127.0.0.1",
                    "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        self.log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a full pipe would block the server
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=full_env,
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}:\n{self.text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"app.py did not answer on {self.url} within {timeout}s")

    def text(self) -> str:
        """Everything the server logged so far."""
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def shown(markdown: str) -> str:
    """The text a Markdown note shows: page.inputs.plain_markdown's backslash before each punctuation mark removed."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
