"""onnxruntime wrapper: input errors, honest provider reporting, predictor parity, torch-free use."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export import runtime
from export.onnx_export import PARITY_TOLERANCE, export_checkpoint
from export.runtime import (CPU, CUDA, OnnxModel, OnnxPredictor, ProviderUnavailableError, RuntimeInputError,
                            encode_batch_np)
from rnn_demo.checkpoint import CheckpointError, discover_checkpoints, load_checkpoint, save_checkpoint
from rnn_demo.models import TextClassifier, preset_config
from rnn_demo.predict import TorchPredictor
from rnn_demo.tokenizer import Vocab
from rnn_demo.fast_tokenizer import encode_batch

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [p.name for p in discover_checkpoints(ROOT / "checkpoints")]
HEADLINES = [
    "Stocks fall as oil prices climb to a record high",
    "Yankees beat Red Sox 5-3 in extra innings",
    "New chip promises to double laptop battery life",
    "UN envoy urges ceasefire talks in the region",
    "",  # empty: becomes a single <unk>
    "A very long headline " * 30,  # longer than max_len: truncated the same way in both
]


def _words(n: int) -> list[str]:
    return [f"w{i}" for i in range(n)]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A random bidirectional model exported with its tokenizer sidecar: (checkpoint, onnx path)."""
    root = tmp_path_factory.mktemp("rt")
    torch.manual_seed(0)
    vocab = Vocab(("<pad>", "<unk>", "stocks", "fall", "yankees", "win", *_words(94)))
    model = TextClassifier(preset_config("bilstm", vocab_size=len(vocab))).eval()
    folder = save_checkpoint(root / "bilstm", model, vocab, "bilstm", metrics={})
    ckpt = load_checkpoint(folder)
    return ckpt, export_checkpoint(ckpt, root / "exports" / "bilstm.onnx").path


def _cuda_works(path: Path) -> bool:
    try:
        return OnnxModel(path, device="cuda").device == "cuda"
    except ProviderUnavailableError:
        return False


@pytest.fixture(scope="module")
def gpu(small) -> bool:
    works = _cuda_works(small[1])
    if not works and os.environ.get("RNN_DEMO_REQUIRE_GPU") == "1":  # bench/gpu_check.sh: CUDA tests must run
        pytest.fail("RNN_DEMO_REQUIRE_GPU=1 but onnxruntime cannot use CUDA here: "
                    + str(runtime._cuda_load_error() or "no CUDAExecutionProvider"))
    return works


# -- input validation ---------------------------------------------------------------------
@pytest.mark.parametrize("tokens, lengths, message", [
    (np.ones((2, 3), np.int32), np.array([3, 1]), "tokens must be an int64"),
    (np.ones((2, 3), np.float32), np.array([3, 1]), "tokens must be an int64"),
    (np.ones(3, np.int64), np.array([3]), r"shape \(batch, seq\)"),
    (np.ones((2, 3), np.int64), np.array([3, 1], np.int32), "lengths must be an int64"),
    (np.ones((2, 3), np.int64), np.array([3], np.int64), r"shape \(2,\)"),
    (np.ones((2, 3), np.int64), np.array([3, 0], np.int64), r"length 0 is invalid: lengths must be in 1\.\.3"),
    (np.ones((2, 3), np.int64), np.array([4, 1], np.int64), r"length 4 is invalid: lengths must be in 1\.\.3"),
    (np.full((2, 3), 100, np.int64), np.array([3, 1], np.int64), r"token id 100 is outside the vocabulary.*0\.\.99"),
    (np.full((2, 3), -1, np.int64), np.array([3, 1], np.int64), "token id -1 is outside the vocabulary"),
])
def test_bad_inputs_raise_clear_errors(small, tokens, lengths, message):
    model = OnnxModel(small[1], device="cpu")
    with pytest.raises(RuntimeInputError, match=message):
        model.logits(tokens, lengths)


def test_torch_tensors_are_rejected_not_silently_converted(small):
    model = OnnxModel(small[1], device="cpu")
    with pytest.raises(RuntimeInputError, match="numpy array"):
        model.logits(torch.ones(1, 2, dtype=torch.long), np.array([2]))


def test_valid_edge_inputs_run(small):
    model = OnnxModel(small[1], device="cpu")
    tokens = np.array([[99, 0, 0], [2, 3, 4]], np.int64)  # largest id; length 1 and length == seq
    assert model.logits(tokens, np.array([1, 3], np.int64)).shape == (2, 4)


# -- providers ----------------------------------------------------------------------------
def test_cpu_request_reports_cpu(small):
    model = OnnxModel(small[1], device="cpu")
    assert model.providers == (CPU,) and model.device == "cpu" and model.fallback_reason is None
    assert "on CPUExecutionProvider" in model.describe()


def test_unknown_device_is_rejected(small):
    with pytest.raises(ValueError, match="allowed: auto, cpu, cuda"):
        OnnxModel(small[1], device="gpu")


def test_raw_session_with_unusable_cuda_reports_cpu_only(small, gpu):
    """The onnxruntime behaviour the wrapper guards against: CUDA listed, session quietly on CPU."""
    if gpu:
        pytest.skip("CUDA works here; the silent-fallback case cannot be observed")
    if CUDA not in ort.get_available_providers():
        pytest.skip("this onnxruntime build does not list CUDA at all")
    session = ort.InferenceSession(str(small[1]), providers=[CUDA, CPU])
    assert session.get_providers() == [CPU]


def test_auto_falls_back_and_says_so(small, gpu):
    if gpu:
        pytest.skip("CUDA works here")
    model = OnnxModel(small[1], device="auto")
    assert model.provider == CPU and model.providers == (CPU,) and model.device == "cpu"
    assert model.fallback_reason, "a fallback must carry its reason"
    text = model.describe()
    assert "on CPUExecutionProvider" in text and "fell back to CPU" in text
    assert "on CUDAExecutionProvider" not in text


def test_explicit_cuda_without_gpu_raises(small, gpu):
    if gpu:
        pytest.skip("CUDA works here")
    with pytest.raises(ProviderUnavailableError, match="device='cuda' requested"):
        OnnxModel(small[1], device="cuda")


def test_cpu_only_build_reason(small, monkeypatch):
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: [CPU])
    model = OnnxModel(small[1], device="auto")
    assert model.provider == CPU and "does not list CUDAExecutionProvider" in model.fallback_reason


def test_cuda_parity_tf32_off(small, gpu):
    if not gpu:
        pytest.skip("no usable CUDA GPU")
    ckpt, path = small
    cuda, cpu = OnnxModel(path, device="cuda", iobinding_min_batch=10**9), OnnxModel(path, device="cpu")
    assert cuda.providers[0] == CUDA and not cuda.use_tf32
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 201, size=64).astype(np.int64)
    tokens = rng.integers(0, 100, size=(64, 200)).astype(np.int64)
    with torch.inference_mode():
        ref = ckpt.model(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
    assert np.abs(cuda.logits(tokens, lengths) - ref).max() <= PARITY_TOLERANCE
    assert np.abs(cpu.logits(tokens, lengths) - ref).max() <= PARITY_TOLERANCE


def test_cuda_iobinding_matches_plain_run(small, gpu):
    if not gpu:
        pytest.skip("no usable CUDA GPU")
    path = small[1]
    plain, bound = OnnxModel(path, device="cuda", iobinding_min_batch=10**9), OnnxModel(path, device="cuda",
                                                                                         iobinding_min_batch=1)
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 100, size=(512, 48)).astype(np.int64)
    lengths = rng.integers(1, 49, size=512).astype(np.int64)
    assert np.abs(bound.logits(tokens, lengths) - plain.logits(tokens, lengths)).max() <= 1e-6


def test_iobinding_code_path_on_cpu(small):
    """The IOBinding path (used for big CUDA batches) exercised on the CPU, where it can run here."""
    model = OnnxModel(small[1], device="cpu")
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 100, size=(300, 20)).astype(np.int64)
    lengths = rng.integers(1, 21, size=300).astype(np.int64)
    bound = model._run_iobinding(tokens, lengths, ["logits"])[0]
    np.testing.assert_array_equal(bound, model.logits(tokens, lengths))


# -- predictor ----------------------------------------------------------------------------
def test_encode_batch_np_matches_torch_version(small):
    vocab = small[0].vocab
    texts = HEADLINES + ["stocks fall", "yankees win yankees win"]
    for max_len in (None, 5, 200):
        tokens, lengths = encode_batch_np(vocab, texts, max_len)
        ref_tokens, ref_lengths = encode_batch(vocab, texts, max_len)
        assert tokens.dtype == lengths.dtype == np.int64
        np.testing.assert_array_equal(tokens, ref_tokens.numpy())
        np.testing.assert_array_equal(lengths, ref_lengths.numpy())


def test_predictor_uses_sidecar_or_checkpoint_and_rejects_stale_tokenizer(small, tmp_path):
    ckpt, path = small
    a = OnnxPredictor(path, device="cpu")
    b = OnnxPredictor(path, ckpt.path, device="cpu")
    c = OnnxPredictor(path, ckpt.path / "tokenizer.json", device="cpu")
    assert a.name == "bilstm" and a.class_names == ckpt.class_names and a.provider == CPU
    np.testing.assert_array_equal(a.predict_proba(HEADLINES), b.predict_proba(HEADLINES))
    np.testing.assert_array_equal(a.predict_proba(HEADLINES), c.predict_proba(HEADLINES))
    assert a.predict_proba([]).shape == (0, 4)
    stale = tmp_path / "tokenizer.json"
    Vocab(tuple(ckpt.vocab.tokens[:-1]) + ("other",)).save(stale)
    with pytest.raises(ValueError, match="sha256 differs"):
        OnnxPredictor(path, stale, device="cpu")


def _load_retry(path: Path):
    for attempt in range(10):
        try:
            return load_checkpoint(path)
        except CheckpointError:
            if attempt == 9:
                raise
            time.sleep(3)


@pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints")
@pytest.mark.parametrize("name", SHIPPED)
def test_onnx_predictor_matches_torch_predictor(tmp_path, name):
    ckpt = _load_retry(ROOT / "checkpoints" / name)
    path = export_checkpoint(ckpt, tmp_path / f"{name}.onnx").path
    onnx_pred, torch_pred = OnnxPredictor(path, ckpt.path, device="cpu"), TorchPredictor(ckpt)
    got, expected = onnx_pred.predict_proba(HEADLINES), torch_pred.predict_proba(HEADLINES)
    assert got.dtype == np.float32 and got.shape == expected.shape == (len(HEADLINES), len(ckpt.class_names))
    assert np.abs(got - expected).max() <= PARITY_TOLERANCE
    assert onnx_pred.class_names == torch_pred.class_names


def test_runtime_and_classify_import_without_torch(small):
    """A deployment can serve the exports with onnxruntime + numpy alone."""
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None\n"
        "from export.runtime import OnnxPredictor\n"
        "import export.classify\n"
        f"p = OnnxPredictor({str(small[1])!r}, device='cpu')\n"
        "print(p.predict_proba(['stocks fall']).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 4)"


def test_bench_smoke(tmp_path, small, capsys):
    """The benchmark runs end to end on a tiny model and its JSON is self-consistent."""
    from export import bench

    out = tmp_path / "bench.json"
    code = bench.main(["--checkpoints-dir", str(small[0].path.parent), "--batch-sizes", "1,3", "--seq-len", "5",
                       "--min-time", "0", "--threads", "1", "--no-cuda", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    rows = result["results"]
    assert {(r["backend"], r["batch"]) for r in rows} == {(b, n) for b in ("pytorch-cpu", "ort-cpu") for n in (1, 3)}
    for s in result["speedups"]:
        ort_row = next(r for r in rows if r["backend"] == "ort-cpu" and r["batch"] == s["batch"])
        torch_row = next(r for r in rows if r["backend"] == "pytorch-cpu" and r["batch"] == s["batch"])
        assert s["speedup_vs_pytorch_cpu"] == pytest.approx(ort_row["headlines_per_s"] / torch_row["headlines_per_s"])
    assert result["machine"]["logical_cpus"] >= 1 and "| bilstm |" in capsys.readouterr().out.replace("  ", " ")
