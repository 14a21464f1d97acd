#!/usr/bin/env bash
# Rebuild the bundled model from this checkout (docs/model-card.md, "Rebuild it").
#
#   scripts/rebuild_model.sh [options] [MINIMIAS]
#
# MINIMIAS is the mini-MIAS folder (default: $MCDET_DATA/mini-mias, else data/mini-mias in the
# checkout). Stages, in order, each writing into the output folder:
#   train        mcdet train configs/bundled_model.yaml (start: configs/weights/finetune9_start.safetensors)
#   average      mcdet average of the last 11 kept steps, BatchNorm re-estimated  -> finetune.safetensors
#   interpolate  mcdet interpolate START finetune --weight 0.75, BatchNorm again  -> default.safetensors
#   gate         benchmarks/gate_study.py --tiles 128/16 --store (the decoder gate)
#   calibrate    mcdet calibrate on the 33 val normals, plain and --mirror; the training domain
#   validate     docs/scripts/real_validation.py: the rebuilt model beside the bundled one
# Then it prints the new file's SHA-256 and whether its score lands within the bundled model's
# 95 % bootstrap interval. The bundled model is replaced only with --replace.
#
# Options:
#   --out DIR          output folder (default: runs/rebuild)
#   --steps N          a dry run: N training steps, every step kept, 2 BatchNorm batches;
#                      checks the wiring, does not give the bundled model
#   --from STAGE       start at STAGE (the earlier stages' files must be in --out)
#   --stop-after STAGE stop after STAGE
#   --device DEV       device for training, BatchNorm and calibration (default: the config's auto)
#   --workers N        DataLoader workers (default: the cores minus two, at least 1)
#   --replace          copy the rebuilt model over src/napari_mcdet/models/default.safetensors
#   PYTHON=...         the interpreter with napari-mcdet installed (default: python)
#
# The training is made for a GPU: 7.5 min on one H200 with 16 cores, about 11 h on a 2-core CPU.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONFIG="$REPO/configs/bundled_model.yaml"
START="$REPO/configs/weights/finetune9_start.safetensors"
SPLIT="$REPO/configs/minimias_split.json"
BUNDLED="$REPO/src/napari_mcdet/models/default.safetensors"
STAGES=(train average interpolate gate calibrate validate)
# the bundled model's real-validation score on the dev data, 95 % bootstrap interval
# (real_validation.py --bootstrap 2000 --seed 0; docs/model-card.md)
SCORE_LOW=0.745
SCORE_HIGH=0.928
KEPT=11           # the second half of the run's kept steps: 2750, 3000, ..., 5250
BN_BATCHES=50     # BatchNorm re-estimation: 50 batches of 16 training patches, seed 0
WEIGHT=0.75       # the fine-tune's share of the interpolation with its start

die() { echo "rebuild_model.sh: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

OUT="$REPO/runs/rebuild"
STEPS=""
FROM=train
STOP=validate
DEVICE=""
WORKERS=$(( $(nproc 2>/dev/null || echo 3) - 2 ))
(( WORKERS >= 1 )) || WORKERS=1
REPLACE=0
MINIMIAS=""
while (( $# )); do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --from) FROM=$2; shift 2 ;;
    --stop-after) STOP=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --replace) REPLACE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (--help lists them)" ;;
    *) [[ -z $MINIMIAS ]] || die "one mini-MIAS folder only"; MINIMIAS=$1; shift ;;
  esac
done

index_of() {
  local i
  for i in "${!STAGES[@]}"; do [[ ${STAGES[$i]} == "$1" ]] && { echo "$i"; return; }; done
  die "unknown stage '$1'; the stages: ${STAGES[*]}"
}
FIRST=$(index_of "$FROM")
LAST=$(index_of "$STOP")
(( FIRST <= LAST )) || die "--from $FROM comes after --stop-after $STOP"
runs() { local i; i=$(index_of "$1"); (( FIRST <= i && i <= LAST )); }

if [[ -z $MINIMIAS ]]; then
  if [[ -n ${MCDET_DATA:-} ]]; then MINIMIAS="$MCDET_DATA/mini-mias"; else MINIMIAS="$REPO/data/mini-mias"; fi
fi
[[ -f $MINIMIAS/Info.txt ]] || die "no mini-MIAS folder at $MINIMIAS (it holds Info.txt and mdb*.pgm): \
give it as an argument, set MCDET_DATA, or link it at data/mini-mias"
MINIMIAS=$(cd "$MINIMIAS" && pwd)
[[ $STEPS =~ ^[0-9]*$ ]] || die "--steps needs a number of steps"
if [[ -n $STEPS ]]; then BN_BATCHES=2; fi

PY=${PYTHON:-python}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c "import napari_mcdet" 2>/dev/null || die "$PY cannot import napari_mcdet: activate its environment or set PYTHON"
MCDET=("$PY" -m napari_mcdet)
DEVICE_ARGS=()
[[ -z $DEVICE ]] || DEVICE_ARGS=(--device "$DEVICE")

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RUN="$OUT/train"
RUN_CONFIG="$RUN/config.yaml"   # written by mcdet train: the recipe with this machine's paths
FINETUNE="$OUT/finetune.safetensors"
MODEL="$OUT/default.safetensors"
echo "== mini-MIAS: $MINIMIAS; output: $OUT; python: $PY"

if runs train; then
  echo "== train ($WORKERS DataLoader workers${STEPS:+, dry run of $STEPS steps})"
  if compgen -G "$RUN/step_*.safetensors" >/dev/null; then
    die "$RUN already holds kept steps: choose another --out, remove it, or start --from average"
  fi
  extra=()
  if [[ -n $STEPS ]]; then extra=(--steps "$STEPS" --set keep_every=1); fi
  "${MCDET[@]}" train "$CONFIG" --out-dir "$RUN" --set "negatives=[\"$MINIMIAS\"]" \
    --set "num_workers=$WORKERS" "${DEVICE_ARGS[@]}" "${extra[@]}"
fi

if runs average; then
  echo "== average: the last $KEPT kept steps, BatchNorm re-estimated"
  [[ -f $RUN_CONFIG ]] || die "no $RUN_CONFIG: run the train stage first"
  mapfile -t kept < <(ls "$RUN"/step_*.safetensors 2>/dev/null | sort | tail -n "$KEPT")
  (( ${#kept[@]} >= 2 )) || die "fewer than 2 kept steps in $RUN"
  "${MCDET[@]}" average "${kept[@]}" --out "$FINETUNE" \
    --refresh-bn "$RUN_CONFIG" --bn-batches "$BN_BATCHES" --seed 0 "${DEVICE_ARGS[@]}"
fi

if runs interpolate; then
  echo "== interpolate: $(awk -v w="$WEIGHT" 'BEGIN { print 1 - w }') x start + $WEIGHT x fine-tune, BatchNorm re-estimated"
  "${MCDET[@]}" interpolate "$START" "$FINETUNE" --weight "$WEIGHT" --out "$MODEL" \
    --refresh-bn "$RUN_CONFIG" --bn-batches "$BN_BATCHES" --seed 0 "${DEVICE_ARGS[@]}"
fi

if runs gate; then
  echo "== gate: the decoder gate at detection's default tiling"
  "$PY" "$REPO/benchmarks/gate_study.py" --folder "$MINIMIAS" --tiles 128/16 \
    --model "$MODEL" --store
fi

if runs calibrate; then
  echo "== calibrate: 0.5 false clusters per val normal, plain and with mirror averaging"
  mapfile -t normals < <("$PY" -c 'import json, sys
print("\n".join(sys.argv[2] + "/" + n for n in json.load(open(sys.argv[1]))["val"]))' \
    "$SPLIT" "$MINIMIAS")
  for mirror in "" --mirror; do
    "${MCDET[@]}" calibrate "$MODEL" "${normals[@]}" --target-fp 0.5 --spacing 0.2 \
      ${mirror:+"$mirror"} "${DEVICE_ARGS[@]}"
  done
  # the images it was trained on, which detection compares each image with
  "$PY" - "$BUNDLED" "$MODEL" <<'PYEOF'
import sys
from napari_mcdet.models.checkpoint import TRAINING_DOMAIN_KEY, read_checkpoint, update_metadata
domain = read_checkpoint(sys.argv[1])[1].get(TRAINING_DOMAIN_KEY)
if domain:
    update_metadata(sys.argv[2], {TRAINING_DOMAIN_KEY: domain})
    print(f"{TRAINING_DOMAIN_KEY}: {domain}")
PYEOF
fi

if runs validate; then
  sha=$("$PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$MODEL")
  echo "== $MODEL"
  echo "SHA-256 $sha"
  echo "== validate: the bundled model, then the rebuilt one (about 7 min each on 2 CPU cores)"
  log="$OUT/real_validation.txt"
  bootstrap=(--bootstrap 2000 --seed 0)
  [[ -z $STEPS ]] || bootstrap=()
  "$PY" "$REPO/docs/scripts/real_validation.py" "$MINIMIAS" "$BUNDLED" "$MODEL" \
    "${bootstrap[@]}" | tee "$log"
  score=$(grep -F "$MODEL: cluster sensitivity" "$log" | grep -F '| FROC' \
    | sed -E 's/.* mean ([0-9.]+) \|.*/\1/' | head -n 1)
  [[ -n $score ]] || die "no score for $MODEL in $log"
  if awk -v s="$score" -v lo="$SCORE_LOW" -v hi="$SCORE_HIGH" 'BEGIN { exit !(s >= lo && s <= hi) }'; then
    echo "score $score: within the bundled model's interval [$SCORE_LOW, $SCORE_HIGH]"
  else
    echo "score $score: OUTSIDE the bundled model's interval [$SCORE_LOW, $SCORE_HIGH]" >&2
    exit 1
  fi
fi

if (( REPLACE )); then
  [[ -z $STEPS ]] || die "--replace with a dry run (--steps) would bundle an untrained model"
  runs validate || die "--replace needs the validate stage"
  cp "$MODEL" "$BUNDLED"
  echo "replaced $BUNDLED: write its SHA-256 into docs/model-card.md"
fi
