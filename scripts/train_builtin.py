"""One run of the campaign that trains the shipped weights (`checkpoint: builtin`).

    python scripts/train_builtin.py --run 3 --minutes 8 --start builtin --out runs/builtin \
        --parts $OUT --real .gpu/shared/data/real
    python scripts/train_builtin.py --join $FILES_AT --to model/weights/ffs_bp2_builtin.safetensors

A run is `depth_net train -e references/builtin_recipe.yaml` (the product path, the fast
training runtime on a GPU), starting from `--start` (`builtin`, a weights / checkpoint file, or
`scratch`), with scenes of its own (seed 1000 + run) and a time limit. Its last checkpoint is
written as fp16 safetensors (`<out>/ffs_bp2_builtin.safetensors`) whose metadata card adds this
run to the campaign's record (runs, optimizer steps, samples, GPU minutes); with `--real` the
new weights are scored against OpenCV SGBM on every shared real scene (bench/vs_sgbm.py) and
the scores go into the card's learning curve. `--parts` splits the file into pieces under
15 MB (what a GPU machine can hand back); `--join` puts them together again and checks the
result loads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.config import NetworkConfig  # noqa: E402
from model.network.builtin import read_card, read_weights, save_weights  # noqa: E402
from model.network.checkpoint import load_network_from_checkpoint, read_checkpoint  # noqa: E402

RECIPE = ROOT / "references" / "builtin_recipe.yaml"
PART_BYTES = 15 * 2**20
WEIGHTS_NAME = "ffs_bp2_builtin.safetensors"


def _card_of(start: str) -> dict:
    """The campaign record carried by the starting weights ({} from scratch or a foreign file)."""
    if start == "scratch":
        return {}
    from model.network.builtin import builtin_file

    path = builtin_file(start, "--start") or Path(start)
    return read_card(path) if path.suffix == ".safetensors" else {}


def train_run(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    run_dir = out / f"run{args.run:03d}"
    cmd = [sys.executable, "-m", "model.cli", "train", "--automl-policy", "off", "-e", str(RECIPE),
           f"results_dir={run_dir}",
           f"train.max_minutes={args.minutes}", f"train.seed={args.run}",
           f"dataset.train_dataset.data_sources.0.seed={1000 + args.run}", f"train.optim.lr={args.lr}",
           f"train.runtime={args.runtime}", f"dataset.train_dataset.batch_size={args.batch}",
           f"dataset.train_dataset.workers={args.workers}"]
    if args.start != "scratch":
        cmd.append(f"train.pretrained_model_path={args.start}")
    cmd += args.override
    print("+", " ".join(cmd), flush=True)
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT)
    wall_min = (time.time() - started) / 60
    latest = run_dir / "train" / "dn_model_latest.pth"
    if proc.returncode != 0 or not latest.is_file():
        print(f"error: training run {args.run} failed (exit {proc.returncode})", file=sys.stderr)
        return 1
    ckpt = torch.load(latest, map_location="cpu", weights_only=True)
    steps = int(ckpt.get("global_step", 0))
    state, spec = read_checkpoint(latest)
    cfg = NetworkConfig.from_dict(spec["model"])
    card = _card_of(args.start)
    batch = int(spec["dataset"]["train_dataset"]["batch_size"])
    crop = spec["dataset"]["train_dataset"]["augmentation"]["crop_size"]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    runs = list(card.get("runs", []))
    entry = {"run": args.run, "device": device, "wall_minutes": round(wall_min, 2), "steps": steps,
             "samples": steps * batch, "batch": batch, "crop": crop, "lr": args.lr,
             "train_iters": cfg.train_iters, "runtime": args.runtime, "start": args.start}
    runs.append(entry)
    card = {"data": "depth_net Synthetic scenes only (procedural, no third-party images)",
            "recipe": "references/builtin_recipe.yaml", "runs": runs,
            "steps": sum(r["steps"] for r in runs), "samples": sum(r["samples"] for r in runs),
            "gpu_minutes": round(sum(r["wall_minutes"] for r in runs), 2)}
    shipped = cfg.replace(train_iters=NetworkConfig().train_iters)  # a training setting, not the weights'
    target = out / WEIGHTS_NAME
    save_weights(state, target, shipped.to_dict(), card)
    print(f"wrote {target}: run {args.run}, {steps} steps, {wall_min:.1f} min; campaign {card['gpu_minutes']} "
          f"GPU-min, {card['samples']} samples", flush=True)
    if args.real:
        score = out / f"vs_sgbm_run{args.run:03d}.json"
        subprocess.run([sys.executable, str(ROOT / "bench" / "vs_sgbm.py"), "--real", str(args.real),
                        "--checkpoint", str(target), "--json", str(score)], cwd=ROOT, check=False)
        if score.is_file():
            entry["real"] = _summary(json.loads(score.read_text(encoding="utf-8")))
            save_weights(state, target, shipped.to_dict(), card)
    if args.parts:
        split(target, Path(args.parts))
    return 0


def _summary(report: dict) -> dict:
    """{scene: {epe, bp2, d1}} of the network from a vs_sgbm.py report (a list of scene rows)."""
    return {row["scene"]: {k: round(float(row["net"][k]), 4) for k in ("epe", "bp2", "d1")}
            for row in report if "net" in row}


def split(path: Path, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = path.read_bytes()
    parts = []
    for i in range(0, len(data), PART_BYTES):
        part = folder / f"{path.name}.part{i // PART_BYTES}"
        part.write_bytes(data[i:i + PART_BYTES])
        parts.append(part)
    print(f"split {path} into {len(parts)} parts under {folder}")
    return parts


def join(folder: Path, target: Path) -> int:
    parts = sorted(folder.glob(f"{WEIGHTS_NAME}.part*"), key=lambda p: int(p.suffix.removeprefix(".part")))
    if not parts:
        print(f"error: no {WEIGHTS_NAME}.part* files in {folder}", file=sys.stderr)
        return 2
    tmp = target.with_name(f".tmp-{target.name}")  # keeps the .safetensors suffix the reader goes by
    tmp.write_bytes(b"".join(p.read_bytes() for p in parts))
    read_weights(tmp)  # must parse before it replaces anything
    load_network_from_checkpoint(tmp)
    tmp.replace(target)
    print(f"joined {len(parts)} parts into {target} ({target.stat().st_size / 2**20:.1f} MB)")
    return 0


def write_card(weights: Path, scores: Path, target: Path) -> int:
    """MODEL_CARD.md from the weights' metadata card and a vs_sgbm.py report of those weights."""
    card = read_card(weights)
    rows = json.loads(scores.read_text(encoding="utf-8"))
    lines = [
        "# depth_net built-in weights (`checkpoint: builtin`)", "",
        f"File: `model/weights/{WEIGHTS_NAME}` ({weights.stat().st_size / 2**20:.1f} MB, fp16 safetensors, "
        "no pickle). Network: FastFoundationStereo with the bp2 widths (the config is in the file's metadata).", "",
        "## Training", "",
        f"- Data: {card.get('data', 'n/a')}. No real images were used at any point.",
        f"- Recipe: `{card.get('recipe', 'n/a')}`, driven by `scripts/train_builtin.py` (one resumable run at a time).",
        f"- Campaign so far: {len(card.get('runs', []))} run(s), {card.get('steps', 0)} optimizer steps, "
        f"{card.get('samples', 0)} training pairs, {card.get('gpu_minutes', 0)} device minutes (wall time of the runs).",
        "", "| run | device | minutes | steps | batch | crop | lr | train_iters | runtime |", "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in card.get("runs", []):
        lines.append(f"| {r['run']} | {r['device']} | {r['wall_minutes']} | {r['steps']} | {r['batch']} | "
                     f"{r['crop'][0]}x{r['crop'][1]} | {r['lr']:g} | {r['train_iters']} | {r['runtime']} |")
    lines += [""] + [f"- run {r['run']}: {r['note']}" for r in card.get("runs", []) if r.get("note")]
    lines += ["", "## Real scenes against OpenCV SGBM", "",
              "`python bench/vs_sgbm.py --checkpoint builtin` (full resolution, all GT pixels, eager fp32, "
              "valid_iters 8; SGBM with the settings of `../shared/design/BASELINES.md`). Lower is better.", "",
              "| scene | EPE net | EPE SGBM | bp2 net | bp2 SGBM | d1 net | d1 SGBM |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        if "net" in row:
            n, g = row["net"], row["sgbm"]
            lines.append(f"| {row['scene']} | {n['epe']:.2f} | {g['epe']:.2f} | {n['bp2']:.3f} | {g['bp2']:.3f} | "
                         f"{n['d1']:.3f} | {g['d1']:.3f} |")
    wins = sum(1 for row in rows if "net" in row and row["net"]["bp2"] < row["sgbm"]["bp2"]
               and row["net"]["d1"] < row["sgbm"]["d1"])
    total = sum(1 for row in rows if "net" in row)
    lines += ["", f"bp2 and d1 both below SGBM's on {wins} of {total} scenes.", "",
              "## Learning curve (real scenes, after each run)", ""]
    steps_so_far = 0
    for r in card.get("runs", []):
        steps_so_far += r["steps"]
        if r.get("real"):  # the mean EPE alone follows the one far-off scene (FlyingThings3D); bp2 / d1 do not
            real = list(r["real"].values())
            mean = {m: sum(v[m] for v in real) / len(real) for m in ("epe", "bp2", "d1")}
            median = statistics.median(v["epe"] for v in real)
            lines.append(f"- after run {r['run']} ({steps_so_far} steps in all, {len(real)} scenes): mean EPE {mean['epe']:.2f} px "
                         f"(median {median:.2f}), mean bp2 {mean['bp2']:.3f}, mean d1 {mean['d1']:.3f}")
    lines += ["", "## Known limits", "",
              "- Trained on procedural scenes only, for a few device minutes: far from NVIDIA's bp2 (Middlebury "
              "bp2 0.01-0.03). Use it as a demo and as a starting point for fine-tuning on your own data.",
              "- Disparities above `max_disparity` (192) are outside the cost volume; the GRU can refine a little past it.",
              "- Sky, specular and transparent surfaces, rain and night scenes never appear in its training data.", ""]
    target.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=int, default=0, help="run number (scene seed 1000 + run)")
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--start", default="builtin", help="builtin, a weights / checkpoint file, or scratch")
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=14)
    parser.add_argument("--runtime", default="auto", choices=["auto", "eager", "compile"])
    parser.add_argument("--out", default="runs/builtin")
    parser.add_argument("--real", default=None, help="shared real samples folder: score against SGBM")
    parser.add_argument("--parts", default=None, help="also split the weights into <15 MB parts here")
    parser.add_argument("--join", default=None, help="folder of parts to join (with --to)")
    parser.add_argument("--to", default=str(ROOT / "model" / "weights" / WEIGHTS_NAME))
    parser.add_argument("--card", default=None, metavar="VS_SGBM_JSON",
                        help="write model/weights/MODEL_CARD.md for the --to weights from this vs_sgbm.py report")
    parser.add_argument("override", nargs="*", help="extra dotted.key=value overrides for the run")
    args = parser.parse_args(argv)
    if args.card:
        return write_card(Path(args.to), Path(args.card), Path(args.to).with_name("MODEL_CARD.md"))
    if args.join:
        return join(Path(args.join), Path(args.to))
    return train_run(args)


if __name__ == "__main__":
    sys.exit(main())
