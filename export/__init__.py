"""ONNX export and onnxruntime inference for rnn_demo models (see issue: export)."""
