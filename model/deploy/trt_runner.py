"""Running a serialized TensorRT engine (`left_image`, `right_image` -> `disparity`).

I/O buffers are torch CUDA tensors (no pycuda): inputs are copied to the GPU, the
engine runs on torch's current stream, the output comes back to the CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

from model.deploy.trt_engine import require_tensorrt
from model.errors import DataError

__all__ = ["TrtRunner"]


class TrtRunner:
    """A TensorRT execution context over one engine file.

    Args:
        path: the .engine file (built by `depth_net gen_trt_engine` for this GPU / TensorRT).
        device_index: the CUDA device.
    Attributes:
        shape: input shape [B, 3, H, W], None where the engine's profile lets it vary;
        profile: (min, opt, max) input shapes of profile 0.
    """

    def __init__(self, path: str | Path, device_index: int = 0) -> None:
        require_tensorrt("trt_engine")
        import tensorrt as trt

        self.path = Path(path)
        self.device = torch.device(f"cuda:{device_index}")
        torch.cuda.set_device(self.device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise DataError(f"trt_engine: {self.path}: TensorRT cannot deserialize it (built by another "
                            f"TensorRT version or GPU?); rebuild it with depth_net gen_trt_engine")
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        for name in ("left_image", "right_image", "disparity"):
            if name not in names:
                raise DataError(f"trt_engine: {self.path}: no tensor '{name}' (has {names}); not a depth_net engine")
        self.context = self.engine.create_execution_context()
        self.shape = [d if d >= 0 else None for d in self.engine.get_tensor_shape("left_image")]
        self.profile = tuple(tuple(s) for s in self.engine.get_tensor_profile_shape("left_image", 0))
        self._out_dtype = _torch_dtype(trt, self.engine.get_tensor_dtype("disparity"))
        self._in_dtype = _torch_dtype(trt, self.engine.get_tensor_dtype("left_image"))

    def __call__(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] float32 pair within the profile -> disparity [B,1,H,W] float32 CPU tensor."""
        inputs = {"left_image": left.to(self.device, self._in_dtype).contiguous(),
                  "right_image": right.to(self.device, self._in_dtype).contiguous()}
        for name, tensor in inputs.items():
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        out_shape = tuple(self.context.get_tensor_shape("disparity"))
        out = torch.empty(out_shape, dtype=self._out_dtype, device=self.device)
        self.context.set_tensor_address("disparity", out.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution of {self.path} failed for input shape {tuple(left.shape)}")
        stream.synchronize()
        return out.float().cpu()


def _torch_dtype(trt, dtype) -> torch.dtype:
    table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}
    if dtype not in table:
        raise DataError(f"trt_engine: I/O tensor type {dtype} is not supported (expected FLOAT or HALF)")
    return table[dtype]
