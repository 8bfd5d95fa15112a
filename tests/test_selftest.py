"""The self-test at load: damage that keeps every file well-formed (scaled weights, a vocabulary
with its new hash recorded, swapped class names, an ONNX export of other weights) changes what the
model answers, and that leaves the model out with the reason, while the others serve. Runs on
copies of the shipped checkpoints in tmp_path and on tiny random ones."""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers import ROOT, tiny_model, tiny_vocab, write_tiny_checkpoints
from page import registry, views
from rnn_demo import selftest
from rnn_demo.checkpoint import (CheckpointError, discover_checkpoints, load_checkpoint, main as checkpoint_main,
                                 save_checkpoint)
from rnn_demo.predict import TorchPredictor
from rnn_demo.tokenizer import Vocab, file_sha256

SHIPPED = ROOT / "checkpoints"
HEALTHY = "lesson-rnn"
HEADLINE = "Striker scores twice in stoppage time to keep title hopes alive"
shipped = pytest.mark.skipif(not (SHIPPED / HEALTHY / "selftest.json").is_file(),
                             reason="no shipped checkpoints under checkpoints/")


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


def scale_weights(folder: Path, factor: float, only: str | None = None) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    for key in tensors:
        if only is None or key == only:
            tensors[key] = tensors[key] * factor
    assert all(torch.isfinite(t).all() for t in tensors.values())  # finite: the loader's NaN check passes
    save_file(tensors, str(folder / "model.safetensors"))


def nudge_bias(folder: Path, by: float) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["fc.bias"] = tensors["fc.bias"] + torch.tensor([by, 0, 0, 0])
    save_file(tensors, str(folder / "model.safetensors"))


def reversed_vocabulary_rehashed(folder: Path) -> None:
    """The same words in reverse order, its sha256 recorded in config.json: every hash check passes."""
    vocab = Vocab.load(folder / "tokenizer.json")
    Vocab(tuple(vocab.tokens[:2]) + tuple(reversed(vocab.tokens[2:]))).save(folder / "tokenizer.json")
    sha = file_sha256(folder / "tokenizer.json")
    edit_config(folder, lambda cfg: cfg["tokenizer"].__setitem__("sha256", sha))


def swapped_class_names(folder: Path) -> None:
    def edit(cfg):
        names = cfg["class_names"]
        names[0], names[1] = names[1], names[0]
    edit_config(folder, edit)


# (case id, damaged checkpoint, damage, the reason the message must give)
CASES = [
    ("weights-times-1e37", "gru", lambda f: scale_weights(f, 1e37),
     # finite weights, saturated answers: NaN for some models, certainties for others; both refused
     r"gru/selftest\.json: self-test failed: .*(non-finite probabilities|now answers .*Sports 1\.0000)"),
    ("weights-times-1e37-bag", "bag-of-embeddings", lambda f: scale_weights(f, 1e37),
     r"bag-of-embeddings/selftest\.json: self-test failed: the model gives non-finite probabilities"),
    ("output-layer-doubled", "bilstm", lambda f: scale_weights(f, 2.0, only="fc.weight"),
     r"bilstm/selftest\.json: self-test failed: on headline 1 .* now answers World \d\.\d+.*recorded World 0\.\d+"),
    ("bias-nudged-by-0.01", "lesson-lstm", lambda f: nudge_bias(f, 0.01),
     r"lesson-lstm/selftest\.json: self-test failed: .*largest difference .* > tolerance 0\.0001"),
    ("reversed-vocabulary-rehashed", "gru", reversed_vocabulary_rehashed,
     r"gru/selftest\.json: self-test failed: on headline 1 .*the weights or the vocabulary are not the ones"),
    ("swapped-class-names", "gru", swapped_class_names,
     r"gru/config\.json: class_names \['Sports', 'World', 'Business', 'Sci/Tech'\] are not the ones the model "
     r"was saved with, \['World', 'Sports', 'Business', 'Sci/Tech'\]"),
]


@shipped
@pytest.mark.parametrize("case,target,damage,reason", CASES, ids=[c[0] for c in CASES])
def test_a_model_that_fails_its_selftest_is_left_out(tmp_path, case, target, damage, reason):
    root = copy_checkpoints(tmp_path, HEALTHY, target)
    damage(root / target)
    with pytest.raises(CheckpointError, match=reason.replace("/", r"[/\\]")):
        load_checkpoint(root / target)
    reg = registry.Registry(root)
    assert reg.names == [HEALTHY]
    assert len(reg.problems) == 1 and re.search(reason, reg.problems[0].replace("\\", "/")), reg.problems
    out = views.predict(reg, HEADLINE, HEALTHY)  # the intact model still answers
    assert sum(out.values()) == pytest.approx(1.0, abs=1e-5)


@shipped
def test_every_shipped_checkpoint_passes_its_selftest_with_eight_headlines():
    for folder in discover_checkpoints(SHIPPED):
        ckpt = load_checkpoint(folder)  # runs the self-test
        record = ckpt.selftest
        assert [h["text"] for h in record["headlines"]] == list(selftest.HEADLINES), folder
        assert record["class_names"] == list(ckpt.class_names)
        # the first four are one per class: every shipped model gets them right
        answers = [int(np.argmax(h["probabilities"])) for h in record["headlines"][:4]]
        assert answers == [0, 1, 2, 3], (folder, answers)


def test_selftest_headlines_are_not_from_the_test_set():
    test_csv = ROOT.parent / "shared" / "data" / "ag_news" / "test.csv"
    if not test_csv.is_file():
        pytest.skip("no AG News test set under ../shared")
    with open(test_csv, encoding="utf-8", newline="") as fh:
        rows = "\n".join(" ".join(r[1:]).lower() for r in csv.reader(fh))
    assert [h for h in selftest.HEADLINES if h.lower() in rows] == []


def test_training_writes_a_selftest_that_loading_checks(tmp_path):
    from rnn_demo import train

    out = tmp_path / "trained"
    assert train.main(["--preset", "lesson-rnn", "--dry-run", "--no-progress", "--epochs", "1",
                       "--out", str(out)]) == 0
    record = json.loads((out / "selftest.json").read_text())
    assert [h["text"] for h in record["headlines"]] == list(selftest.HEADLINES)
    ckpt = load_checkpoint(out)
    assert ckpt.selftest == record


def test_the_record_is_made_in_eval_mode_and_from_the_saved_weights(tmp_path):
    """A model saved straight from training (dropout on) records what loading recomputes."""
    from rnn_demo.models import TextClassifier, preset_config

    vocab = tiny_vocab()
    torch.manual_seed(0)  # large dropout: a record made in train mode would not reproduce
    model = TextClassifier(preset_config("bilstm", len(vocab), embed_dim=8, hidden_size=6, dropout=0.5)).train()
    folder = save_checkpoint(tmp_path / "ck", model, vocab, "bilstm", {})
    assert model.training  # the caller's mode is restored
    ckpt = load_checkpoint(folder)
    assert np.allclose(TorchPredictor(ckpt).predict_proba([selftest.HEADLINES[0]])[0],
                       ckpt.selftest["headlines"][0]["probabilities"], atol=1e-6)


def test_selftest_cli_records_a_missing_record_and_refuses_unusable_weights(tmp_path, capsys):
    root = write_tiny_checkpoints(tmp_path / "ck", presets=("bag-of-embeddings",))
    folder = root / "bag-of-embeddings"
    original = (folder / "selftest.json").read_text()
    (folder / "selftest.json").unlink()
    with pytest.raises(CheckpointError, match=r"self-test record is missing.*--selftest"):
        load_checkpoint(folder)
    weights = (folder / "model.safetensors").read_bytes()
    assert checkpoint_main(["--selftest", str(folder)]) == 0
    assert json.loads((folder / "selftest.json").read_text()) == json.loads(original)  # deterministic
    assert (folder / "model.safetensors").read_bytes() == weights  # nothing else touched
    load_checkpoint(folder)
    (folder / "selftest.json").unlink()
    scale_weights(folder, 1e37)
    assert checkpoint_main(["--selftest", str(folder)]) == 2
    assert "non-finite probabilities" in capsys.readouterr().err
    assert not (folder / "selftest.json").exists()


def test_a_predictor_that_answers_differently_leaves_its_model_out(tmp_path):
    """The serving backend runs the same self-test: here a predictor with its classes in another order."""
    root = write_tiny_checkpoints(tmp_path / "ck", presets=("gru", "bilstm"))

    class Reordered(TorchPredictor):
        def predict_proba(self, texts):
            return super().predict_proba(texts)[:, ::-1]

    reg = registry.Registry(root, lambda ckpt: (Reordered if ckpt.name == "gru" else TorchPredictor)(ckpt), "test")
    assert reg.names == ["bilstm"]
    assert len(reg.problems) == 1
    assert re.search(r"gru[/\\]selftest\.json: self-test failed: .*the Reordered of gru now answers", reg.problems[0])
    assert reg.problems[0].endswith("(backend test)")


def test_onnx_backend_does_not_serve_an_export_of_other_weights(tmp_path):
    pytest.importorskip("onnxruntime")
    onnx_export = pytest.importorskip("export.onnx_export")
    from export.runtime import onnx_predictors

    root = write_tiny_checkpoints(tmp_path / "ck", presets=("gru", "bilstm"))
    exports = tmp_path / "exports"
    onnx_export.export_checkpoint(root / "bilstm", exports / "bilstm.onnx")
    # gru.onnx exported from other gru weights with the same vocabulary: the tokenizer hash matches
    other = save_checkpoint(tmp_path / "other" / "gru", tiny_model("gru", tiny_vocab(), seed=5), tiny_vocab(),
                            "gru", {})
    onnx_export.export_checkpoint(other, exports / "gru.onnx")
    reg = registry.Registry(root, onnx_predictors(exports), "onnx")
    assert reg.names == ["bilstm"]
    assert re.search(r"gru[/\\]selftest\.json: self-test failed: .*the OnnxPredictor of gru now answers .*"
                     r"\(backend onnx\)$", reg.problems[0]), reg.problems
