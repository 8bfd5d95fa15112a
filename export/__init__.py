"""ONNX export, onnxruntime inference (no torch), batch classification, the widget build and Triton configs
for rnn_demo models; docs/export.md is the reference."""
