#!/usr/bin/env bash
# Fine-tune the DR grader on a lent GPU machine (Keras 3 on its PyTorch backend), from a pack.
#
#   .venv/bin/python -m ai_node.training.pack --out .devdata/pack    # here: preprocess + WebP
#   OUT=DIR scripts/gpu_train.sh [python -m ai_node.training.train options]   # there
#
# The machine has PyTorch but no Keras: the wheels carried in .whl/ (keras, namex,
# optree for its Python) are installed first when Keras is missing. The run reads
# the pack with --prefiltered (no image is filtered again) and writes model.keras,
# config.json, history.csv, val_predictions.csv, environment.txt and train.log to $OUT.
set -euo pipefail
out=${OUT:-var/training/gpu}
mkdir -p "$out"
export KERAS_BACKEND=${KERAS_BACKEND:-torch} PYTHONUNBUFFERED=1
if ! python3 -c "import keras" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    nproc
    python3 -c "import sys, torch, keras, numpy, PIL; print('python', sys.version.split()[0],
'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'keras', keras.__version__,
keras.backend.backend(), 'numpy', numpy.__version__, 'pillow', PIL.__version__)"
} 2>&1 | tee "$out/environment.txt"
python3 -m ai_node.training.train --data-root .devdata/pack --prefiltered --out-dir "$out" \
    "$@" 2>&1 | tee "$out/train.log"
