#!/usr/bin/env bash
# depth_net demo (CPU, 2 cores): the shipped weights on real scenes, then the AutoML main job.
#   1. `checkpoint: builtin` (depth_net's own bp2 weights, trained on the built-in Synthetic scenes
#      only) against OpenCV SGBM on every shared real scene (../shared/data/real), full resolution;
#   2. inference pictures of the shipped weights on the real samples (disparity, GT / error
#      panels, depth in metres, point clouds);
#   3. `depth_net train` routes through the AutoML policy (auto -> study): an Optuna study that
#      fine-tunes the shipped weights on new Synthetic scenes (4 trials, learning rate and weight
#      decay searched, successive-halving pruning), then the trial table and plots, and the best
#      trial against the starting weights on validation scenes no trial trained on;
#   4. where everything is, and the real-scene EPE of the shipped weights beside SGBM's.
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
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
START_TIME=$(date +%s)

# a fresh study each time (an existing one would be resumed); only the demo's own folders go
rm -rf "$STUDY" "$OUT/train" "$OUT/synthetic" "$OUT/real" "$OUT/vs_sgbm.json"
mkdir -p "$OUT"

if [ -f "$REAL/kitti2015.txt" ] && [ -f "$REAL/middlebury2014Q.txt" ]; then
    echo "== 1/4 shipped weights (checkpoint: builtin) vs OpenCV SGBM on the real scenes in $REAL"
    $PY bench/vs_sgbm.py --checkpoint builtin --real "$REAL" --json "$OUT/vs_sgbm.json" --brief
    echo
    echo "== 2/4 inference pictures of the shipped weights -> $OUT/real/inference/"
    INFER="[{dataset_name: Middlebury, data_file: '$REAL/middlebury2014Q.txt'}, {dataset_name: Kitti, data_file: '$REAL/kitti2015.txt'}"
    [ -f "$REAL/kitti2012.txt" ] && INFER+=", {dataset_name: Kitti, data_file: '$REAL/kitti2012.txt'}"
    INFER+="]"
    $DN inference -e references/spec_template_inference.yaml results_dir="$OUT/real" inference.checkpoint=builtin \
        "dataset.infer_dataset.data_sources=$INFER" dataset.infer_dataset.batch_size=1 dataset.max_disparity=256 \
        inference.input_height=320 inference.input_width=736 inference.focal_px=721.5 inference.baseline_m=0.54
    HAVE_REAL=1
else
    echo "== 1-2/4 real samples not found at $REAL (set DEPTH_NET_SHARED): Synthetic scenes only"
    $DN inference -e "$SPEC" results_dir="$OUT/synthetic" inference.checkpoint=builtin \
        inference.focal_px=200.0 inference.baseline_m=0.1
    HAVE_REAL=0
fi

echo
echo "== 3/4 AutoML study fine-tuning the shipped weights on new Synthetic scenes -> $STUDY/"
$DN train -e "$SPEC" results_dir="$OUT"
$DN automl status -e "$SPEC" results_dir="$OUT" 2>/dev/null
$DN automl plot -e "$SPEC" results_dir="$OUT" 2>/dev/null | sed 's/^/  /'
$PY - "$STUDY/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
base = (s.get("baseline_kpi") or {}).get(s["metric"])
best = (s.get("best_kpi") or {}).get(s["metric"], s["best_value"])
start = "n/a" if base is None else f"{base:.3f}"
print(f"{s['metric']} on validation scenes no trial trained on: starting weights (builtin) {start} -> "
      f"best trial {s['best_trial']} {best:.3f} with {s['best_params']}")
if s.get("versus_baseline"):
    print(f"  {s['versus_baseline']['line']}")
EOF

echo
echo "== 4/4 results ($(( $(date +%s) - START_TIME )) s)"
if [ "$HAVE_REAL" = 1 ]; then
    $PY - "$OUT/vs_sgbm.json" <<'EOF'
import json, statistics, sys
rows = [r for r in json.load(open(sys.argv[1])) if "net" in r]
mean = lambda key, m: sum(r[key][m] for r in rows) / len(rows)
median = lambda key: statistics.median(r[key]["epe"] for r in rows)
lower = lambda m: sum(r["net"][m] < r["sgbm"][m] for r in rows)
print(f"real scenes ({len(rows)}), full resolution: EPE shipped weights vs OpenCV SGBM: mean {mean('net', 'epe'):.2f} "
      f"vs {mean('sgbm', 'epe'):.2f} px, median {median('net'):.2f} vs {median('sgbm'):.2f} px, lower on "
      f"{lower('epe')} of {len(rows)} scenes; mean bp2 {mean('net', 'bp2'):.3f} vs {mean('sgbm', 'bp2'):.3f} "
      f"(lower on {lower('bp2')} of {len(rows)}); per scene in the table above and in {sys.argv[1]}")
EOF
    echo "pictures of the shipped weights on the real scenes: $OUT/real/inference/"
fi
echo "study (storage, trial folders, summary.json): $STUDY/   best checkpoint: $STUDY/best/"
echo "plots: $STUDY/plots/   model card of the shipped weights: model/weights/MODEL_CARD.md"
echo "inspect the study: $PY -m model.cli automl status -e $SPEC results_dir=$OUT"
echo "dashboard:         depth_net automl dashboard --storage $(cd "$STUDY" && pwd)/study.db --study demo_study"
echo "Demo done."
