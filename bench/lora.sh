#!/usr/bin/env bash
# What a LoRA costs at generation time, on the real architecture (random weights): time per step
# and peak RSS of `bench generate` without a LoRA, with one merged, and with one unmerged, under the
# default plan and the stream plan. One process per case (peak RSS is per process).
#
#   bench/lora.sh [MODEL]     (default /work/models/i2vgen-xl-bf16)
# Environment: RANK (8), TARGETS (to_q,to_k,to_v,to_out.0), SIZE (256), FRAMES (8), STEPS (2),
# RUNS (2), THREADS (2), I2V.
set -euo pipefail
cd "$(dirname "$0")/.."
I2V=${I2V:-build/bin/i2v}
MODEL=${1:-/work/models/i2vgen-xl-bf16}
RANK=${RANK:-8} TARGETS=${TARGETS:-to_q,to_k,to_v,to_out.0}
SIZE=${SIZE:-256} FRAMES=${FRAMES:-8} STEPS=${STEPS:-2} RUNS=${RUNS:-2} THREADS=${THREADS:-2}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$I2V" make-lora --model "$MODEL" --rank "$RANK" --targets "$TARGETS" --out "$OUT/lora.safetensors" 2>&1 | tail -1
echo "| plan | LoRA | mode used | s per run (median of $RUNS) | denoise s | peak RSS GiB |"
echo "| --- | --- | --- | --- | --- | --- |"
for plan in auto stream; do
  for mode in none merged unmerged; do
    args=(--model "$MODEL" --size "$SIZE" --frames "$FRAMES" --steps "$STEPS" --runs "$RUNS"
          --precision bf16 --json --no-census --plan "$plan")
    [ "$mode" != none ] && args+=(--lora "$OUT/lora.safetensors" --lora-mode "$mode")
    "$I2V" --threads "$THREADS" bench generate "${args[@]}" 2>/dev/null | tail -1 > "$OUT/r.json"
    python3 - "$OUT/r.json" "$plan" "$mode" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
modes = r.get("lora_modes", {}).get("unet", "-")
print(f"| {r['plan']} | {sys.argv[3]} | {modes} | {r['median_s']:.2f} | "
      f"{r['last_stage_seconds'].get('denoise', 0):.2f} | {r['peak_rss_bytes'] / 2**30:.2f} |")
PY
  done
done
