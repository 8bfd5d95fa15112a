"""A checkpoint's self-test: a few headlines with the probabilities the model gave them when it was saved.

Hashes catch a file that changed; they cannot catch a file that was changed *consistently*: weights
multiplied by 1e37 (finite, so every load-time check passes, and every answer is NaN), a reversed
vocabulary whose new sha256 was recorded in config.json, class names swapped in config.json. What
all of these change is the model's answers. So training (`save_checkpoint`) writes selftest.json:

    {"format": "rnn_demo.selftest/1", "class_names": [...],
     "headlines": [{"text": "...", "probabilities": [p_0, ..., p_C-1]}, ...]}

and loading recomputes the probabilities from the weights and vocabulary on disk, each headline on
its own (no padding, so a model that reads padding answers the same), and refuses the checkpoint
when any differs from the record by more than `TOLERANCE` or is not finite, or when the class
names differ from the recorded ones. The headlines are written here (not taken from the test set):
one per class and four that mix topics, so every output matters.

Record it for a checkpoint saved before self-tests existed (only for weights you know are right):
    python -m rnn_demo.checkpoint --selftest checkpoints/NAME
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from . import schema
from .fast_tokenizer import encode_batch
from .models import TextClassifier
from .tokenizer import Vocab

SELFTEST_FORMAT = "rnn_demo.selftest/1"
SELFTEST_FILE = "selftest.json"
TOLERANCE = 1e-4  # absolute, per probability: float32 on another CPU or thread count differs by ~1e-7
MAX_LEN = 200  # the predictors' max_len
MAX_HEADLINES = 64
HEADLINES = (
    "Rebel leaders and the government agree to resume peace talks next month",  # World
    "Late penalty gives the champions a narrow win in the cup semifinal",  # Sports
    "Retailer shares slide after it cuts its profit forecast for the year",  # Business
    "New phone software lets users share files over a faster wireless link",  # Sci/Tech
    "Chip maker's stock jumps as regulators approve its merger with a rival",  # Business / Sci/Tech
    "Olympic organisers ask the government for more money to guard the games",  # World / Sports
    "Oil prices climb as fighting shuts two ports in the gulf",  # World / Business
    "Scientists launch a satellite to study how storms grow over the ocean",  # Sci/Tech / World
)


class SelftestError(ValueError):
    """A self-test that failed or a record that cannot be used; the message names the file and why."""


@torch.inference_mode()
def probabilities(model: TextClassifier, vocab: Vocab, texts: Sequence[str]) -> np.ndarray:
    """(len(texts), C) float64 probabilities, each headline read on its own, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        rows = []
        for t in texts:
            tokens, lengths = encode_batch(vocab, [t], MAX_LEN)
            rows.append(torch.softmax(model(tokens, lengths).double(), dim=-1)[0].cpu().numpy())
    finally:
        model.train(was_training)
    return np.stack(rows) if rows else np.zeros((0, model.config.num_classes))


def make_record(model: TextClassifier, vocab: Vocab, class_names: Sequence[str],
                texts: Sequence[str] = HEADLINES) -> dict:
    probs = probabilities(model, vocab, texts)
    if not np.isfinite(probs).all():
        raise SelftestError("the model gives non-finite probabilities on the self-test headlines; "
                            "its weights are not usable")
    return {"format": SELFTEST_FORMAT, "class_names": list(class_names),
            "headlines": [{"text": t, "probabilities": [round(float(p), 8) for p in row]}
                          for t, row in zip(texts, probs)]}


def write_record(record: dict, folder: str | Path) -> Path:
    path = Path(folder) / SELFTEST_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def check_record(record, path: Path, num_classes: int) -> dict:
    """The record's structure (types, ranges, shapes); raises schema.SchemaError naming the field."""
    schema.obj(record, path, "the file")
    if record.get("format") != SELFTEST_FORMAT:
        schema.fail(path, "format", repr(SELFTEST_FORMAT), record.get("format", schema.MISSING))
    schema.class_names(record.get("class_names", schema.MISSING), path)
    if len(record["class_names"]) != num_classes:
        schema.fail(path, "class_names", f"{num_classes} names, one per class of the model", record["class_names"])
    items = record.get("headlines", schema.MISSING)
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_HEADLINES:
        schema.fail(path, "headlines", f"a list of 1..{MAX_HEADLINES} headlines", items)
    for i, item in enumerate(items):
        schema.obj(item, path, f"headlines[{i}]")
        schema.text(item.get("text", schema.MISSING), path, f"headlines[{i}].text", empty=False)
        probs = schema.array(item.get("probabilities", schema.MISSING), path, f"headlines[{i}].probabilities",
                             length=num_classes)
        for c, p in enumerate(probs):
            schema.fraction(p, path, f"headlines[{i}].probabilities[{c}]")
        if abs(sum(probs) - 1) > 1e-3:
            schema.fail(path, f"headlines[{i}].probabilities", "probabilities that add up to 1", sum(probs))
    return record


def _answer(names: Sequence[str], probs: Sequence[float]) -> str:
    return ", ".join(f"{n} {p:.4f}" for n, p in zip(names, probs))


def compare(recorded: dict, got: np.ndarray, path: Path, what: str) -> None:
    """Raise SelftestError when `got` (H, C) is not finite or differs from the record beyond TOLERANCE."""
    names = recorded["class_names"]
    for i, item in enumerate(recorded["headlines"]):
        row, want = got[i], np.asarray(item["probabilities"], dtype=np.float64)
        headline = f"headline {i + 1} ({item['text'][:60]!r})"
        if not np.isfinite(row).all():
            raise SelftestError(f"{path}: self-test failed: {what} gives non-finite probabilities on {headline} "
                                f"({_answer(names, row)}); the weights are damaged")
        diff = float(np.abs(row - want).max())
        if not diff <= TOLERANCE:
            raise SelftestError(
                f"{path}: self-test failed: on {headline} {what} now answers {_answer(names, row)}, recorded "
                f"{_answer(names, want)} (largest difference {diff:.4g} > tolerance {TOLERANCE:g}); the weights "
                "or the vocabulary are not the ones the model was saved with")


def run(model: TextClassifier, vocab: Vocab, class_names: Sequence[str], record: dict, path: Path,
        config_path: Path) -> None:
    """The load-time self-test of a model against its checked record; raises SelftestError."""
    if list(class_names) != record["class_names"]:
        raise SelftestError(f"{config_path}: class_names {list(class_names)} are not the ones the model was "
                            f"saved with, {record['class_names']} (recorded in {path}); its answers would be "
                            "labelled wrongly")
    texts = [item["text"] for item in record["headlines"]]
    compare(record, probabilities(model, vocab, texts), path, "the model")


def check_predictor(predictor, record: dict, path: Path) -> None:
    """The same self-test through a serving predictor (e.g. onnxruntime): one headline per call."""
    if list(predictor.class_names) != record["class_names"]:
        raise SelftestError(f"{path}: the {predictor.name} predictor answers with classes "
                            f"{list(predictor.class_names)}, the self-test records {record['class_names']}")
    rows = [np.asarray(predictor.predict_proba([item["text"]])[0], dtype=np.float64)
            for item in record["headlines"]]
    compare(record, np.stack(rows), path, f"the {type(predictor).__name__} of {predictor.name}")
