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
from safetensors import numpy as safetensors_numpy
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


def edit_json(folder: Path, name: str, edit) -> None:
    path = folder / name
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _relabel_projection(folder: Path) -> None:
    tensors = safetensors_numpy.load_file(str(folder / "projection.safetensors"))
    tensors["labels"][0] = 7  # a class the model does not have
    safetensors_numpy.save_file(tensors, str(folder / "projection.safetensors"))


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
    # valid JSON with a wrong type, range or shape: refused at start-up, not when a view reads it
    ("test-metrics-accuracy-text", "gru", lambda f: edit_json(f, "test_metrics.json", _set("accuracy", "high")),
     "test_metrics.json", r"accuracy must be a number in 0\.\.1, got 'high'"),
    ("test-metrics-five-row-confusion", "gru",
     lambda f: edit_json(f, "test_metrics.json", lambda d: d["confusion"].append([0, 0, 0, 0])),
     "test_metrics.json", r"confusion must be a list of 4 item\(s\)"),
    ("test-metrics-ragged-confusion", "gru",
     lambda f: edit_json(f, "test_metrics.json", lambda d: d["confusion"][2].pop()),
     "test_metrics.json", r"confusion\[2\] must be a list of 4"),
    ("test-metrics-precision-text", "gru",
     lambda f: edit_json(f, "test_metrics.json", _set("per_class", "World", "precision", "good")),
     "test_metrics.json", r"per_class\.World\.precision must be a number in 0\.\.1"),
    ("projection-ratio-not-a-list", "gru",
     lambda f: edit_json(f, "projection.json", _set("explained_variance_ratio", 5)),
     "projection.json", r"explained_variance_ratio must be a list of 1 item\(s\), got 5"),
    ("projection-ratio-above-one", "bilstm",
     lambda f: edit_json(f, "projection.json", lambda d: d["explained_variance_ratio"][1].__setitem__(0, 5)),
     "projection.json", r"explained_variance_ratio\[1\]\[0\] must be a number in 0\.\.1, got 5"),
    ("projection-reference-rows-text", "gru",
     lambda f: edit_json(f, "projection.json", _set("reference", "rows", "a thousand")),
     "projection.json", r"reference\.rows must be an integer"),
    ("projection-label-not-a-class", "gru", _relabel_projection, "projection.safetensors",
     r"'labels' must be class indices 0\.\.3, got 0\.\.7"),
    ("metrics-epochs-text", "gru", lambda f: edit_json(f, "metrics.json", _set("epochs", "twelve")),
     "metrics.json", r"epochs must be a list"),
    ("metrics-best-accuracy-text", "gru", lambda f: edit_json(f, "metrics.json", _set("best_val_accuracy", "best")),
     "metrics.json", r"best_val_accuracy must be a number in 0\.\.1, got 'best'"),
    ("metrics-epoch-loss-text", "gru",
     lambda f: edit_json(f, "metrics.json", lambda d: d["epochs"][3].__setitem__("val_loss", "low")),
     "metrics.json", r"epochs\[3\]\.val_loss must be a number >= 0"),
    ("metrics-train-rows-text", "gru", lambda f: edit_json(f, "metrics.json", _set("data", "train_rows", "many")),
     "metrics.json", r"data\.train_rows must be an integer >= 0, got 'many'"),
    ("metrics-setting-not-scalar", "gru", lambda f: edit_json(f, "metrics.json", _set("settings", "lr", {"a": 1})),
     "metrics.json", r"settings\.lr must be a string, number, true/false or null"),
    ("metrics-best-epoch-not-trained", "gru", lambda f: edit_json(f, "metrics.json", _set("best_epoch", 40)),
     "metrics.json", r"best_epoch must be one of the epochs listed \(1\.\.12\), got 40"),
    ("config-bidirectional-text", "gru", lambda f: edit_config(f, _set("model", "bidirectional", "no")),
     "config.json", r"model\.bidirectional must be true or false, got 'no'"),
    ("config-duplicate-class-names", "gru", lambda f: edit_config(f, _set("class_names", 1, "World")),
     "config.json", r"class_names must be a list of distinct names"),
    ("lessons-batching-rows-text", "gru", lambda f: edit_json(f, "lessons.json", _set("batching", "n", "all")),
     "lessons.json", r"batching\.n must be an integer >= 1, got 'all'"),
    ("lessons-memory-count-missing", "gru",
     lambda f: edit_json(f, "lessons.json", lambda d: d["memory"].pop("headlines")),
     "lessons.json", r"memory\.headlines must be an integer >= 0, it is missing"),
    ("selftest-missing", "gru", lambda f: (f / "selftest.json").unlink(), "selftest.json",
     r"self-test record is missing.*python -m rnn_demo\.checkpoint --selftest"),
    ("selftest-probability-text", "gru",
     lambda f: edit_json(f, "selftest.json", lambda d: d["headlines"][2]["probabilities"].__setitem__(1, "high")),
     "selftest.json", r"headlines\[2\]\.probabilities\[1\] must be a number in 0\.\.1, got 'high'"),
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


def test_another_models_lessons_json_is_named_and_left_out(tmp_path):
    """Measured on other weights: the model serves, its test-set numbers are not shown, the file is named."""
    from page import lesson_views

    root = copy_checkpoints(tmp_path, HEALTHY, "gru")
    shutil.copy(SHIPPED / "bilstm" / "lessons.json", root / "gru" / "lessons.json")
    reg = registry.Registry(root)
    assert sorted(reg.names) == ["gru", HEALTHY] and reg.problems == []  # the model itself still loads
    borrowed = json.loads((SHIPPED / "bilstm" / "lessons.json").read_text())
    table, notes = lesson_views.word_order_testset_table(reg)
    assert "| gru | – | – |" in table
    assert f"{100 * borrowed['word_order']['reversed_accuracy']:.2f}" not in table.split("| gru |")[1]
    assert any("gru/lessons.json" in n.replace("\\", "/") for n in notes), notes
    _, _, md = lesson_views.memory_view(reg, HEADLINE, "gru")
    assert "gru/lessons.json" in md.replace("\\", "/")
    assert "| gru |" not in md  # no stored memory curve shown for it


def test_another_models_projection_is_named_and_not_used(tmp_path):
    """Same shapes, other weights: the paths use the stand-in, and the note names the stale file."""
    root = copy_checkpoints(tmp_path, HEALTHY, "lesson-lstm")
    for name in ("projection.json", "projection.safetensors"):
        shutil.copy(SHIPPED / "lesson-lstm-packed" / name, root / "lesson-lstm" / name)
    reg = registry.Registry(root)
    entry = reg.get("lesson-lstm")
    assert entry.projection.meta.get("fallback") and len(entry.projection.clouds[0]) == 0
    assert "lesson-lstm/projection.json was fitted for other weights" in entry.projection_note.replace("\\", "/")
