"""ONNX export: one fp32 file with a parity check against PyTorch."""

from model.export.onnx import check_export_size, check_onnx, compare_with_pytorch, dynamic_axes, export_onnx

__all__ = ["export_onnx", "check_onnx", "compare_with_pytorch", "check_export_size", "dynamic_axes"]
