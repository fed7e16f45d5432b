"""Save a randomly initialised network built from a spec's `model` section as a depth_net checkpoint.

Usage: python scripts/make_demo_checkpoint.py SPEC.yaml OUT.pth [seed]
The file is `{"state_dict": ..., "spec": ...}`, so evaluate / inference rebuild the same network.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import NetworkConfig  # noqa: E402
from model.network import build_network  # noqa: E402
from model.spec import load_spec  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    spec = load_spec(argv[0], "evaluate")
    torch.manual_seed(int(argv[2]) if len(argv) == 3 else 0)
    net = build_network(NetworkConfig.from_dict(spec["model"]))
    out = Path(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    torch.save({"state_dict": net.state_dict(), "spec": spec}, tmp)
    tmp.replace(out)
    print(f"wrote {out} ({sum(p.numel() for p in net.parameters()) / 1e6:.1f} M parameters, random init)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
