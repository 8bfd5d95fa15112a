"""Triton model repository: config.pbtxt parses with Triton's own schema and matches the graph."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from export.__main__ import main as export_main
from rnn_demo.checkpoint import save_checkpoint
from rnn_demo.models import TextClassifier, preset_config
from rnn_demo.tokenizer import Vocab

ONNX_TO_TRITON = {onnx.TensorProto.INT64: mc.TYPE_INT64, onnx.TensorProto.FLOAT: mc.TYPE_FP32}


def _checkpoint(root: Path, preset: str) -> Path:
    torch.manual_seed(0)
    vocab = Vocab(("<pad>", "<unk>", *[f"w{i}" for i in range(48)]))
    model = TextClassifier(preset_config(preset, vocab_size=len(vocab))).eval()
    return save_checkpoint(root / preset, model, vocab, preset, metrics={})


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("triton")
    for preset in ("lesson-lstm-packed", "bilstm"):
        _checkpoint(root / "ckpts", preset)
    assert export_main(["--triton", str(root / "repo"), "--checkpoints-dir", str(root / "ckpts")]) == 0
    # a second repository with the per-step states output, for one model
    assert export_main(["--triton", str(root / "repo_states"), "--checkpoint", str(root / "ckpts" / "bilstm"),
                        "--states"]) == 0
    return root


def _parse(path: Path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(encoding="utf-8"), mc.ModelConfig())


def _graph_io(onnx_path: Path):
    graph = onnx.load(str(onnx_path)).graph
    init = {i.name for i in graph.initializer}
    spec = lambda v: (v.name, v.type.tensor_type.elem_type,  # noqa: E731
                      [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim])
    return [spec(v) for v in graph.input if v.name not in init], [spec(v) for v in graph.output]


def _check_against_graph(config: mc.ModelConfig, onnx_path: Path) -> None:
    inputs, outputs = _graph_io(onnx_path)
    for entries, graph in ((config.input, inputs), (config.output, outputs)):
        assert [e.name for e in entries] == [g[0] for g in graph]
        for entry, (name, elem_type, dims) in zip(entries, graph):
            assert entry.data_type == ONNX_TO_TRITON[elem_type], name
            assert dims[0] == -1, f"{name}: batch axis must be dynamic in the graph"
            if len(dims) == 1:  # (batch,): one value per request, reshaped to a scalar
                assert list(entry.dims) == [1] and entry.HasField("reshape") and list(entry.reshape.shape) == []
            else:
                assert list(entry.dims) == dims[1:], name


@pytest.mark.parametrize("name", ["lesson-lstm-packed", "bilstm"])
def test_config_parses_and_matches_graph(repo, name):
    model_dir = repo / "repo" / name
    config = _parse(model_dir / "config.pbtxt")
    assert config.name == name and config.backend == "onnxruntime"
    assert config.max_batch_size >= 1024
    assert config.HasField("dynamic_batching")
    assert (model_dir / "tokenizer.json").is_file()
    _check_against_graph(config, model_dir / "1" / "model.onnx")
    assert [i.name for i in config.input] == ["tokens", "lengths"]
    assert [o.name for o in config.output] == ["logits"]
    assert list(config.input[0].dims) == [-1] and list(config.output[0].dims) == [4]


def test_states_output_is_declared(repo):
    model_dir = repo / "repo_states" / "bilstm"
    config = _parse(model_dir / "config.pbtxt")
    _check_against_graph(config, model_dir / "1" / "model.onnx")
    assert [o.name for o in config.output] == ["logits", "states"]
    assert list(config.output[1].dims) == [-1, 128]  # (seq, 2 directions x 64)


def test_repository_model_runs_with_triton_shapes(repo):
    """What Triton hands the backend: a batch of same-length requests, lengths as (batch,)."""
    path = repo / "repo" / "bilstm" / "1" / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tokens = np.random.default_rng(0).integers(2, 50, size=(3, 16)).astype(np.int64)
    logits = session.run(["logits"], {"tokens": tokens, "lengths": np.array([16, 9, 1], np.int64)})[0]
    assert logits.shape == (3, 4) and np.isfinite(logits).all()


def test_schema_check_catches_a_mismatch(repo, tmp_path):
    # The comparison is strict enough to fail: rename an input in a copy of a config.
    text = (repo / "repo" / "bilstm" / "config.pbtxt").read_text().replace('"lengths"', '"length"')
    with pytest.raises(AssertionError):
        _check_against_graph(text_format.Parse(text, mc.ModelConfig()), repo / "repo" / "bilstm" / "1" / "model.onnx")
