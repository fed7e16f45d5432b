"""What odd channel counts cost the FFS-bp2 convolutions on the GPU (half precision, channels-last).

cuDNN's NHWC tensor-core kernels want channel counts that are multiples of 8; for any other
count it pads the input (and weights) on every call (`nhwcAddPaddingKernel`) or falls back to a
slower kernel. bp2's searched widths are full of such counts (volume_dim 28, gru_hidden 60, the
522-channel geometry feature, 97 / 108-channel concatenations). This bench records every conv
call of one inference forward (its module, input shape and how often it runs), then times each
as it is and with its channels padded to a multiple of 8 (zero weights; the input arriving
already padded), each call replayed from a CUDA graph so that only GPU time counts. The sum
over one forward says what padding the network's channels would save, and which convs carry it.

    python bench/conv_channels.py --height 480 --width 640 --iters 8 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import NetworkConfig
from model.evaluation.runtime import PRECISIONS, FastForward
from model.network import build_network
from model.network.fusion import _round_up

CONVS = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def record_convs(fast: FastForward, left: torch.Tensor, right: torch.Tensor) -> dict[tuple, int]:
    """{(module name, input shape): calls per forward} for every conv of one forward."""
    calls: Counter = Counter()
    handles = []
    for name, module in fast.net.named_modules():
        if isinstance(module, CONVS):
            handles.append(module.register_forward_pre_hook(
                lambda m, args, name=name: calls.update([(name, tuple(args[0].shape))])))
    fast(left, right)
    for handle in handles:
        handle.remove()
    return dict(calls)


def padded_copy(conv: nn.Module, in_ch: int, out_ch: int) -> nn.Module:
    """`conv` with in / out channels zero-padded to `in_ch` / `out_ch` (grouped convs: groups kept per channel)."""
    groups = conv.groups if conv.groups == 1 else in_ch  # depthwise stays depthwise
    kwargs = {"kernel_size": conv.kernel_size, "stride": conv.stride, "padding": conv.padding,
              "dilation": conv.dilation, "groups": groups, "bias": conv.bias is not None}
    if isinstance(conv, (nn.ConvTranspose2d, nn.ConvTranspose3d)):
        kwargs["output_padding"] = conv.output_padding
    new = type(conv)(in_ch, out_ch if conv.groups == 1 else in_ch, **kwargs)
    return new.to(device=conv.weight.device, dtype=conv.weight.dtype)


def time_call(module: nn.Module, x: torch.Tensor, dtype: torch.dtype, replays: int = 20) -> float:
    """GPU microseconds of one `module(x)` call, from a CUDA graph of `replays` calls."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.autocast("cuda", dtype=dtype):
        for _ in range(3):  # cuDNN benchmarks its algorithms here
            module(x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.autocast("cuda", dtype=dtype):
        for _ in range(replays):
            module(x)
    graph.replay()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(5):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * 1e3 / (5 * replays)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--iters", type=int, default=8)
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp16"])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: bench/conv_channels.py needs a CUDA GPU", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    dtype = PRECISIONS[args.precision]
    net = build_network(NetworkConfig()).cuda().eval()
    fast = FastForward(net, "eager", args.precision, iters=args.iters, key="bench", inplace=True,
                       channels_last=True)
    left = torch.randn(1, 3, args.height, args.width, device="cuda")
    calls = record_convs(fast, left, torch.randn_like(left))
    modules = dict(fast.net.named_modules())
    rows = []
    with torch.inference_mode():
        for (name, shape), count in calls.items():
            conv = modules[name]
            layout = torch.channels_last if len(shape) == 4 else torch.channels_last_3d
            in_ch, out_ch = shape[1], conv.out_channels
            x = torch.randn(shape, device="cuda", dtype=dtype).contiguous(memory_format=layout)
            row = {"module": name, "input": list(shape), "out_channels": out_ch, "calls": count,
                   "us": time_call(conv, x, dtype)}
            if in_ch % 8 or out_ch % 8:
                padded = padded_copy(conv, _round_up(in_ch, 8), _round_up(out_ch, 8))
                padded.weight.data = padded.weight.data.contiguous(memory_format=layout)
                xp = torch.randn((shape[0], _round_up(in_ch, 8), *shape[2:]), device="cuda",
                                 dtype=dtype).contiguous(memory_format=layout)
                row["padded_us"] = time_call(padded, xp, dtype)
            else:
                row["padded_us"] = row["us"]
            rows.append(row)
    for r in rows:
        r["ms_per_forward"] = r["us"] * r["calls"] / 1e3
        r["padded_ms_per_forward"] = r["padded_us"] * r["calls"] / 1e3
    total = sum(r["ms_per_forward"] for r in rows)
    total_padded = sum(r["padded_ms_per_forward"] for r in rows)
    rows.sort(key=lambda r: r["padded_ms_per_forward"] - r["ms_per_forward"])
    print(f"conv GPU time per forward ({args.height}x{args.width}, {args.iters} iters, {args.precision}, "
          f"channels-last, {sum(calls.values())} conv calls): as built {total:.2f} ms, "
          f"channels padded to x8 {total_padded:.2f} ms (x{total / max(total_padded, 1e-9):.2f})")
    print(f"{'module':<48} {'input':<24} {'out':>4} {'calls':>5} {'us':>8} {'padded us':>9}")
    for r in rows[:args.top]:
        print(f"{r['module']:<48} {r['input']!s:<24} {r['out_channels']:>4} {r['calls']:>5} "
              f"{r['us']:8.1f} {r['padded_us']:9.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": vars(args), "device": torch.cuda.get_device_name(), "torch": torch.__version__,
            "total_ms": total, "total_padded_ms": total_padded, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
