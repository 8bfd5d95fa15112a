"""onnxruntime sessions for exported classifiers: CUDA when it really works, CPU otherwise.

This module imports neither torch nor onnx, so a deployment can serve the exported models
with onnxruntime + numpy alone.

Provider honesty: `onnxruntime-gpu` lists `CUDAExecutionProvider` in
`get_available_providers()` even when libcudart/cuDNN or the GPU are missing; a session asked
for CUDA then quietly runs on the CPU. `OnnxModel.provider` is therefore read back from
`session.get_providers()` after the session exists (and after one tiny test run), never from
what was requested. `device="cuda"` raises `ProviderUnavailableError` instead of falling back;
`device="auto"` falls back to CPU and keeps the reason in `fallback_reason`.

GPU numerics: TF32 is off by default (`use_tf32=False` -> CUDA provider option use_tf32=0),
which keeps fp32 parity with PyTorch on the CPU (TF32 gives ~1e-4 differences). Batches of at
least `iobinding_min_batch` rows on CUDA run through IOBinding (inputs copied to the device
once, outputs bound on the device, one copy back).
"""
from __future__ import annotations

import contextlib
import ctypes
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort

from rnn_demo.tokenizer import Vocab, file_sha256

from rnn_demo.fast_tokenizer import encode_batch_np

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_MAX_LEN = 200  # same truncation as rnn_demo.predict.TorchPredictor
IOBINDING_MIN_BATCH = 256


class RuntimeInputError(ValueError):
    """Inputs the exported model cannot read correctly (same rules as TextClassifier.check_inputs)."""


class ProviderUnavailableError(RuntimeError):
    """CUDA was requested explicitly but onnxruntime cannot run on it here."""


def tokenizer_sidecar(onnx_path: str | Path) -> Path:
    """exports/NAME.onnx -> exports/NAME.tokenizer.json (the vocabulary the model reads)."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(onnx_path.stem + ".tokenizer.json")


def cuda_listed() -> bool:
    """True when this onnxruntime build lists CUDA (which says nothing about whether it works)."""
    return CUDA in ort.get_available_providers()


def _cuda_load_error() -> str:
    """Why the CUDA provider library cannot be loaded, if that is the reason (else '')."""
    lib = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    if not lib.is_file():
        return "this onnxruntime build has no CUDA provider library"
    try:
        ctypes.CDLL(str(lib))
    except OSError as exc:
        return f"the CUDA provider library does not load ({exc})"
    return ""


@contextlib.contextmanager
def _quiet_ort_logging():
    """Silence onnxruntime's own CUDA-load error spam; the fallback reason is reported by us."""
    ort.set_default_logger_severity(4)
    try:
        yield
    finally:
        ort.set_default_logger_severity(2)


def session_options(threads: int | None = None, spinning: bool = False) -> ort.SessionOptions:
    """Session options used everywhere: full graph optimisation, sequential execution.

    threads: intra-op threads; None leaves onnxruntime's default (one per physical core).
    spinning: let idle pool threads busy-wait. Off by default: on a small shared CPU (the
    app, a training run) spinning threads steal the cores they wait for, and a batch takes longer.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


def softmax(logits: np.ndarray) -> np.ndarray:
    """(n, C) logits -> (n, C) float32 probabilities (numerically stable)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class OnnxModel:
    """One exported classifier on onnxruntime: validated inputs, honest provider, logits out."""

    def __init__(self, path: str | Path, device: str = "auto", *, threads: int | None = None,
                 use_tf32: bool = False, iobinding_min_batch: int = IOBINDING_MIN_BATCH,
                 device_id: int = 0) -> None:
        if device not in DEVICES:
            raise ValueError(f"unknown device {device!r}; allowed: {', '.join(DEVICES)}")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: ONNX model not found (run `python -m export --all`)")
        self.requested = device
        self.device_id = device_id
        self.use_tf32 = use_tf32
        self.iobinding_min_batch = iobinding_min_batch
        self.fallback_reason: str | None = None
        options = session_options(threads)
        self.session = self._open(options, device)
        self.providers = tuple(self.session.get_providers())
        self.provider = self.providers[0]
        self.device = "cuda" if self.provider == CUDA else "cpu"

        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = dict(meta)
        self.name = meta.get("model_name", self.path.stem)
        self.class_names = tuple(json.loads(meta["class_names"])) if "class_names" in meta else None
        self.tokenizer_sha256 = meta.get("tokenizer_sha256")
        self.pooling = meta.get("pooling")
        self.vocab_size = int(meta["vocab_size"]) if "vocab_size" in meta else None
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        if self.input_names != ("tokens", "lengths"):
            raise ValueError(f"{self.path}: expected inputs (tokens, lengths), found {self.input_names}")

    # -- session --------------------------------------------------------------------------
    def _open(self, options: ort.SessionOptions, device: str) -> ort.InferenceSession:
        cpu_only = [CPU]
        if device == "cpu":
            return ort.InferenceSession(str(self.path), options, providers=cpu_only)
        if not cuda_listed():
            reason = f"onnxruntime {ort.__version__} does not list {CUDA} (CPU-only build)"
            return self._fallback(options, device, reason)
        cuda = (CUDA, {"device_id": str(self.device_id), "use_tf32": "1" if self.use_tf32 else "0"})
        try:
            with _quiet_ort_logging():
                session = ort.InferenceSession(str(self.path), options, providers=[cuda, CPU])
        except Exception as exc:  # noqa: BLE001 - any CUDA init failure means "not usable"
            return self._fallback(options, device, f"creating a CUDA session failed ({exc})")
        if session.get_providers()[0] != CUDA:
            reason = _cuda_load_error() or "onnxruntime could not create the CUDA provider (no usable GPU?)"
            return self._fallback(options, device, f"{CUDA} is listed but not usable: {reason}", session)
        try:  # one tiny run: a provider that is created but cannot execute is not "working"
            session.run(None, {"tokens": np.zeros((1, 1), np.int64), "lengths": np.ones(1, np.int64)})
        except Exception as exc:  # noqa: BLE001
            return self._fallback(options, device, f"a test run on CUDA failed ({exc})")
        return session

    def _fallback(self, options, device, reason, session=None) -> ort.InferenceSession:
        if device == "cuda":
            raise ProviderUnavailableError(f"device='cuda' requested but {reason}")
        self.fallback_reason = reason
        if session is not None and session.get_providers() == [CPU]:
            return session
        return ort.InferenceSession(str(self.path), options, providers=[CPU])

    def describe(self) -> str:
        """One line for logs: model, the provider really in use, and why, if it is a fallback."""
        text = f"{self.name}: onnxruntime {ort.__version__} on {self.provider}"
        if self.device == "cuda":
            text += f" (device {self.device_id}, TF32 {'on' if self.use_tf32 else 'off'})"
        if self.fallback_reason:
            text += f" - fell back to CPU: {self.fallback_reason}"
        return text

    # -- inference ------------------------------------------------------------------------
    def check_inputs(self, tokens, lengths) -> None:
        """Raise RuntimeInputError for inputs the model cannot read (rules of TextClassifier.check_inputs)."""
        if not isinstance(tokens, np.ndarray) or tokens.ndim != 2 or tokens.dtype != np.int64:
            raise RuntimeInputError(f"tokens must be an int64 numpy array of shape (batch, seq), got "
                                    f"{_describe_array(tokens)}")
        if not isinstance(lengths, np.ndarray) or lengths.shape != tokens.shape[:1] or lengths.dtype != np.int64:
            raise RuntimeInputError(f"lengths must be an int64 numpy array of shape ({tokens.shape[0]},), got "
                                    f"{_describe_array(lengths)}")
        if tokens.size and self.vocab_size is not None:
            low, high = int(tokens.min()), int(tokens.max())
            if low < 0 or high >= self.vocab_size:
                bad = low if low < 0 else high
                raise RuntimeInputError(f"token id {bad} is outside the vocabulary: ids must be in "
                                        f"0..{self.vocab_size - 1}")
        if lengths.size:
            low, high = int(lengths.min()), int(lengths.max())
            if low < 1 or high > tokens.shape[1]:
                bad = low if low < 1 else high
                raise RuntimeInputError(f"length {bad} is invalid: lengths must be in 1..{tokens.shape[1]} "
                                        f"(the padded sequence length)")

    def close(self) -> None:
        """Free the onnxruntime session and its memory (e.g. where only worker processes run the
        model); `run` raises afterwards."""
        self.session = None

    def run(self, tokens: np.ndarray, lengths: np.ndarray, outputs: Sequence[str] | None = None) -> list[np.ndarray]:
        """Validated run; returns the requested outputs (default all) as numpy arrays on the host."""
        if self.session is None:
            raise RuntimeError(f"{self.name}: the onnxruntime session was closed")
        self.check_inputs(tokens, lengths)
        names = list(outputs) if outputs is not None else list(self.output_names)
        if self.device == "cuda" and tokens.shape[0] >= self.iobinding_min_batch:
            return self._run_iobinding(tokens, lengths, names)
        return self.session.run(names, {"tokens": tokens, "lengths": lengths})

    def _run_iobinding(self, tokens, lengths, names) -> list[np.ndarray]:
        """Inputs copied to the session's device once, outputs bound there, one copy back."""
        device = "cuda" if self.device == "cuda" else "cpu"
        binding = self.session.io_binding()
        values = [ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(a), device, self.device_id)
                  for a in (tokens, lengths)]  # kept referenced until the run is done
        for name, value in zip(("tokens", "lengths"), values):
            binding.bind_ortvalue_input(name, value)
        for name in names:
            binding.bind_output(name, device, self.device_id)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    def logits(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(B, T), (B,) int64 -> (B, C) float32 logits."""
        return self.run(tokens, lengths, ["logits"])[0]


def _describe_array(x) -> str:
    if isinstance(x, np.ndarray):
        return f"shape {x.shape} dtype {x.dtype}"
    return f"{type(x).__name__}"


def _resolve_tokenizer(model_path: Path, tokenizer: str | Path | None) -> Path:
    if tokenizer is None:
        return tokenizer_sidecar(model_path)
    tokenizer = Path(tokenizer)
    return tokenizer / "tokenizer.json" if tokenizer.is_dir() else tokenizer


class OnnxPredictor:
    """`rnn_demo.predict.Predictor` on onnxruntime: texts -> (n, C) float32 probabilities.

    OnnxPredictor("exports/bilstm.onnx")                        # tokenizer: exports/bilstm.tokenizer.json
    OnnxPredictor("exports/bilstm.onnx", "checkpoints/bilstm")  # or a checkpoint folder / tokenizer.json
    The tokenizer's sha256 must match the one recorded at export time (a stale export is an error).
    """

    def __init__(self, model_path: str | Path, tokenizer: str | Path | None = None, *, device: str = "auto",
                 max_len: int = DEFAULT_MAX_LEN, threads: int | None = None, use_tf32: bool = False) -> None:
        self.model = OnnxModel(model_path, device=device, threads=threads, use_tf32=use_tf32)
        tok_path = _resolve_tokenizer(Path(model_path), tokenizer)
        self.tokenizer_path = tok_path
        self.vocab = Vocab.load(tok_path)
        recorded = self.model.tokenizer_sha256
        if recorded and file_sha256(tok_path) != recorded:
            raise ValueError(f"{tok_path} is not the tokenizer {model_path} was exported with (sha256 differs); "
                             "re-export with `python -m export --all`")
        if self.model.vocab_size is not None and len(self.vocab) != self.model.vocab_size:
            raise ValueError(f"{tok_path} has {len(self.vocab)} tokens, {model_path} expects {self.model.vocab_size}")
        if self.model.class_names is None:
            raise ValueError(f"{model_path}: no class_names in the ONNX metadata (not exported by `python -m export`?)")
        self.name = self.model.name
        self.class_names = self.model.class_names
        self.max_len = max_len
        self.provider = self.model.provider

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """texts -> (len(texts), num_classes) float32 probabilities."""
        if not texts:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        tokens, lengths = encode_batch_np(self.vocab, texts, self.max_len)
        return softmax(self.model.logits(tokens, lengths))


__all__ = ["CPU", "CUDA", "OnnxModel", "OnnxPredictor", "ProviderUnavailableError", "RuntimeInputError",
           "cuda_listed", "encode_batch_np", "softmax", "tokenizer_sidecar"]


def onnx_predictors(folder: str | Path, threads: int = 1):
    """A predictor factory for the page's registry: checkpoint -> OnnxPredictor of FOLDER/NAME.onnx.

    A model without an export is an error that says how to build the exports (`python -m export --all`).
    """
    folder = Path(folder)

    def make(ckpt) -> OnnxPredictor:
        onnx_path = folder / f"{ckpt.name}.onnx"
        if not onnx_path.is_file():
            raise FileNotFoundError(f"{onnx_path} not found: RNN_DEMO_BACKEND=onnx needs the exported models; "
                                    "build them with `python -m export --all`")
        return OnnxPredictor(onnx_path, ckpt.path, device="cpu", threads=threads)

    return make
