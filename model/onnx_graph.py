"""The exported graph's interface, shared by the exporter and the ONNX / TensorRT runners.

Inputs `left_image`, `right_image` `[B,3,H,W]` float32 ImageNet-normalised; output
`disparity` `[B,1,H,W]` in px. It lives below `model.export` and `model.deploy` so neither
package imports the other for it (the exporter checks its file with the ONNX runner).
"""

from __future__ import annotations

__all__ = ["INPUT_NAMES", "OUTPUT_NAME"]

INPUT_NAMES = ("left_image", "right_image")
OUTPUT_NAME = "disparity"
