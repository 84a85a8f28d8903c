#!/usr/bin/env bash
# Train the 2.x recipe without one raw colour source and score the grader on all of it.
#
#   scripts/leave_one_source_out.sh SOURCE [DATA_ROOT] [ODIR_ROOT] [OUT_DIR]
#   SOURCE: odir, fundus-dr600 or idrid-grading
#
# The grader never sees SOURCE: not in training, model selection or its threshold (chosen
# by the same rule as the release's, on its own pooled validation photographs). Every graded
# photograph of SOURCE is then scored once, at that threshold, with bootstrap intervals:
# OUT_DIR/eval/without-SOURCE.json, for `fovea-models record-evaluation --held-out-source`.
set -euo pipefail
source=$1
dme_column=
data=${2:-../shared/data}
odir=${3:-var/data/odir}
out=${4:-var/training/v2}
python=${PYTHON:-.venv/bin/python}

case "$source" in
    odir) root=$odir ;;
    fundus-dr600) root=$data/$source; dme_column=maculopathy ;;
    idrid-grading) root=$data/$source ;;
    *) echo "SOURCE must be odir, fundus-dr600 or idrid-grading" >&2; exit 2 ;;
esac
scripts/train_release.sh "$data" "$odir" "$out" "$source"
run=$out/without-$source/384
threshold=$("$python" -c "import json, sys; print(json.load(open(sys.argv[1]))['referable_threshold'])" \
    "$run/operating_point.json")
"$python" -m ai_node.evaluate --images "$root" --labels "$root/labels.csv" \
    --model "$run/model.keras" --threshold "$threshold" \
    --json "$out/eval/without-$source.json" --plots "$out/eval/without-$source" \
    ${dme_column:+--dme-column "$dme_column"}
