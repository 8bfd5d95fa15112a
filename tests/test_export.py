"""ONNX export: graph contract, metadata, self-verification, parity and batched == one-by-one."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from export import onnx_export
from export.__main__ import main as export_main
from export.onnx_export import (PARITY_TOLERANCE, ExportVerificationError, export_checkpoint, float64_arbitration,
                                parity_ok, read_metadata)
from export.runtime import tokenizer_sidecar
from rnn_demo import CLASS_NAMES
from rnn_demo.checkpoint import CheckpointError, discover_checkpoints, load_checkpoint, save_checkpoint
from rnn_demo.models import PRESETS, TextClassifier, preset_config
from rnn_demo.tokenizer import PAD_ID, Vocab, file_sha256

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [p.name for p in discover_checkpoints(ROOT / "checkpoints")]
# The lesson's LSTM reads the state after the padding steps on purpose (pooling last_padded),
# so its answer for a headline depends on how far the batch pads it: batched != one-by-one
# is the behaviour being taught. Parity with PyTorch at equal padding still holds for it.
PADDING_DEPENDENT = {name for name, (cfg, _) in PRESETS.items() if cfg.get("pooling") == "last_padded"}


def load_retry(path: Path, tries: int = 10):
    """Checkpoints may be rewritten by a training run while tests run: retry briefly."""
    for attempt in range(tries):
        try:
            return load_checkpoint(path)
        except CheckpointError:
            if attempt == tries - 1:
                raise
            time.sleep(3)


def random_checkpoint(root: Path, preset: str, vocab_size: int = 300, seed: int = 0) -> Path:
    """A freshly initialised model of `preset` saved as a real checkpoint folder."""
    torch.manual_seed(seed)
    vocab = Vocab(("<pad>", "<unk>", *[f"w{i}" for i in range(vocab_size - 2)]))
    model = TextClassifier(preset_config(preset, vocab_size=vocab_size)).eval()
    return save_checkpoint(root / preset, model, vocab, preset, metrics={"note": "random weights"})


def padded_batch(rng: np.random.Generator, lengths: list[int], vocab_size: int, seq: int | None = None):
    seq = seq or max(lengths)
    tokens = np.full((len(lengths), seq), PAD_ID, dtype=np.int64)
    for row, n in enumerate(lengths):
        tokens[row, :n] = rng.integers(1, vocab_size, size=n)
    return tokens, np.array(lengths, dtype=np.int64)


def parity_lengths(rng: np.random.Generator, batch: int) -> list[int]:
    """Random lengths in 1..200 that include both ends when the batch has room."""
    lengths = rng.integers(1, 201, size=batch).tolist()
    lengths[0] = 200
    if batch > 1:
        lengths[1] = 1
    return lengths


@pytest.fixture(scope="module")
def shipped_exports(tmp_path_factory):
    """name -> (Checkpoint, path of its verified export), exported once per test module."""
    out = tmp_path_factory.mktemp("exports")
    result = {}
    for name in SHIPPED:
        ckpt = load_retry(ROOT / "checkpoints" / name)
        result[name] = (ckpt, export_checkpoint(ckpt, out / f"{name}.onnx").path)
    return result


@pytest.fixture(scope="module")
def random_exports(tmp_path_factory):
    """preset -> (Checkpoint, export) for every preset, so coverage does not depend on what is shipped."""
    root = tmp_path_factory.mktemp("random")
    result = {}
    for index, preset in enumerate(PRESETS):
        ckpt = load_checkpoint(random_checkpoint(root / "ckpt", preset, seed=index))
        result[preset] = (ckpt, export_checkpoint(ckpt, root / "onnx" / f"{preset}.onnx").path)
    return result


def cpu_session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_every_preset_is_shipped_or_reported():
    # Not a failure when the lead has not shipped everything yet, but make the gap visible.
    missing = sorted(set(PRESETS) - set(SHIPPED))
    if missing:
        pytest.skip(f"checkpoints not shipped (yet): {', '.join(missing)}")


@pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints under checkpoints/")
@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_shipped_parity_with_pytorch(shipped_exports, name, batch):
    ckpt, path = shipped_exports[name]
    session = cpu_session(path)
    rng = np.random.default_rng(batch)
    cases = [[1], [200], rng.integers(1, 201, size=1).tolist()] if batch == 1 else [parity_lengths(rng, batch)]
    for lengths in cases:
        tokens, lens = padded_batch(rng, lengths, ckpt.config.vocab_size)
        with torch.inference_mode():
            expected = ckpt.model(torch.from_numpy(tokens), torch.from_numpy(lens)).numpy()
        got = session.run(["logits"], {"tokens": tokens, "lengths": lens})[0]
        assert got.shape == expected.shape == (batch, len(ckpt.class_names))
        diff = float(np.abs(got - expected).max())
        if diff <= PARITY_TOLERANCE:
            continue
        # Over 200 steps fp32 round-off of two correct kernels can add up past 1e-5 (see
        # export.onnx_export.parity_ok): then ORT's error must be of the order of PyTorch's own.
        ort_err, torch_err = float64_arbitration(ckpt.model, tokens, lens, got, expected)
        assert parity_ok(diff, ort_err, torch_err), (
            f"{name} batch {batch}: ORT-PyTorch {diff:.3e}; vs float64 ORT {ort_err:.3e}, PyTorch {torch_err:.3e}")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_random_model_parity_with_pytorch(random_exports, preset):
    ckpt, path = random_exports[preset]
    rng = np.random.default_rng(1)
    tokens, lens = padded_batch(rng, parity_lengths(rng, 64), ckpt.config.vocab_size)
    with torch.inference_mode():
        expected = ckpt.model(torch.from_numpy(tokens), torch.from_numpy(lens)).numpy()
    got = cpu_session(path).run(["logits"], {"tokens": tokens, "lengths": lens})[0]
    assert float(np.abs(got - expected).max()) <= PARITY_TOLERANCE


def _batched_vs_single(ckpt, path, seed=0) -> float:
    """Max |batched - one-by-one| in ONNX: each headline alone is run unpadded (seq = its length)."""
    session = cpu_session(path)
    rng = np.random.default_rng(seed)
    lengths = [1, 2, 5, 17, 40, 3, 60]
    tokens, lens = padded_batch(rng, lengths, ckpt.config.vocab_size, seq=64)  # extra padding for all
    batched = session.run(["logits"], {"tokens": tokens, "lengths": lens})[0]
    worst = 0.0
    for row, n in enumerate(lengths):
        alone = session.run(["logits"], {"tokens": tokens[row:row + 1, :n], "lengths": lens[row:row + 1]})[0]
        worst = max(worst, float(np.abs(alone[0] - batched[row]).max()))
    return worst


@pytest.mark.parametrize("preset", [p for p in PRESETS if p not in PADDING_DEPENDENT])
def test_batched_equals_one_by_one_random(random_exports, preset):
    ckpt, path = random_exports[preset]
    assert _batched_vs_single(ckpt, path) <= PARITY_TOLERANCE


@pytest.mark.parametrize("name", [n for n in SHIPPED if n not in PADDING_DEPENDENT])
def test_batched_equals_one_by_one_shipped(shipped_exports, name):
    ckpt, path = shipped_exports[name]
    assert _batched_vs_single(ckpt, path) <= PARITY_TOLERANCE


@pytest.mark.parametrize("preset", sorted(PADDING_DEPENDENT))
def test_padding_dependent_model_really_differs(random_exports, preset):
    # Why lesson-lstm is excluded above: the check is sharp enough to see padding leak in.
    ckpt, path = random_exports[preset]
    assert _batched_vs_single(ckpt, path) > 1e-4


def test_graph_contract_and_metadata(random_exports):
    ckpt, path = random_exports["bilstm"]
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert list(inputs) == ["tokens", "lengths"]
    assert inputs["tokens"].elem_type == inputs["lengths"].elem_type == onnx.TensorProto.INT64
    # dynamic batch and sequence axes are symbolic, not baked-in numbers
    assert [d.dim_param for d in inputs["tokens"].shape.dim] == ["batch", "seq"]
    assert [d.dim_param for d in inputs["lengths"].shape.dim] == ["batch"]
    assert [o.name for o in model.graph.output] == ["logits"]
    meta = read_metadata(path)
    assert json.loads(meta["class_names"]) == list(ckpt.class_names) == list(CLASS_NAMES)
    assert meta["model_name"] == ckpt.name == "bilstm"
    assert meta["tokenizer_sha256"] == file_sha256(ckpt.path / "tokenizer.json")
    assert int(meta["vocab_size"]) == ckpt.config.vocab_size
    assert tokenizer_sidecar(path).read_bytes() == (ckpt.path / "tokenizer.json").read_bytes()


def test_states_output_matches_encode(tmp_path, random_exports):
    ckpt, _ = random_exports["bilstm-2layer"]
    path = export_checkpoint(ckpt, tmp_path / "s.onnx", with_states=True).path
    # regression: the exporter restores the (training-mode) wrapper's mode, which once left dropout on
    assert not any(m.training for m in ckpt.model.modules())
    rng = np.random.default_rng(3)
    tokens, lens = padded_batch(rng, [9, 1, 30], ckpt.config.vocab_size)
    logits, states = cpu_session(path).run(["logits", "states"], {"tokens": tokens, "lengths": lens})
    with torch.inference_mode():
        ref_states, _ = ckpt.model.encode(torch.from_numpy(tokens), torch.from_numpy(lens))
    assert states.shape == (3, 30, ckpt.config.state_size)
    for row, n in enumerate(lens):  # only real positions are defined
        assert np.abs(states[row, :n] - ref_states[row, :n].numpy()).max() <= PARITY_TOLERANCE


def test_export_fails_loudly_when_graph_disagrees(tmp_path, monkeypatch, random_exports):
    """Export a subtly different model than the one verified: the self-check must refuse it."""
    ckpt, _ = random_exports["lesson-lstm-packed"]
    real_trace = onnx_export._trace_export

    def tampered(model, path, with_states, opset):
        import copy
        broken = copy.deepcopy(model)
        with torch.no_grad():
            broken.fc.bias += 1e-3
        real_trace(broken, path, with_states, opset)

    monkeypatch.setattr(onnx_export, "_trace_export", tampered)
    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportVerificationError, match="differs from PyTorch"):
        export_checkpoint(ckpt, out)
    assert not out.exists() and not list(tmp_path.iterdir()), "an unverified export was left behind"


def test_cli_exports_one_and_all(tmp_path, capsys):
    ckpts = tmp_path / "ckpts"
    random_checkpoint(ckpts, "lesson-rnn")
    random_checkpoint(ckpts, "gru", seed=1)
    out = tmp_path / "one" / "x.onnx"
    assert export_main(["--checkpoint", str(ckpts / "gru"), "--out", str(out)]) == 0
    assert out.is_file() and read_metadata(out)["model_name"] == "gru"
    assert export_main(["--all", "--checkpoints-dir", str(ckpts), "--out-dir", str(tmp_path / "all")]) == 0
    assert sorted(p.name for p in (tmp_path / "all").glob("*.onnx")) == ["gru.onnx", "lesson-rnn.onnx"]
    assert "max abs diff" in capsys.readouterr().out
    assert export_main([]) == 2
    assert export_main(["--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "n.onnx")]) == 1


def test_parity_rule_rejects_real_mismatch():
    # The float64 arbitration only forgives round-off of PyTorch's own order: an error several
    # times PyTorch fp32's (or a plain 1e-3 error) still fails.
    assert parity_ok(5e-6, None, None)
    assert not parity_ok(2e-5, None, None)
    assert parity_ok(1.05e-5, 5.7e-6, 7.3e-6)
    assert parity_ok(1.65e-5, 1.02e-5, 9.1e-6)
    assert not parity_ok(1e-4, 5e-5, 9e-6)
    assert not parity_ok(1e-3, 1e-3, 7e-6)


def test_cli_never_overwrites_and_never_writes_into_a_checkpoint(tmp_path, capsys):
    """`--out checkpoints/gru/model.safetensors` once replaced the weights with ONNX bytes, and
    an existing .onnx was replaced without --overwrite."""
    ckpts = tmp_path / "ckpts"
    random_checkpoint(ckpts, "gru", seed=1)
    gru = ckpts / "gru"
    before = {p.name: p.read_bytes() for p in gru.iterdir()}
    out = tmp_path / "x.onnx"
    args = ["--checkpoint", str(gru), "--out", str(out)]
    assert export_main(args) == 0
    capsys.readouterr()
    out.write_bytes(b"precious")
    assert export_main(args) == 2
    assert f"{out} exists; pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"precious"
    out.unlink()
    assert export_main(args) == 2  # the tokenizer beside it still exists
    assert f"{tokenizer_sidecar(out)} exists" in capsys.readouterr().err and not out.exists()
    assert export_main([*args, "--overwrite"]) == 0 and read_metadata(out)["model_name"] == "gru"
    (tmp_path / "link").symlink_to(gru)
    for target in (gru / "model.safetensors", gru / "config.json", gru / "new.onnx", gru / "sub" / "x.onnx",
                   tmp_path / "link" / "x.onnx"):
        for extra in ([], ["--overwrite"]):
            assert export_main(["--checkpoint", str(gru), "--out", str(target), *extra]) == 2
            err = capsys.readouterr().err
            assert f"it is inside the checkpoint folder {gru.resolve()}" in err and "nothing was exported" in err
    assert export_main(["--all", "--checkpoints-dir", str(ckpts), "--out-dir", str(gru), "--overwrite"]) == 2
    assert export_main(["--triton", str(ckpts), "--checkpoints-dir", str(ckpts), "--overwrite"]) == 2
    assert "inside the checkpoint folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in gru.iterdir()} == before, "the checkpoint's files are untouched"
    repo = tmp_path / "triton"
    assert export_main(["--triton", str(repo), "--checkpoints-dir", str(ckpts)]) == 0
    assert export_main(["--triton", str(repo), "--checkpoints-dir", str(ckpts)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert export_main(["--triton", str(repo), "--checkpoints-dir", str(ckpts), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpts", "link", "triton", "x.onnx", "x.tokenizer.json"]
