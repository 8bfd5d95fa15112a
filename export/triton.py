"""Write a Triton Inference Server model repository for exported classifiers.

    DIR/
      NAME/
        config.pbtxt        onnxruntime backend, dynamic batching, named inputs/outputs
        tokenizer.json      the vocabulary clients must tokenize with (Triton ignores it)
        1/model.onnx        the verified export

Triton leaves the batch dimension out of `dims` when `max_batch_size > 0`. `lengths` is
(batch,) in the graph, so it is declared `dims: [1]` with `reshape { shape: [] }` (Triton's
documented way to feed a rank-1 batched tensor). Requests are batched together only when
their `tokens` have the same padded length, so clients should pad to a fixed width.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import onnx

from rnn_demo.checkpoint import TOKENIZER_FILE, Checkpoint, load_checkpoint

from .onnx_export import ExportResult, export_checkpoint

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.pbtxt"
DEFAULT_MAX_BATCH = 8192
DEFAULT_QUEUE_DELAY_US = 200

_ONNX_TO_TRITON = {
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
}


def _tensor_spec(value: onnx.ValueInfoProto) -> tuple[str, list[int]]:
    """ONNX graph input/output -> (Triton data type, dims without the batch axis; -1 dynamic)."""
    tensor = value.type.tensor_type
    if tensor.elem_type not in _ONNX_TO_TRITON:
        raise ValueError(f"{value.name}: ONNX element type {tensor.elem_type} has no Triton mapping here")
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    return _ONNX_TO_TRITON[tensor.elem_type], dims[1:]


def _entry(value: onnx.ValueInfoProto) -> str:
    dtype, dims = _tensor_spec(value)
    lines = [f'    name: "{value.name}"', f"    data_type: {dtype}"]
    if dims:
        lines.append(f"    dims: [ {', '.join(str(d) for d in dims)} ]")
    else:  # (batch,) tensor: one element per request, reshaped to a scalar for the model
        lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
    return "  {\n" + "\n".join(lines) + "\n  }"


def model_config_text(name: str, onnx_path: str | Path, max_batch_size: int = DEFAULT_MAX_BATCH,
                      queue_delay_us: int = DEFAULT_QUEUE_DELAY_US) -> str:
    """config.pbtxt for one exported model, with inputs/outputs read from the ONNX graph."""
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    return "\n".join([
        f'name: "{name}"',
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch_size}",
        "input [\n" + ",\n".join(_entry(v) for v in inputs) + "\n]",
        "output [\n" + ",\n".join(_entry(v) for v in graph.output) + "\n]",
        "dynamic_batching {",
        f"  max_queue_delay_microseconds: {queue_delay_us}",
        "}",
        "",
    ])


def write_model(checkpoint: str | Path | Checkpoint, repo: str | Path, with_states: bool = False,
                max_batch_size: int = DEFAULT_MAX_BATCH) -> ExportResult:
    """Export (and verify) one checkpoint into `repo/NAME/` with its config.pbtxt."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    model_dir = Path(repo) / ckpt.name
    version_dir = model_dir / "1"
    result = export_checkpoint(ckpt, version_dir / MODEL_FILE, with_states=with_states, write_tokenizer=False)
    shutil.copyfile(ckpt.path / TOKENIZER_FILE, model_dir / TOKENIZER_FILE)
    (model_dir / CONFIG_FILE).write_text(
        model_config_text(ckpt.name, result.path, max_batch_size=max_batch_size), encoding="utf-8")
    return result
