"""Checkpoints as data: config.json + model.safetensors + tokenizer.json + metrics.json.

Nothing here unpickles anything: weights go through safetensors, the rest is JSON.
Every failure names the file and what is wrong with it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import CLASS_NAMES
from .models import PRESETS, ClassifierConfig, TextClassifier
from .tokenizer import Vocab, VocabError, file_sha256

CHECKPOINT_FORMAT = "rnn_demo.checkpoint/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
METRICS_FILE = "metrics.json"
TEST_METRICS_FILE = "test_metrics.json"


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be loaded; the message names the file and the problem."""


@dataclass
class Checkpoint:
    """A loaded, ready-to-run model with everything that describes it."""

    path: Path
    name: str
    preset: str
    model: TextClassifier
    vocab: Vocab
    class_names: tuple[str, ...]
    description: str
    metrics: dict
    test_metrics: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def config(self) -> ClassifierConfig:
        return self.model.config


def save_checkpoint(out_dir: str | Path, model: TextClassifier, vocab: Vocab, preset: str,
                    metrics: dict, description: str | None = None) -> Path:
    """Write the four checkpoint files into `out_dir` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if len(vocab) != model.config.vocab_size:
        raise CheckpointError(f"vocabulary has {len(vocab)} tokens but the model expects {model.config.vocab_size}")
    vocab.save(out / TOKENIZER_FILE)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": CHECKPOINT_FORMAT, "preset": preset})
    config = {
        "format": CHECKPOINT_FORMAT,
        "preset": preset,
        "description": description or PRESETS.get(preset, ({}, ""))[1],
        "class_names": list(CLASS_NAMES),
        "model": model.config.to_dict(),
        "num_parameters": model.num_parameters(),
        "tokenizer": {"file": TOKENIZER_FILE, "sha256": file_sha256(out / TOKENIZER_FILE)},
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return out


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: {what} is not valid JSON ({exc}); the file may be truncated") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: {what} must hold a JSON object")
    return data


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder into an eval-mode model; raise `CheckpointError` on any problem."""
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"{root}: checkpoint folder not found")
    config_path = root / CONFIG_FILE
    config = _read_json(config_path, "model config")
    if config.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{config_path}: format {config.get('format')!r} is not {CHECKPOINT_FORMAT!r}")
    preset = config.get("preset")
    if preset not in PRESETS:
        raise CheckpointError(f"{config_path}: unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    try:
        model_config = ClassifierConfig.from_dict(config.get("model", {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: invalid model config ({exc})") from None
    class_names = tuple(config.get("class_names", ()))
    if len(class_names) != model_config.num_classes:
        raise CheckpointError(f"{config_path}: {len(class_names)} class names for {model_config.num_classes} classes")

    tok_info = config.get("tokenizer", {})
    tok_path = root / tok_info.get("file", TOKENIZER_FILE)
    try:
        vocab = Vocab.load(tok_path)
    except VocabError as exc:
        raise CheckpointError(str(exc)) from None
    expected_sha = tok_info.get("sha256")
    if expected_sha and file_sha256(tok_path) != expected_sha:
        raise CheckpointError(f"{tok_path}: sha256 differs from the one recorded in {config_path}; "
                              "this is not the tokenizer the model was trained with")
    if len(vocab) != model_config.vocab_size:
        raise CheckpointError(f"{tok_path}: vocabulary has {len(vocab)} tokens but {config_path} "
                              f"says vocab_size={model_config.vocab_size}")

    weights_path = root / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: model weights are missing")
    try:
        tensors = load_file(str(weights_path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights_path}: cannot read safetensors ({exc}); the file may be truncated") from None
    model = TextClassifier(model_config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{weights_path}: tensors do not match the config in {config_path} "
                              f"(missing: {missing or 'none'}; unexpected: {unexpected or 'none'})")
    for key, value in tensors.items():
        if value.shape != expected[key].shape:
            raise CheckpointError(f"{weights_path}: tensor {key!r} has shape {tuple(value.shape)}, "
                                  f"the config in {config_path} needs {tuple(expected[key].shape)}")
    model.load_state_dict(tensors)
    model.to(device).eval()

    metrics = _read_json(root / METRICS_FILE, "training metrics")
    test_path = root / TEST_METRICS_FILE
    test_metrics = _read_json(test_path, "test metrics") if test_path.exists() else None
    return Checkpoint(path=root, name=root.name, preset=preset, model=model, vocab=vocab,
                      class_names=class_names, description=config.get("description", ""),
                      metrics=metrics, test_metrics=test_metrics)


def discover_checkpoints(root: str | Path) -> list[Path]:
    """Checkpoint folders directly under `root`, in name order."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file()) if root.is_dir() else []
