#!/usr/bin/env bash
# Train the dr-grader 2.x recipe on a CPU, from ImageNet weights, in resumable pieces.
#
#   scripts/train_release.sh [DATA_ROOT] [ODIR_ROOT] [OUT_DIR] [HELD_OUT]
#   defaults: ../shared/data var/data/odir var/training/v2 (none)
#
# Run it from the repository root, after staging ODIR-5K (../shared/data/README-odir.md).
# Every stage resumes from its last finished epoch, so the script can be run again after an
# interruption, or in pieces (STAGE_SECONDS bounds each stage's share of one invocation).
#
# 1. the ImageNet EfficientNet-Lite0, converted once (needs the [train] extra);
# 2. stage A, the shared start: APTOS 2019 (Graham-filtered), EyePACS (equalised and raw),
#    new heads then the whole network. It holds none of the sources held out in step 3;
# 3. stage B: every set but HELD_OUT, continued from stage A, each epoch drawing 6,000
#    images with the processed sets weighted down (the raw colour sources are what the
#    node serves); an eye with no retinopathy counts as free of diabetic macular oedema;
# 4. stage C: the same sets at 384 px (small lesions), continued from stage B, then the
#    threshold on the pooled raw colour validation photographs.
# With HELD_OUT (odir, fundus-dr600 or idrid-grading) the result is a leave-one-source-out
# grader: scripts/leave_one_source_out.sh trains it this way and scores it on that source.
set -euo pipefail
data=${1:-../shared/data}
odir=${2:-var/data/odir}
out=${3:-var/training/v2}
held_out=${4:-}
python=${PYTHON:-.venv/bin/python}
weights=var/weights/efficientnet_lite0_imagenet.keras
seconds=${STAGE_SECONDS:-36000}

[ -f "$weights" ] || "$python" scripts/convert_efficientnet_lite0.py --out "$weights"
start=$(date +%s)
"$python" -m ai_node.training.train --data-root "$data" --imagenet-model "$weights" \
    --sets aptos2019-gauss224 eyepacs-equalized256 eyepacs-raw400 \
    --input-size 224 --head-epochs 1 --finetune-epochs 4 --batch-size 32 \
    --max-seconds "$seconds" --resume --out-dir "$out/stage-a"

sets=()
for name in fundus-dr600 idrid-grading aptos2019-gauss224 eyepacs-equalized256 \
            eyepacs-raw400 odir; do
    [ "$name" = "$held_out" ] || sets+=("$name")
done
run=$out/${held_out:+without-}${held_out:-release}
"$python" -m ai_node.training.train --data-root "$data" --odir-root "$odir" \
    --sets "${sets[@]}" --init-model "$out/stage-a/model.keras" --dme-absent-without-dr \
    --input-size 224 --head-epochs 0 --finetune-epochs 4 --finetune-learning-rate 1.5e-4 \
    --finetune-warmup-epochs 1 --batch-size 32 --epoch-images 6000 \
    --source-weights aptos2019-gauss224=0.25 eyepacs-equalized256=0.25 \
    --max-seconds "$seconds" --resume --out-dir "$run/224"
"$python" -m ai_node.training.train --data-root "$data" --odir-root "$odir" \
    --sets "${sets[@]}" --init-model "$run/224/model.keras" --dme-absent-without-dr \
    --input-size 384 --head-epochs 0 --finetune-epochs 3 --finetune-learning-rate 1e-4 \
    --finetune-warmup-epochs 1 --batch-size 16 --epoch-images 4000 \
    --source-weights aptos2019-gauss224=0.1 eyepacs-equalized256=0.1 \
    --max-seconds "$seconds" --resume --out-dir "$run/384"
run=$run/384
"$python" -m ai_node.training.operating_point "$run"
echo "trained in $(( $(date +%s) - start )) s: $run/model.keras"
