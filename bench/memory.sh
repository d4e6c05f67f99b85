#!/usr/bin/env bash
# Peak memory and time of `i2v generate` per plan and size on the real architecture (random
# weights), with the estimator's prediction beside each measurement. Every run holds
# /tmp/i2v-bigrun.lock (one big run at a time on the machine). Prints a Markdown table.
#
#   bench/memory.sh [MODEL] [CASES...]      CASE = WIDTHxHEIGHTxFRAMES:PLAN[:STEPS]
#   bench/memory.sh /work/models/i2vgen-xl-bf16 256x256x8:plain 256x256x8:stream
# Environment: PRECISION (bf16; fp32 computes from the same files: the UNet then stays bf16 and
# each block is cast while it runs), EXTRA (more generate flags, e.g. "--vae-tile 256"), I2V.
set -euo pipefail
cd "$(dirname "$0")/.."
I2V=${I2V:-build/bin/i2v}
MODEL=${1:-/work/models/i2vgen-xl-bf16}
shift || true
CASES=("$@")
if [ ${#CASES[@]} -eq 0 ]; then
  CASES=(256x256x8:plain 256x256x8:chunked 256x256x8:chunked+seqcfg 256x256x8:stream
         256x256x16:plain 384x384x8:plain)
fi
IMAGE=${IMAGE:-/work/shared/golden/input_image.png}
OUT=${OUT:-/tmp/i2v-bench-memory}
mkdir -p "$OUT"
echo "| size | frames | plan | steps | predicted peak | measured peak RSS | error | wall s | s/step |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in "${CASES[@]}"; do
  IFS=: read -r shape plan steps <<<"$c"
  steps=${steps:-1}
  IFS=x read -r w h f <<<"$shape"
  name="${w}x${h}x${f}_${plan}_${steps}_${PRECISION:-bf16}"
  log="$OUT/$name.log"
  flock /tmp/i2v-bigrun.lock /usr/bin/time -v "$I2V" generate --model "$MODEL" --image "$IMAGE" \
    --prompt "a fox in the snow" --width "$w" --height "$h" --frames "$f" --steps "$steps" \
    --precision "${PRECISION:-bf16}" --seed 1 ${EXTRA:-} --plan "$plan" --output "$OUT/$name.mp4" --overwrite >"$log" 2>&1
  python3 - "$OUT/$name.mp4.json" "$log" "$w" "$f" "$plan" "$steps" <<'PY'
import json, re, sys
meta = json.load(open(sys.argv[1])); log = open(sys.argv[2]).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log).group(1)) * 1024
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", log).group(1)
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
pred = meta["memory"]["predicted_peak_bytes"]
step = meta["stage_seconds"]["denoise"] / float(sys.argv[6])
gib = lambda b: "%.2f GiB" % (b / 2**30)
print(f"| {sys.argv[3]}² | {sys.argv[4]} | {sys.argv[5]} | {sys.argv[6]} | {gib(pred)} | {gib(rss)} | "
      f"{100.0 * (pred - rss) / rss:+.1f} % | {secs:.0f} | {step:.1f} |")
PY
done
