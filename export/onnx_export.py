"""Export a `TextClassifier` checkpoint to ONNX and verify it against PyTorch.

Exporter choice: the TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`).
It is deprecated in torch 2.13 but still present, needs no extra package, and maps each
`nn.LSTM`/`nn.GRU`/`nn.RNN` onto the fused ONNX `LSTM`/`GRU`/`RNN` operator, which
onnxruntime runs as one kernel. The dynamo exporter (the 2.13 default) needs `onnxscript`
(not in requirements) and is the one DESIGN.md warns struggles with RNNs.

Packed sequences do not export, and do not need to: the model is length-aware on a padded
batch (see `rnn_demo.models`), so the traced graph reads the true last step and reverses
each sequence within its length for the backward direction:

    tokens  (B, T) int64 ─┐
    lengths (B,)   int64 ─┴─> embedding -> [RNN fwd | gather-reverse -> RNN bwd -> gather back]
                                        -> pool at real positions -> linear -> logits (B, C)
                                        (optionally also states (B, T, D*H), the last layer)

Every export is checked with `onnx.checker.check_model(full_check=True)` and then run on
onnxruntime (CPU) against PyTorch on random mixed-length batches. A max abs difference over
`PARITY_TOLERANCE` raises `ExportVerificationError` and no file is left at the output path,
unless a float64 copy of the model shows the gap is fp32 round-off (`parity_ok`): then ORT
must be within the tolerance of the float64 answer, or at most twice as far from it as
PyTorch fp32 is.

The graph is built and verified in memory and written only then, each file complete or not at
all (batch_io.NewFile); a checkpoint's own folder is never written into, and an existing file
only with overwrite=True (`check_export_target`).
"""
from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from rnn_demo import __version__ as RNN_DEMO_VERSION
from rnn_demo.checkpoint import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, Checkpoint, load_checkpoint
from rnn_demo.models import TextClassifier
from rnn_demo.tokenizer import file_sha256

from .batch_io import NewFile, OutputPathError, OutputWriteError
from .runtime import tokenizer_sidecar

OPSET = 17
INPUT_NAMES = ("tokens", "lengths")
LOGITS = "logits"
STATES = "states"
PARITY_TOLERANCE = 1e-5
ROUNDOFF_FACTOR = 2.0  # see parity_ok
METADATA_FORMAT = "rnn_demo.onnx/1"
# (batch, padded length) of the random batches every export is verified on.
VERIFY_SHAPES = ((1, 1), (1, 37), (7, 23), (64, 200))


class ExportVerificationError(RuntimeError):
    """The exported graph disagrees with PyTorch (or fails the ONNX checker)."""


class ExportTargetError(ValueError):
    """An output path an export must not write: inside a checkpoint, or an existing file without overwrite."""


def checkpoint_folder_of(path: Path) -> Path | None:
    """The checkpoint folder (one holding config.json and model.safetensors) that `path` is or
    lies in, symlinks resolved; None when there is none."""
    for folder in [path.resolve(), *path.resolve().parents]:
        if (folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).exists():
            return folder
    return None


def check_export_target(out: Path, checkpoint: Path | None, overwrite: bool, write_tokenizer: bool = True) -> None:
    """Refuse, before any work, an export that would write into a checkpoint folder (the one
    exported or any other; also with overwrite) or replace an existing file without overwrite."""
    targets = [out, tokenizer_sidecar(out)] if write_tokenizer else [out]
    for target in targets:
        inside = checkpoint_folder_of(target.parent)
        if inside is None and checkpoint is not None and checkpoint.resolve() in target.resolve().parents:
            inside = checkpoint.resolve()
        if inside is not None:
            raise ExportTargetError(f"refusing to write {target}: it is inside the checkpoint folder {inside}, "
                                    "whose files an export never writes (also with --overwrite); choose "
                                    "another --out")
        if target.is_dir():
            raise ExportTargetError(f"cannot write {target}: it is a directory")
        if (target.exists() or target.is_symlink()) and not overwrite:
            raise ExportTargetError(f"{target} exists; pass --overwrite to replace it")


class _WithStates(nn.Module):
    """forward(tokens, lengths) -> (logits, per-step states of the last layer)."""

    def __init__(self, model: TextClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor):
        states, pooled = self.model.encode(tokens, lengths)  # (B, T, D*H), (B, D*H)
        return self.model.fc(self.model.dropout(pooled)), states


@dataclass
class ExportResult:
    path: Path
    name: str
    max_abs_diff: float
    checked_batches: int
    with_states: bool
    note: str = ""

    def summary(self) -> str:
        extra = " + states" if self.with_states else ""
        return (f"{self.name}: wrote {self.path} (logits{extra}); onnx checker ok; "
                f"onnxruntime CPU vs PyTorch max abs diff {self.max_abs_diff:.2e} "
                f"over {self.checked_batches} random batches (tolerance {PARITY_TOLERANCE:g}){self.note}")


def export_metadata(ckpt: Checkpoint) -> dict[str, str]:
    """The `metadata_props` written into every exported model (all values are strings)."""
    config = ckpt.config
    return {
        "format": METADATA_FORMAT,
        "model_name": ckpt.name,
        "preset": ckpt.preset,
        "class_names": json.dumps(list(ckpt.class_names)),
        "tokenizer_sha256": file_sha256(ckpt.path / TOKENIZER_FILE),
        "weights_sha256": file_sha256(ckpt.path / WEIGHTS_FILE),
        "vocab_size": str(config.vocab_size),
        "pad_id": str(config.pad_id),
        "pooling": config.pooling,
        "config": json.dumps(config.to_dict()),
        "rnn_demo_version": RNN_DEMO_VERSION,
    }


def read_metadata(path: str | Path) -> dict[str, str]:
    """metadata_props of an .onnx file as a dict (reads the graph without weights)."""
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def _trace_export(model: nn.Module, path: Path | io.BytesIO, with_states: bool, opset: int) -> None:
    """Trace `model` into `path` (a file, or a buffer in memory)."""
    example = (torch.randint(2, 10, (3, 5), dtype=torch.long), torch.tensor([5, 3, 1], dtype=torch.long))
    outputs = [LOGITS, STATES] if with_states else [LOGITS]
    dynamic_axes = {"tokens": {0: "batch", 1: "seq"}, "lengths": {0: "batch"}, LOGITS: {0: "batch"}}
    if with_states:
        dynamic_axes[STATES] = {0: "batch", 1: "seq"}
    with warnings.catch_warnings():
        # Known, checked-harmless noise: the exporter's deprecation notice, nn.RNN's Python
        # shape checks seen by the tracer, and "batch_size other than 1 with LSTM" (the
        # initial state is built from the input's shape; parity at other batch sizes is
        # verified right after export).
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")
        torch.onnx.export(
            model, example, path if isinstance(path, io.BytesIO) else str(path), dynamo=False, opset_version=opset,
            input_names=list(INPUT_NAMES), output_names=outputs, dynamic_axes=dynamic_axes,
            do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL,
        )


def _declare_output_shapes(proto: onnx.ModelProto, model: TextClassifier) -> None:
    """Write the full output shapes into the graph (tracing leaves some widths symbolic):
    logits (batch, C), states (batch, seq, D*H); Triton configs are generated from these."""
    config = model.config
    shapes = {LOGITS: ["batch", config.num_classes], STATES: ["batch", "seq", config.state_size]}
    for output in proto.graph.output:
        dims = output.type.tensor_type.shape.dim
        for dim, want in zip(dims, shapes[output.name]):
            if isinstance(want, int):
                dim.Clear()
                dim.dim_value = want
            else:
                dim.Clear()
                dim.dim_param = want


def _random_batch(rng: np.random.Generator, batch: int, seq: int, vocab_size: int):
    tokens = rng.integers(0, vocab_size, size=(batch, seq), dtype=np.int64)
    lengths = rng.integers(1, seq + 1, size=batch, dtype=np.int64)
    lengths[rng.integers(batch)] = seq  # the padded width is a real length, as in encode_batch
    for row, n in enumerate(lengths):
        tokens[row, n:] = 0  # right padding with PAD_ID
    return tokens, lengths


def float64_arbitration(model: TextClassifier, tokens: np.ndarray, lengths: np.ndarray,
                        got: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(|ORT - exact|, |PyTorch fp32 - exact|) with `exact` from a float64 copy of the model.

    Over up to 200 recurrent steps two correct fp32 kernels drift apart by their round-off,
    accumulated in different orders (measured: a trained LSTM reading 200 steps, ORT and
    PyTorch each ~6e-6 from float64, in opposite directions, 1.05e-5 apart). This tells a
    graph that computes the same function from one that does not.
    """
    import copy

    with torch.inference_mode():
        exact = copy.deepcopy(model).double()(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
    return float(np.abs(got - exact).max()), float(np.abs(expected - exact).max())


def parity_ok(diff: float, ort_vs_exact: float | None, torch_vs_exact: float | None,
              tolerance: float = PARITY_TOLERANCE) -> bool:
    """ORT agrees with PyTorch within `tolerance`, or (where fp32 round-off alone exceeds it)
    ORT is within `tolerance` of the float64 answer or its error is of the same order as
    PyTorch fp32's own (at most ROUNDOFF_FACTOR times it). Measured on trained bilstm states
    over 200 steps: ORT 1.02e-5 and PyTorch 9.1e-6 from float64; a wrong graph is ~1e-3 off."""
    if diff <= tolerance:
        return True
    if ort_vs_exact is None or torch_vs_exact is None:
        return False
    return ort_vs_exact <= max(tolerance, ROUNDOFF_FACTOR * torch_vs_exact)


@dataclass
class Parity:
    """Worst-case numbers over the verification batches."""

    max_abs_diff: float = 0.0  # ORT vs PyTorch fp32, logits (and real-position states)
    ok: bool = True
    arbitrated: str = ""  # filled when the float64 reference had to decide

    def add(self, diff: float, model, tokens, lengths, got, expected, tolerance) -> None:
        self.max_abs_diff = max(self.max_abs_diff, diff)
        if diff <= tolerance:
            return
        ort_err, torch_err = float64_arbitration(model, tokens, lengths, got, expected)
        passed = parity_ok(diff, ort_err, torch_err, tolerance)
        self.ok = self.ok and passed
        self.arbitrated += (f" [batch {tokens.shape}: ORT-PyTorch {diff:.2e}; vs float64: ORT {ort_err:.2e}, "
                            f"PyTorch {torch_err:.2e} -> {'fp32 round-off' if passed else 'MISMATCH'}]")


def verify_against_torch(onnx_path: Path | bytes, model: TextClassifier, with_states: bool = False,
                         shapes=VERIFY_SHAPES, seed: int = 0,
                         tolerance: float = PARITY_TOLERANCE) -> tuple[Parity, int]:
    """Compare ORT-CPU with PyTorch over random mixed-length batches (see `parity_ok`); the
    model is a file or its bytes."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_path if isinstance(onnx_path, bytes) else str(onnx_path),
                                   providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    parity = Parity()
    for batch, seq in shapes:
        tokens, lengths = _random_batch(rng, batch, seq, model.config.vocab_size)
        with torch.inference_mode():
            states, pooled = model.encode(torch.from_numpy(tokens), torch.from_numpy(lengths))
            logits = model.fc(pooled).numpy()
        got = session.run(None, {"tokens": tokens, "lengths": lengths})
        parity.add(float(np.abs(got[0] - logits).max()), model, tokens, lengths, got[0], logits, tolerance)
        if with_states:
            # Only real positions are meaningful (and the lesson's last_padded reads them all).
            limit = np.full_like(lengths, seq) if model.config.pooling == "last_padded" else lengths
            real = np.arange(seq)[None, :] < limit[:, None]  # (B, T)
            diff = float(np.abs(got[1] - states.numpy())[real].max())
            parity.max_abs_diff = max(parity.max_abs_diff, diff)
            if diff > tolerance:
                import copy

                with torch.inference_mode():
                    exact = copy.deepcopy(model).double().encode(torch.from_numpy(tokens),
                                                                 torch.from_numpy(lengths))[0].numpy()
                ort_err = float(np.abs(got[1] - exact)[real].max())
                torch_err = float(np.abs(states.numpy() - exact)[real].max())
                passed = parity_ok(diff, ort_err, torch_err, tolerance)
                parity.ok = parity.ok and passed
                parity.arbitrated += (f" [states {tokens.shape}: ORT-PyTorch {diff:.2e}; vs float64: ORT "
                                      f"{ort_err:.2e}, PyTorch {torch_err:.2e} -> "
                                      f"{'fp32 round-off' if passed else 'MISMATCH'}]")
    return parity, len(shapes)


def export_checkpoint(checkpoint: str | Path | Checkpoint, out: str | Path, with_states: bool = False,
                      opset: int = OPSET, tolerance: float = PARITY_TOLERANCE,
                      write_tokenizer: bool = True, overwrite: bool = True) -> ExportResult:
    """Export one checkpoint folder to `out` (.onnx), check it, verify it; raise on any failure.

    A copy of the tokenizer is written next to it as `NAME.tokenizer.json`, so the .onnx file
    plus that sidecar is all inference needs (its sha256 is in the metadata). Nothing is written
    into a checkpoint folder, and with overwrite=False no existing file is replaced
    (ExportTargetError); each file appears complete or not at all.
    """
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    model = ckpt.model.eval()
    out = Path(out)
    check_export_target(out, ckpt.path, overwrite, write_tokenizer)
    buffer = io.BytesIO()
    # eval() on the wrapper too: the exporter restores the module's mode afterwards, and a
    # fresh wrapper is in training mode, which would switch dropout on in `model`.
    _trace_export(_WithStates(model).eval() if with_states else model, buffer, with_states, opset)
    model.eval()
    proto = onnx.load_from_string(buffer.getvalue())
    _declare_output_shapes(proto, model)
    for key, value in export_metadata(ckpt).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"rnn_demo {ckpt.name} ({ckpt.preset}): {ckpt.description}"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportVerificationError(f"{ckpt.name}: onnx checker rejected the export: {exc}") from exc
    graph = proto.SerializeToString()
    parity, batches = verify_against_torch(graph, model, with_states, tolerance=tolerance)
    if not parity.ok or not np.isfinite(parity.max_abs_diff):
        raise ExportVerificationError(
            f"{ckpt.name}: onnxruntime CPU differs from PyTorch by {parity.max_abs_diff:.3e} "
            f"(> {tolerance:g}){parity.arbitrated}; refusing to write {out}")
    files = [(out, graph)]
    if write_tokenizer:
        files.insert(0, (tokenizer_sidecar(out), (ckpt.path / TOKENIZER_FILE).read_bytes()))
    _write_all(files, overwrite)
    return ExportResult(path=out, name=ckpt.name, max_abs_diff=parity.max_abs_diff, checked_batches=batches,
                        with_states=with_states, note=parity.arbitrated)


def _write_all(files: list[tuple[Path, bytes]], overwrite: bool) -> None:
    """Each file complete or not at all; when one fails, those this call created are removed."""
    created: list[Path] = []
    try:
        for path, data in files:
            existed = path.exists()
            new = NewFile(path, overwrite, binary=True)
            try:
                new.file.write(data)
            except OSError as exc:
                new.discard()
                raise OutputWriteError(f"cannot write {path}: {exc.strerror or exc}; it was not written") from exc
            new.commit()
            if not existed:
                created.append(path)
    except (OutputPathError, OutputWriteError) as exc:
        for path in created:
            path.unlink(missing_ok=True)
        raise ExportTargetError(str(exc)) from exc
