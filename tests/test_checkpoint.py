import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnn_demo.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnn_demo.models import TextClassifier, preset_config
from rnn_demo.tokenizer import Vocab
from rnn_demo.fast_tokenizer import encode_batch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def saved(tmp_path):
    vocab = Vocab.build(["the cat sat on the mat", "dogs chase cats", "markets fall"], min_freq=1)
    torch.manual_seed(0)
    model = TextClassifier(preset_config("bilstm", len(vocab))).eval()
    path = save_checkpoint(tmp_path / "ckpt", model, vocab, "bilstm", {"epochs": []})
    return path, model, vocab


def test_round_trip_gives_identical_logits(saved):
    path, model, vocab = saved
    ckpt = load_checkpoint(path)
    tokens, lengths = encode_batch(vocab, ["the cat sat", "markets fall on dogs", "zebra"])
    with torch.no_grad():
        assert torch.equal(model(tokens, lengths), ckpt.model(tokens, lengths))
    assert ckpt.preset == "bilstm" and ckpt.vocab == vocab and not ckpt.model.training


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json", "metrics.json"])
def test_missing_file_is_named(saved, name):
    path, *_ = saved
    (path / name).unlink()
    with pytest.raises(CheckpointError, match=rf"{name}.*missing"):
        load_checkpoint(path)


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json", "metrics.json"])
def test_truncated_file_is_named(saved, name):
    path, *_ = saved
    data = (path / name).read_bytes()
    (path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=rf"{name}"):
        load_checkpoint(path)


def test_unknown_preset(saved):
    path, *_ = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["preset"] = "transformer-xl"
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="config.json: unknown preset 'transformer-xl'"):
        load_checkpoint(path)


def test_wrong_vocab_size(saved):
    path, *_ = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["vocab_size"] += 1
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="tokenizer.json: vocabulary has .* tokens but .*vocab_size"):
        load_checkpoint(path)


def test_other_tokenizer_is_detected(saved):
    path, *_ = saved
    Vocab.build(["completely different words here"], min_freq=1).save(path / "tokenizer.json")
    with pytest.raises(CheckpointError, match="tokenizer.json: sha256 differs"):
        load_checkpoint(path)


def test_shape_mismatch_names_tensor(saved):
    path, *_ = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["hidden_size"] = 7
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"model.safetensors: tensor '.*' has shape"):
        load_checkpoint(path)


def test_config_for_another_architecture(saved):
    path, *_ = saved
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["bidirectional"] = False
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unexpected"):
        load_checkpoint(path)


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="folder not found"):
        load_checkpoint(tmp_path / "nowhere")


def test_checkpoints_with_one_tokenizer_share_one_vocabulary(saved, tmp_path):
    path, model, vocab = saved
    other = save_checkpoint(tmp_path / "other", model, vocab, "bilstm", {"epochs": []})
    a, b = load_checkpoint(path), load_checkpoint(other)
    assert a.vocab is b.vocab  # one Vocab (and one fast-tokenizer table) for both
    different = Vocab.build(["a whole other vocabulary of words"], min_freq=1)
    small = TextClassifier(preset_config("gru", len(different))).eval()
    c = load_checkpoint(save_checkpoint(tmp_path / "third", small, different, "gru", {"epochs": []}))
    assert c.vocab is not a.vocab and c.vocab == different


def test_loading_does_not_import_torch_dynamo():
    # the meta-device size check once initialised the embedding there, which imports
    # torch._dynamo: +45 MB of the app's resident memory (bench/bench_memory.py --startup)
    code = ("import sys; from rnn_demo.checkpoint import load_checkpoint; "
            "load_checkpoint('checkpoints/bilstm'); print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
