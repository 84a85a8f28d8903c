#!/usr/bin/env bash
# Train a DR grader in the shipped one's two stages, on a CPU, from ImageNet weights.
#
#   scripts/train_release.sh [DATA_ROOT] [OUT_DIR]      # defaults: ../shared/data var/training/release
#
# Run it from the repository root. The first stage is shortened for a CPU: 1.0.0, which
# 1.1.0 continues, had twenty fine-tuning epochs at batch 64 on a GPU; here eight at 32.
#
# 1. the ImageNet EfficientNet-Lite0, converted once (needs the [train] extra);
# 2. 224 px on all three sets from ImageNet: the new head, then the whole network;
# 3. 384 px on the raw colour photographs alone, continued from step 2, head included;
# 4. the referral threshold, chosen on the validation images.
# Each stage keeps its epoch with the best validation QWK and stops within its time
# budget (STAGE1_SECONDS, STAGE2_SECONDS). Registering, scoring the test splits and
# promoting stay separate steps (README, "The DR model"): a person reads the
# validation figures in OUT_DIR/*/config.json first.
set -euo pipefail
data=${1:-../shared/data}
out=${2:-var/training/release}
python=${PYTHON:-.venv/bin/python}
weights=var/weights/efficientnet_lite0_imagenet.keras

[ -f "$weights" ] || "$python" scripts/convert_efficientnet_lite0.py --out "$weights"
start=$(date +%s)
"$python" -m ai_node.training.train --data-root "$data" --imagenet-model "$weights" \
    --input-size 224 --head-epochs 2 --finetune-epochs 8 --batch-size 32 \
    --max-seconds "${STAGE1_SECONDS:-2700}" --out-dir "$out/224"
"$python" -m ai_node.training.train --data-root "$data" --sets fundus-dr600 idrid-grading \
    --init-model "$out/224/model.keras" --input-size 384 --head-epochs 0 \
    --finetune-epochs 14 --finetune-learning-rate 1e-4 --finetune-warmup-epochs 1 \
    --batch-size 16 --max-seconds "${STAGE2_SECONDS:-1800}" --out-dir "$out/384"
"$python" -m ai_node.training.operating_point "$out/384"
echo "trained in $(( $(date +%s) - start )) s: $out/384/model.keras"
