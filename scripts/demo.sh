#!/usr/bin/env bash
# depth_net demo: evaluate + inference of a randomly initialised tiny FastFoundationStereo
# on the built-in Synthetic scenes and, when present, the real samples in ../shared/data/real
# (KITTI 2012/2015, Middlebury 2014, FlyingThings3D). Pictures, metrics and status.json land
# in runs/demo/ (override with DEMO_RESULTS_DIR). Works on a fresh machine: sets up .venv first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
OUT=${DEMO_RESULTS_DIR:-runs/demo}
SHARED=${DEPTH_NET_SHARED:-../shared}
REAL="$SHARED/data/real"
SPEC=references/demo_spec.yaml
CKPT="$OUT/tiny_random.pth"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

echo "== 1/3 a random tiny network -> $CKPT"
$PY scripts/make_demo_checkpoint.py "$SPEC" "$CKPT"

echo "== 2/3 Synthetic scenes (exact ground truth) -> $OUT/synthetic/"
$PY -m model.cli evaluate -e "$SPEC" results_dir="$OUT/synthetic" evaluate.checkpoint="$CKPT"
$PY -m model.cli inference -e "$SPEC" results_dir="$OUT/synthetic" inference.checkpoint="$CKPT"

if [ -f "$REAL/kitti2015.txt" ] && [ -f "$REAL/middlebury2014Q.txt" ]; then
    echo "== 3/3 real samples in $REAL -> $OUT/real/ (inputs resized to 192 x 576 for a quick CPU run)"
    SOURCES="[{dataset_name: Middlebury, data_file: '$REAL/middlebury2014Q.txt'},"
    SOURCES+=" {dataset_name: Kitti, data_file: '$REAL/kitti2015.txt'},"
    SOURCES+=" {dataset_name: Kitti, data_file: '$REAL/kitti2012.txt'},"
    SOURCES+=" {dataset_name: GenericDataset, data_file: '$REAL/flyingthings3d.txt'}]"
    $PY -m model.cli evaluate -e "$SPEC" results_dir="$OUT/real" evaluate.checkpoint="$CKPT" \
        "dataset.test_dataset.data_sources=$SOURCES" dataset.test_dataset.batch_size=1 \
        evaluate.input_height=192 evaluate.input_width=576
    $PY -m model.cli inference -e "$SPEC" results_dir="$OUT/real" inference.checkpoint="$CKPT" \
        "dataset.infer_dataset.data_sources=[{dataset_name: Kitti, data_file: '$REAL/kitti2015.txt'}, {dataset_name: GenericDataset, data_file: '$REAL/infer_pairs.txt'}]" \
        inference.input_height=192 inference.input_width=576 inference.focal_px=721.5 inference.baseline_m=0.54
else
    echo "== 3/3 skipped: shared real samples not found at $REAL (set DEPTH_NET_SHARED); Synthetic only"
fi

echo
echo "Demo outputs under $OUT/:"
find "$OUT" -name '*.png' | sort | head -n 40
echo "metrics: $OUT/*/evaluate/metrics.json; status: $OUT/*/*/status.json"
