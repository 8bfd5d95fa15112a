"""Checkpoints as data: config.json + model.safetensors + tokenizer.json + metrics.json + selftest.json.

Nothing here unpickles anything: weights go through safetensors, the rest is JSON.
Every failure names the file and what is wrong with it.

Loading is defensive, because a checkpoint folder is input (copied, downloaded, half-written):
  1. config.json sizes are checked against `CONFIG_BOUNDS` and the parameter count against
     `MAX_PARAMETERS` before anything is allocated (a `hidden_size` of 10,000,000 would ask for
     gigabytes);
  2. tokenizer.json must match the sha256 recorded in config.json (a same-size shuffled vocabulary
     would otherwise load and silently score near chance); a config without it is refused;
  3. the tensor names and shapes in the safetensors header are compared with the model the config
     describes (built on the `meta` device: shapes only, no memory) before the weights are read;
  4. every JSON file is checked field by field (`rnn_demo.schema`: types, ranges, shapes), so a
     wrong field refuses the checkpoint here instead of breaking a view later;
  5. the self-test (`rnn_demo.selftest`): the recorded headlines are read again and the model must
     give the recorded probabilities, which catches scaled weights, a swapped vocabulary with a
     recomputed hash and swapped class names.

Stamp a tokenizer hash into an older checkpoint (only for a tokenizer you know is the right one),
or record its self-test (only for weights you know are right):
    python -m rnn_demo.checkpoint --stamp checkpoints/NAME
    python -m rnn_demo.checkpoint --selftest checkpoints/NAME
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from . import CLASS_NAMES, schema, selftest
from .models import PRESETS, ClassifierConfig, TextClassifier
from .tokenizer import Vocab, VocabError, file_sha256

CHECKPOINT_FORMAT = "rnn_demo.checkpoint/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
METRICS_FILE = "metrics.json"
TEST_METRICS_FILE = "test_metrics.json"
SELFTEST_FILE = selftest.SELFTEST_FILE

# Sane upper bounds for the sizes in config.json["model"], checked before any allocation. They are
# far above anything this project trains (vocab 22k, embed 64, hidden <= 64, 2 layers, 4 classes)
# and far below what would exhaust a server's memory.
CONFIG_BOUNDS = {"vocab_size": 2_000_000, "embed_dim": 4096, "hidden_size": 4096,
                 "num_layers": 16, "num_classes": 1000}
MAX_PARAMETERS = 100_000_000  # 400 MB of float32 weights: the sizes above can still multiply past it
SHA256_RE = re.compile(r"[0-9a-f]{64}")


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
    selftest: dict | None = None  # the checked selftest.json record (None only for `--selftest` recording)

    @property
    def config(self) -> ClassifierConfig:
        return self.model.config


def save_checkpoint(out_dir: str | Path, model: TextClassifier, vocab: Vocab, preset: str,
                    metrics: dict, description: str | None = None) -> Path:
    """Write the five checkpoint files into `out_dir` (created if needed).

    config.json records the sha256 of the tokenizer.json written here, and selftest.json the
    model's probabilities on the self-test headlines; loading requires both.
    """
    out = Path(out_dir)
    if len(vocab) != model.config.vocab_size:
        raise CheckpointError(f"vocabulary has {len(vocab)} tokens but the model expects {model.config.vocab_size}")
    # the self-test record, first (a model with non-finite answers writes nothing): made on the CPU,
    # where loading recomputes it, in eval mode
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    try:
        record = selftest.make_record(model if on_cpu else copy.deepcopy(model).cpu(), vocab, CLASS_NAMES)
    except selftest.SelftestError as exc:
        raise CheckpointError(f"{out}: not saved: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
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
    selftest.write_record(record, out)
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


def stamp_command(root: Path) -> str:
    return f"python -m rnn_demo.checkpoint --stamp {root}"


def _check_model_sizes(model_cfg: object, config_path: Path) -> None:
    """Refuse absurd sizes in config.json["model"] before anything is built or allocated."""
    if not isinstance(model_cfg, dict):
        raise CheckpointError(f"{config_path}: 'model' must be a JSON object of model settings")
    for key, limit in CONFIG_BOUNDS.items():
        value = model_cfg.get(key)
        if value is None:
            continue  # a missing key is reported by ClassifierConfig (required) or takes its default
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise CheckpointError(f"{config_path}: model {key}={value!r} is outside the supported range "
                                  f"1..{limit:,}; refused before allocating anything")


def _meta_model(model_config: ClassifierConfig, config_path: Path) -> TextClassifier:
    """The model the config describes, on the meta device (shapes only), within MAX_PARAMETERS."""
    try:
        with torch.device("meta"):
            model = TextClassifier(model_config, init_embedding=False)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{config_path}: cannot build the model it describes ({exc})") from None
    n = sum(p.numel() for p in model.parameters())
    if n > MAX_PARAMETERS:
        raise CheckpointError(f"{config_path}: the model it describes has {n:,} parameters, more than the "
                              f"supported {MAX_PARAMETERS:,}; refused before allocating anything")
    return model


_VOCABS: weakref.WeakValueDictionary[str, Vocab] = weakref.WeakValueDictionary()  # sha256 -> loaded vocabulary


def _shared_vocab(path: Path, sha256: str) -> Vocab:
    """The vocabulary in `path`, whose sha256 the caller has just checked, shared between
    checkpoints: the shipped models were all trained on one vocabulary, and the app holds every
    one of them (each further copy with its fast-tokenizer table would cost memory; `bench/bench_memory.py
    --startup` measures it). Same sha256, same file content, same Vocab (immutable); held only while
    some checkpoint uses it."""
    vocab = _VOCABS.get(sha256)
    if vocab is None:
        vocab = _VOCABS[sha256] = Vocab.load(path)
    return vocab


def _tokenizer_entry(config: dict, root: Path, config_path: Path) -> tuple[Path, str]:
    """(tokenizer path, recorded sha256) from config.json; refuse a config that records no hash."""
    info = config.get("tokenizer")
    if info is None or (isinstance(info, dict) and "sha256" not in info):
        raise CheckpointError(
            f"{config_path}: records no sha256 for its tokenizer, so a swapped or shuffled vocabulary "
            f"could not be detected. If {root / TOKENIZER_FILE} is the vocabulary this model was trained "
            f"with, record it with `{stamp_command(root)}`; otherwise retrain (training writes the hash)")
    if not isinstance(info, dict):
        raise CheckpointError(f"{config_path}: 'tokenizer' must be an object with 'file' and 'sha256'")
    name, sha = info.get("file", TOKENIZER_FILE), info.get("sha256")
    # a bare file name inside the folder: a config must not point the loader elsewhere on disk
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise CheckpointError(f"{config_path}: tokenizer file {name!r} must be a file name inside {root}")
    if not isinstance(sha, str) or not SHA256_RE.fullmatch(sha):
        raise CheckpointError(f"{config_path}: tokenizer sha256 {sha!r} is not 64 lowercase hex digits")
    return root / name, sha


def _check_weight_shapes(weights_path: Path, expected: dict[str, torch.Size], config_path: Path) -> None:
    """Compare the safetensors header (names, shapes) with the model; reads no tensor data."""
    try:
        with safe_open(str(weights_path), framework="pt") as fh:
            shapes = {key: tuple(fh.get_slice(key).get_shape()) for key in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights_path}: cannot read safetensors ({exc}); "
                              "the file may be truncated or not a safetensors file") from None
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{weights_path}: tensors do not match the config in {config_path} "
                              f"(missing: {missing or 'none'}; unexpected: {unexpected or 'none'})")
    for key, shape in shapes.items():
        if shape != tuple(expected[key]):
            raise CheckpointError(f"{weights_path}: tensor {key!r} has shape {shape}, "
                                  f"the config in {config_path} needs {tuple(expected[key])}")


def _checked(check, *args) -> None:
    """Run a `schema` check; its SchemaError (file and field named) becomes a CheckpointError."""
    try:
        check(*args)
    except schema.SchemaError as exc:
        raise CheckpointError(str(exc)) from None


def read_selftest(root: Path, num_classes: int) -> dict:
    """The checked selftest.json record of a checkpoint folder; CheckpointError when missing or wrong."""
    path = root / SELFTEST_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the self-test record is missing, so damage that keeps every file well-formed (scaled "
            f"weights, another vocabulary with its hash recorded) could not be detected. If the weights in "
            f"{root} are the trained ones, record it with `python -m rnn_demo.checkpoint --selftest {root}`; "
            "otherwise retrain (training writes it)")
    record = _read_json(path, "self-test record")
    _checked(selftest.check_record, record, path, num_classes)
    return record


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", *, run_selftest: bool = True) -> Checkpoint:
    """Load a checkpoint folder into an eval-mode model; raise `CheckpointError` on any problem.

    run_selftest=False skips only the self-test (used to record one for an older checkpoint).
    """
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"{root}: checkpoint folder not found")
    config_path = root / CONFIG_FILE
    config = _read_json(config_path, "model config")
    if config.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{config_path}: format {config.get('format')!r} is not {CHECKPOINT_FORMAT!r}")
    preset = config.get("preset")
    if not isinstance(preset, str) or preset not in PRESETS:
        raise CheckpointError(f"{config_path}: unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    _check_model_sizes(config.get("model"), config_path)
    _checked(schema.check_config, config, config_path)
    try:
        model_config = ClassifierConfig.from_dict(config["model"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: invalid model config ({exc})") from None
    class_names = tuple(config["class_names"])
    if len(class_names) != model_config.num_classes:
        raise CheckpointError(f"{config_path}: {len(class_names)} class names for {model_config.num_classes} classes")
    meta_model = _meta_model(model_config, config_path)

    # The hash is checked before the file is parsed: a tampered tokenizer is refused as a whole.
    tok_path, expected_sha = _tokenizer_entry(config, root, config_path)
    if not tok_path.is_file():
        raise CheckpointError(f"{tok_path}: tokenizer file is missing")
    if file_sha256(tok_path) != expected_sha:
        raise CheckpointError(f"{tok_path}: sha256 differs from the one recorded in {config_path}; "
                              "this is not the tokenizer the model was trained with")
    try:
        vocab = _shared_vocab(tok_path, expected_sha)
    except VocabError as exc:
        raise CheckpointError(str(exc)) from None
    if len(vocab) != model_config.vocab_size:
        raise CheckpointError(f"{tok_path}: vocabulary has {len(vocab)} tokens but {config_path} "
                              f"says vocab_size={model_config.vocab_size}")

    weights_path = root / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: model weights are missing")
    expected = {k: v.shape for k, v in meta_model.state_dict().items()}
    _check_weight_shapes(weights_path, expected, config_path)
    try:
        tensors = load_file(str(weights_path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights_path}: cannot read safetensors ({exc}); the file may be truncated") from None
    for key, value in tensors.items():
        if not value.is_floating_point():
            raise CheckpointError(f"{weights_path}: tensor {key!r} has dtype {value.dtype}, expected floating point")
        if not torch.isfinite(value).all():
            raise CheckpointError(f"{weights_path}: tensor {key!r} holds NaN or infinite values")
    model = TextClassifier(model_config)
    model.load_state_dict(tensors)
    model.eval()

    record = None
    if run_selftest:  # on the CPU, where the record was made, before the model moves to `device`
        record = read_selftest(root, len(class_names))
        try:
            selftest.run(model, vocab, class_names, record, root / SELFTEST_FILE, config_path)
        except selftest.SelftestError as exc:
            raise CheckpointError(str(exc)) from None
    model.to(device)

    metrics_path = root / METRICS_FILE
    metrics = _read_json(metrics_path, "training metrics")
    _checked(schema.check_metrics, metrics, metrics_path)
    test_path = root / TEST_METRICS_FILE
    test_metrics = _read_json(test_path, "test metrics") if test_path.exists() else None
    if test_metrics is not None:
        _checked(schema.check_test_metrics, test_metrics, test_path, class_names)
    return Checkpoint(path=root, name=root.name, preset=preset, model=model, vocab=vocab,
                      class_names=class_names, description=config.get("description", ""),
                      metrics=metrics, test_metrics=test_metrics, selftest=record)


def load_or_report(folder: str | Path) -> Checkpoint | None:
    """`load_checkpoint` for command-line tools that go on to the next folder: None, after
    printing "error: <the problem, naming the file>" on stderr, when the folder cannot be loaded."""
    try:
        return load_checkpoint(folder)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def stamp_tokenizer(path: str | Path) -> str:
    """Record the sha256 of `path`/tokenizer.json in its config.json; returns the hash.

    Only for a checkpoint written before hashes were recorded, whose tokenizer the user knows to
    be the one the model was trained with: the hash then protects it from later swaps. The
    vocabulary must parse and its size must match the config, so an obviously wrong one is refused.
    """
    root = Path(path)
    config_path = root / CONFIG_FILE
    config = _read_json(config_path, "model config")
    tok_path = root / TOKENIZER_FILE
    try:
        vocab = Vocab.load(tok_path)
    except VocabError as exc:
        raise CheckpointError(str(exc)) from None
    model_cfg = config.get("model")
    vocab_size = model_cfg.get("vocab_size") if isinstance(model_cfg, dict) else None
    if len(vocab) != vocab_size:
        raise CheckpointError(f"{tok_path}: vocabulary has {len(vocab)} tokens but {config_path} says "
                              f"vocab_size={vocab_size!r}; this cannot be the model's tokenizer")
    sha = file_sha256(tok_path)
    config["tokenizer"] = {"file": TOKENIZER_FILE, "sha256": sha}
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tmp.replace(config_path)  # atomic: a crash leaves the old config, never half a file
    return sha


def record_selftest(path: str | Path) -> Path:
    """Write selftest.json for a checkpoint saved before self-tests existed, from its weights as they
    are (nothing else in the folder changes). Only for weights the user knows are the trained ones:
    from then on, any change to what they answer is detected."""
    ckpt = load_checkpoint(path, run_selftest=False)
    try:
        record = selftest.make_record(ckpt.model, ckpt.vocab, ckpt.class_names)
    except selftest.SelftestError as exc:
        raise CheckpointError(f"{Path(path) / WEIGHTS_FILE}: {exc}") from None
    return selftest.write_record(record, path)


def discover_checkpoints(root: str | Path) -> list[Path]:
    """Checkpoint folders directly under `root`, in name order."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file()) if root.is_dir() else []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rnn_demo.checkpoint",
                                description="Check checkpoint folders, or record their tokenizer's sha256.")
    p.add_argument("folders", nargs="*", help="checkpoint folders to load and check")
    p.add_argument("--stamp", action="append", default=[], metavar="DIR",
                   help="record DIR/tokenizer.json's sha256 in DIR/config.json. Use it only when you know "
                        "that tokenizer.json is the vocabulary the model was trained with")
    p.add_argument("--selftest", action="append", default=[], metavar="DIR",
                   help=f"record DIR/{SELFTEST_FILE}: the model's probabilities on the self-test headlines, "
                        "from its weights as they are. Use it only when you know they are the trained weights")
    args = p.parse_args(argv)
    if not args.folders and not args.stamp and not args.selftest:
        p.error("give checkpoint folders to check, --stamp DIR or --selftest DIR")
    status = 0
    for folder in args.stamp:
        try:
            sha = stamp_tokenizer(folder)
            load_checkpoint(folder)
        except CheckpointError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        print(f"{folder}: recorded tokenizer sha256 {sha} in {Path(folder) / CONFIG_FILE}")
    for folder in args.selftest:
        try:
            written = record_selftest(folder)
            load_checkpoint(folder)
        except CheckpointError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        print(f"{folder}: recorded the self-test in {written}")
    for folder in args.folders:
        ckpt = load_or_report(folder)
        if ckpt is None:
            status = 2
            continue
        print(f"{folder}: ok ({ckpt.preset}, {ckpt.model.num_parameters():,} parameters)")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
