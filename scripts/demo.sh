#!/usr/bin/env bash
# depth_net demo, the AutoML main job (CPU, a few minutes on 2 cores):
#   1. `depth_net train` routes through the AutoML policy (auto -> study): an Optuna study that
#      fine-tunes a tiny FastFoundationStereo on the built-in Synthetic scenes (8 trials of at
#      most 6 epochs, learning rate + weight decay searched, successive-halving pruning);
#   2. the trial table (pruned trials visible) and plots;
#   3. the best checkpoint evaluated on Synthetic test scenes and, when present, on the shared
#      real samples in ../shared/data/real (KITTI 2012/2015, Middlebury 2014, FlyingThings3D),
#      resized to 192 x 576 so the CPU run stays short;
#   4. inference pictures (disparity, GT / error panels, depth and point clouds);
#   5. where everything is, and the dashboard command.
# Everything lands in runs/demo/ (override with DEMO_RESULTS_DIR). Works on a fresh clone: sets
# up .venv first. Any failing step stops the script (set -e): it never ends with "Demo done".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
DN="$PY -m model.cli"
OUT=${DEMO_RESULTS_DIR:-runs/demo}
SHARED=${DEPTH_NET_SHARED:-../shared}
REAL="$SHARED/data/real"
SPEC=references/demo_automl.yaml
STUDY="$OUT/demo_study"
BEST="$STUDY/best/dn_model_best.pth"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
START_TIME=$(date +%s)

# a fresh study each time (an existing one would be resumed); only the demo's own folders go
rm -rf "$STUDY" "$OUT/train" "$OUT/synthetic" "$OUT/real" "$OUT/start.pth"

echo "== 1/5 AutoML study on Synthetic scenes -> $STUDY/"
$PY scripts/make_demo_checkpoint.py "$SPEC" "$OUT/start.pth"   # the starting (randomly initialised) weights
$DN train -e "$SPEC" results_dir="$OUT" train.pretrained_model_path="$OUT/start.pth"

echo
echo "== 2/5 trials (PRUNED = stopped early by successive halving) and plots -> $STUDY/plots/"
$DN automl status -e "$SPEC" results_dir="$OUT" 2>/dev/null
$DN automl plot -e "$SPEC" results_dir="$OUT" 2>/dev/null | sed 's/^/  /'
$DN automl status -e "$SPEC" results_dir="$OUT" --json 2>/dev/null | $PY -c \
    'import collections, json, sys; c = collections.Counter(t["state"] for t in json.load(sys.stdin)); print("trials:", dict(c))'
$PY - "$STUDY/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
base = (s.get("baseline_kpi") or {}).get(s["metric"])
best = (s.get("best_kpi") or {}).get(s["metric"], s["best_value"])
print(f"{s['metric']} on the validation scenes: start {base if base is None else round(base, 3)} -> best trial "
      f"{s['best_trial']} {best:.3f} with {s['best_params']}")
EOF

echo
echo "== 3/5 best checkpoint $BEST evaluated"
$DN evaluate -e "$SPEC" results_dir="$OUT/synthetic" evaluate.checkpoint="$BEST" evaluate.vis=true
if [ -f "$REAL/kitti2015.txt" ] && [ -f "$REAL/middlebury2014Q.txt" ]; then
    echo "-- real samples in $REAL -> $OUT/real/ (inputs resized to 192 x 576 for a quick CPU run)"
    SOURCES="[{dataset_name: Middlebury, data_file: '$REAL/middlebury2014Q.txt'},"
    SOURCES+=" {dataset_name: Kitti, data_file: '$REAL/kitti2015.txt'}"
    [ -f "$REAL/kitti2012.txt" ] && SOURCES+=", {dataset_name: Kitti, data_file: '$REAL/kitti2012.txt'}"
    [ -f "$REAL/flyingthings3d.txt" ] && SOURCES+=", {dataset_name: GenericDataset, data_file: '$REAL/flyingthings3d.txt'}"
    SOURCES+="]"
    $DN evaluate -e "$SPEC" results_dir="$OUT/real" evaluate.checkpoint="$BEST" evaluate.vis=true \
        "dataset.test_dataset.data_sources=$SOURCES" dataset.test_dataset.batch_size=1 dataset.max_disparity=416 \
        evaluate.input_height=192 evaluate.input_width=576
    HAVE_REAL=1
else
    echo "-- real samples not found at $REAL (set DEPTH_NET_SHARED): Synthetic evaluation only"
    HAVE_REAL=0
fi

echo
echo "== 4/5 inference pictures"
if [ "$HAVE_REAL" = 1 ]; then
    INFER="[{dataset_name: Kitti, data_file: '$REAL/kitti2015.txt'}"
    [ -f "$REAL/infer_pairs.txt" ] && INFER+=", {dataset_name: GenericDataset, data_file: '$REAL/infer_pairs.txt'}"
    INFER+="]"
    $DN inference -e "$SPEC" results_dir="$OUT/real" inference.checkpoint="$BEST" \
        "dataset.infer_dataset.data_sources=$INFER" dataset.max_disparity=416 \
        inference.input_height=192 inference.input_width=576 inference.focal_px=721.5 inference.baseline_m=0.54
else
    $DN inference -e "$SPEC" results_dir="$OUT/synthetic" inference.checkpoint="$BEST" \
        inference.focal_px=200.0 inference.baseline_m=0.1
fi

echo
echo "== 5/5 results ($(( $(date +%s) - START_TIME )) s)"
echo "study (storage, trial folders, summary.json): $STUDY/"
echo "  best checkpoint and its spec:  $STUDY/best/"
echo "  policy decision:               $OUT/train/status.json"
echo "  plots:                         $STUDY/plots/"
echo "metrics of the best checkpoint:  $OUT/synthetic/evaluate/"$( [ "$HAVE_REAL" = 1 ] && echo " and $OUT/real/evaluate/")
echo "pictures:"
PNGS=$(find "$OUT/synthetic" "$OUT/real" -name '*.png' 2>/dev/null | sort || true)
echo "$PNGS" | sed -n '1,12s/^/  /p'
echo "  ... $(echo "$PNGS" | grep -c . || true) PNG files in all"
echo "inspect the study: $PY -m model.cli automl status -e $SPEC results_dir=$OUT"
echo "dashboard:         depth_net automl dashboard --storage $(cd "$STUDY" && pwd)/study.db --study demo_study"
echo "Demo done."
