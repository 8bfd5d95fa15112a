"""Tampered checkpoints: each damaged file leaves only its model out, with a message naming
the file and the problem, while the other models serve. Runs in-process on copies of the shipped
checkpoints in tmp_path (the shipped folders are never touched)."""
from __future__ import annotations

import json
import random
import re
import shutil
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers import ROOT
from page import registry
from page import views
from rnn_demo.checkpoint import CheckpointError, load_checkpoint, main as checkpoint_main, save_checkpoint
from rnn_demo.projection import ProjectionError, load_projection
from rnn_demo.tokenizer import Vocab

SHIPPED = ROOT / "checkpoints"
HEALTHY = "lesson-rnn"  # must keep serving in every case
pytestmark = pytest.mark.skipif(not (SHIPPED / HEALTHY / "config.json").is_file(),
                                reason="no shipped checkpoints under checkpoints/")
HEADLINE = "Striker scores twice in stoppage time to keep title hopes alive"


def copy_checkpoints(tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "checkpoints"
    for name in names:
        shutil.copytree(SHIPPED / name, root / name)
    return root


def edit_config(folder: Path, edit) -> None:
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    edit(cfg)
    path.write_text(json.dumps(cfg))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def shuffled_tokenizer(folder: Path) -> None:
    """The same words in another order (same size, same format): every id now means another word."""
    vocab = Vocab.load(folder / "tokenizer.json")
    words = list(vocab.tokens[2:])
    random.Random(0).shuffle(words)
    Vocab(tuple(vocab.tokens[:2]) + tuple(words)).save(folder / "tokenizer.json")


def _set(*keys_value):
    *keys, value = keys_value

    def edit(cfg):
        d = cfg
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return edit


def _drop_tokenizer_hash(cfg):
    del cfg["tokenizer"]["sha256"]


def _swap_without_hash(folder: Path) -> None:
    shuffled_tokenizer(folder)
    edit_config(folder, _drop_tokenizer_hash)


def _retyped_weights(folder: Path) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["fc.bias"] = torch.full_like(tensors["fc.bias"], float("nan"))
    save_file(tensors, str(folder / "model.safetensors"))


# (case id, damaged checkpoint, damage, the file the message must name, the problem it must state)
CASES = [
    ("huge-hidden-size", "gru", lambda f: edit_config(f, _set("model", "hidden_size", 10_000_000)),
     "config.json", r"hidden_size=10000000 is outside the supported range"),
    ("huge-vocab", "gru", lambda f: edit_config(f, _set("model", "vocab_size", 10**12)),
     "config.json", r"vocab_size=1000000000000 is outside"),
    ("too-many-parameters", "gru",
     lambda f: [edit_config(f, _set("model", k, 4096)) for k in ("embed_dim", "hidden_size")],
     "config.json", r"parameters, more than the supported"),
    ("config-not-json", "gru", lambda f: truncate(f / "config.json"), "config.json", "not valid JSON"),
    ("config-model-not-object", "gru", lambda f: edit_config(f, _set("model", [1, 2])), "config.json",
     "'model' must be a JSON object"),
    ("truncated-weights", "bilstm-2layer", lambda f: truncate(f / "model.safetensors"), "model.safetensors",
     "cannot read safetensors"),
    ("garbage-weights", "gru", lambda f: (f / "model.safetensors").write_bytes(b"\xff" * 64), "model.safetensors",
     "cannot read safetensors"),
    ("nan-weights", "gru", _retyped_weights, "model.safetensors", "NaN or infinite"),
    ("truncated-tokenizer", "gru", lambda f: truncate(f / "tokenizer.json"), "tokenizer.json", "sha256 differs"),
    ("shuffled-tokenizer", "gru", shuffled_tokenizer, "tokenizer.json", "sha256 differs"),
    ("shuffled-tokenizer-hash-removed", "gru", _swap_without_hash, "config.json",
     r"records no sha256 for its tokenizer.*python -m rnn_demo\.checkpoint --stamp"),
    ("tokenizer-outside-folder", "gru", lambda f: edit_config(f, _set("tokenizer", "file", "../../etc/passwd")),
     "config.json", "must be a file name inside"),
    ("truncated-projection", "bilstm-2layer", lambda f: truncate(f / "projection.safetensors"),
     "projection.safetensors", "cannot read safetensors"),
    ("projection-meta-not-json", "gru", lambda f: truncate(f / "projection.json"), "projection.json",
     "not valid JSON"),
    ("projection-half-missing", "gru", lambda f: (f / "projection.json").unlink(), "projection.json",
     "missing while projection.safetensors is present"),
    ("projection-for-another-model", "gru",
     lambda f: [shutil.copy(SHIPPED / "bilstm" / n, f / n) for n in ("projection.json", "projection.safetensors")],
     "projection.json", r"fitted for 2 direction\(s\), the model has 1"),
    ("metrics-not-json", "gru", lambda f: (f / "metrics.json").write_text("{"), "metrics.json", "not valid JSON"),
    ("truncated-lessons", "gru", lambda f: truncate(f / "lessons.json"), "lessons.json", "not valid JSON"),
    ("lessons-wrong-shape", "gru", lambda f: (f / "lessons.json").write_text('{"format": 3}'), "lessons.json", ""),
]


@pytest.mark.parametrize("case,target,damage,filename,problem", CASES, ids=[c[0] for c in CASES])
def test_a_damaged_file_leaves_only_its_model_out(tmp_path, case, target, damage, filename, problem):
    root = copy_checkpoints(tmp_path, HEALTHY, target)
    damage(root / target)
    start = time.perf_counter()
    reg = registry.Registry(root)
    assert time.perf_counter() - start < 10  # refused before allocating, never an attempt at gigabytes
    assert reg.names == [HEALTHY]
    assert len(reg.problems) == 1
    message = reg.problems[0]
    assert f"{target}/{filename}" in message.replace("\\", "/")
    assert re.search(problem, message), message
    out = views.predict(reg, HEADLINE, HEALTHY)  # the intact model still answers
    assert sum(out.values()) == pytest.approx(1.0, abs=1e-5)


def test_any_other_loader_error_leaves_only_that_model_out(tmp_path, monkeypatch):
    """Errors that are not CheckpointError (e.g. MemoryError, a library's own exception) are caught too."""
    root = copy_checkpoints(tmp_path, HEALTHY, "gru")
    real = registry.load_checkpoint

    def flaky(folder, *a, **k):
        if Path(folder).name == "gru":
            raise MemoryError("cannot allocate 7.7 GB")
        return real(folder, *a, **k)

    monkeypatch.setattr(registry, "load_checkpoint", flaky)
    reg = registry.Registry(root)
    assert reg.names == [HEALTHY]
    assert reg.problems and "gru" in reg.problems[0] and "MemoryError: cannot allocate 7.7 GB" in reg.problems[0]


def test_every_shipped_checkpoint_records_and_matches_its_tokenizer_hash():
    for folder in sorted(p for p in SHIPPED.iterdir() if (p / "config.json").is_file()):
        cfg = json.loads((folder / "config.json").read_text())
        assert len(cfg["tokenizer"]["sha256"]) == 64, folder
        load_checkpoint(folder)  # checks it


def test_save_checkpoint_records_the_tokenizer_hash_and_stamp_restores_a_removed_one(tmp_path, capsys):
    vocab = Vocab.build(["markets fall", "team wins"], min_freq=1)
    from rnn_demo.models import TextClassifier, preset_config

    model = TextClassifier(preset_config("gru", len(vocab), embed_dim=4, hidden_size=3)).eval()
    path = save_checkpoint(tmp_path / "ck", model, vocab, "gru", {"epochs": []})
    sha = json.loads((path / "config.json").read_text())["tokenizer"]["sha256"]
    edit_config(path, _drop_tokenizer_hash)
    with pytest.raises(CheckpointError, match=r"records no sha256.*--stamp " + str(path).replace("\\", "\\\\")):
        load_checkpoint(path)
    assert checkpoint_main(["--stamp", str(path)]) == 0
    assert json.loads((path / "config.json").read_text())["tokenizer"]["sha256"] == sha
    load_checkpoint(path)
    # stamping refuses a vocabulary that cannot belong to the model (wrong size)
    Vocab.build(["one two three four five"], min_freq=1).save(path / "tokenizer.json")
    assert checkpoint_main(["--stamp", str(path)]) == 2
    assert "this cannot be the model's tokenizer" in capsys.readouterr().err


def test_a_forged_safetensors_header_is_refused_before_reading_tensors(tmp_path):
    """Shapes come from the header: a file claiming other shapes is refused, naming the tensor."""
    root = copy_checkpoints(tmp_path, "gru")
    folder = root / "gru"
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["fc.weight"] = torch.zeros(5, tensors["fc.weight"].shape[1])
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor 'fc\.weight' has shape \(5, 64\)"):
        load_checkpoint(folder)


def test_projection_loader_checks_shapes_against_the_model(tmp_path):
    root = copy_checkpoints(tmp_path, "gru")
    assert load_projection(root / "gru", directions=1, hidden_size=64) is not None
    with pytest.raises(ProjectionError, match=r"projection\.safetensors: d0\.mean has shape \(64,\), expected \(32,\)"):
        load_projection(root / "gru", directions=1, hidden_size=32)
