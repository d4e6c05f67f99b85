#!/usr/bin/env bash
# i2v against diffusers, side by side on this machine: UNet forward (batch 2), VAE decode and a
# whole warm `generate`, same model folder, size, frames, dtype and thread count. Prints a Markdown
# table with the ratio (diffusers time / i2v time; > 1: i2v is faster). Without a Python that
# imports torch and diffusers (PYTHON, default python3) it says so and prints the i2v side alone.
#
#   bench/speed.sh [MODEL]            (default /work/models/i2vgen-xl-bf16, from i2v make-model)
# Environment: SIZE (256), FRAMES (8), STEPS (2), PRECISION (bf16), THREADS (2), RUNS (3), I2V,
# PYTHON, ONLY (unet,vae_decode,generate), UNET_PLAN (packed: the weights packed once, as in a
# generation of 8 steps or more; plain: reordered at every call, as with fewer steps),
# KEEP_PACKED (1: the warm Generator keeps its packed weights between calls, as a server or a
# library loop does; 0: freed after each call, as a one-shot `i2v generate`).
set -euo pipefail
cd "$(dirname "$0")/.."
I2V=${I2V:-build/bin/i2v}
PYTHON=${PYTHON:-python3}
MODEL=${1:-/work/models/i2vgen-xl-bf16}
SIZE=${SIZE:-256} FRAMES=${FRAMES:-8} STEPS=${STEPS:-2} PRECISION=${PRECISION:-bf16}
THREADS=${THREADS:-2} RUNS=${RUNS:-3} ONLY=${ONLY:-unet,vae_decode,generate}
UNET_PLAN=${UNET_PLAN:-packed} KEEP_PACKED=${KEEP_PACKED:-1}
release=(); [ "$KEEP_PACKED" = 1 ] || release=(--release-packed)
[ -d "$MODEL" ] || { echo "no model folder $MODEL (write one: $I2V make-model --config configs/models/i2vgen-xl --out $MODEL --dtype bf16)" >&2; exit 2; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
common=(--model "$MODEL" --size "$SIZE" --frames "$FRAMES" --precision "$PRECISION" --runs "$RUNS" --json --no-census)
# The JSON object is the last line (log lines may precede it).
stat() { tail -n 1 "$1" | python3 -c 'import json,sys; print("%.2f" % json.loads(sys.stdin.read())[sys.argv[1]])' "$2"; }

declare -A I2V_S DIFF_S I2V_MIN DIFF_MIN
for what in ${ONLY//,/ }; do
  case $what in
    unet) "$I2V" --threads "$THREADS" bench unet "${common[@]}" --plan "$UNET_PLAN" > "$OUT/unet.json" ;;
    vae_decode) "$I2V" --threads "$THREADS" bench vae-decode "${common[@]}" > "$OUT/vae_decode.json" ;;
    generate) "$I2V" --threads "$THREADS" bench generate "${common[@]}" --steps "$STEPS" "${release[@]}" > "$OUT/generate.json" ;;
    *) echo "unknown bench $what" >&2; exit 2 ;;
  esac
  I2V_S[$what]=$(stat "$OUT/$what.json" median_s)
  I2V_MIN[$what]=$(stat "$OUT/$what.json" min_s)
done

have_diffusers=0
if "$PYTHON" -c 'import torch, diffusers' 2>/dev/null; then
  have_diffusers=1
  "$PYTHON" bench/diffusers_speed.py --model "$MODEL" --size "$SIZE" --frames "$FRAMES" \
    --steps "$STEPS" --precision "$PRECISION" --threads "$THREADS" --runs "$RUNS" --only "$ONLY" \
    > "$OUT/diffusers.json"
  for what in ${ONLY//,/ }; do
    DIFF_S[$what]=$(python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))[sys.argv[2]]["median_s"])' "$OUT/diffusers.json" "$what")
    DIFF_MIN[$what]=$(python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))[sys.argv[2]]["min_s"])' "$OUT/diffusers.json" "$what")
  done
else
  echo "(no diffusers here: '$PYTHON -c \"import torch, diffusers\"' failed; i2v side only)" >&2
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $THREADS threads; ${SIZE}x${SIZE}, $FRAMES frames, $PRECISION, median of $RUNS; i2v UNet plan $UNET_PLAN, generate keeps packed weights: $KEEP_PACKED"
echo "| work | i2v s (median / min) | diffusers s (median / min) | diffusers / i2v (medians / mins) |"
echo "| --- | --- | --- | --- |"
for what in ${ONLY//,/ }; do
  if [ $have_diffusers = 1 ]; then
    ratio=$(awk -v d="${DIFF_S[$what]}" -v i="${I2V_S[$what]}" 'BEGIN { printf "%.2fx", d / i }')
    ratio_min=$(awk -v d="${DIFF_MIN[$what]}" -v i="${I2V_MIN[$what]}" 'BEGIN { printf "%.2fx", d / i }')
    echo "| $what | ${I2V_S[$what]} / ${I2V_MIN[$what]} | ${DIFF_S[$what]} / ${DIFF_MIN[$what]} | $ratio / $ratio_min |"
  else
    echo "| $what | ${I2V_S[$what]} / ${I2V_MIN[$what]} | – | – |"
  fi
done
