#!/usr/bin/env bash
# 8-bit weights on the real architecture (random weights): for each model folder, peak RSS and
# seconds per denoising step of `i2v generate` (256x256x8, 2 steps, bf16 compute) under the
# default plan and under streaming, and the error against the first folder (bf16): one UNet
# forward (the step-0 conditional prediction), the final latents, and PSNR of the decoded frames.
# Prints a Markdown table.
#
#   bench/quant.sh BF16_MODEL [QUANTIZED_MODEL...]
#   bench/quant.sh /work/models/i2vgen-xl-bf16 /work/models/i2vgen-xl-{int8,fp8-e4m3,fp8-e5m2}
# (write them with: i2v make-model ... --dtype bf16; i2v quantize --model M --to int8 --out M8)
# Environment: SIZE (256), FRAMES (8), STEPS (2), PLANS ("auto stream"), PRECISION (bf16), I2V,
# OUT, TABLE_ONLY (print the table from earlier runs), NO_DUMP (keep the earlier error runs). The golden tiny model runs with SIZE=64.
set -euo pipefail
cd "$(dirname "$0")/.."
I2V=${I2V:-build/bin/i2v}
SIZE=${SIZE:-256} FRAMES=${FRAMES:-8} STEPS=${STEPS:-2} PLANS=${PLANS:-auto stream}
IMAGE=${IMAGE:-/work/shared/golden/input_image.png}
OUT=${OUT:-/tmp/i2v-bench-quant}
mkdir -p "$OUT"
[ $# -ge 1 ] || { sed -n 2,11p "$0"; exit 2; }
REF=$(basename "$1")
gen() {  # model plan name [extra...]
  local model=$1 plan=$2 name=$3; shift 3
  flock /tmp/i2v-bigrun.lock /usr/bin/time -v "$I2V" generate --model "$model" --image "$IMAGE" \
    --prompt "a fox in the snow" --width "$SIZE" --height "$SIZE" --frames "$FRAMES" \
    --steps "$STEPS" --precision "${PRECISION:-bf16}" --seed 1 --plan "$plan" --output "$OUT/$name.mp4" \
    --overwrite "$@" >"$OUT/$name.log" 2>&1
}
for model in "$@"; do
  [ -n "${TABLE_ONLY:-}" ] && break  # re-print the table from the runs already in $OUT
  m=$(basename "$model")
  for plan in $PLANS; do gen "$model" "$plan" "$m-$plan"; done
  [ -n "${NO_DUMP:-}" ] || gen "$model" auto "$m-dump" --dump "$OUT/$m-dump.safetensors"
done
echo "| weights | plan | weights on disk (UNet) | predicted peak | peak RSS | s/step | vs bf16 s/step | UNet forward rel. RMS err | final latents rel. RMS err | frames PSNR |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for model in "$@"; do
  m=$(basename "$model")
  if [ "$m" != "$REF" ]; then
    "$I2V" bench compare "$OUT/$m-dump.safetensors" "$OUT/$REF-dump.safetensors" \
      --name step0.noise_pred_text --name final_latents --name decoded_video >"$OUT/$m-error.json"
  else
    echo '{}' >"$OUT/$m-error.json"
  fi
  for plan in $PLANS; do
    python3 - "$OUT" "$m" "$plan" "$REF" "$STEPS" "$model" <<'PY'
import glob, json, os, re, sys
out, m, plan, ref, steps, model = sys.argv[1:7]
def run(name):
    meta = json.load(open(f"{out}/{name}.mp4.json")); log = open(f"{out}/{name}.log").read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log).group(1)) * 1024
    return meta, rss, meta["stage_seconds"]["denoise"] / float(steps)
meta, rss, step = run(f"{m}-{plan}")
_, _, ref_step = run(f"{ref}-{plan}")
err = json.load(open(f"{out}/{m}-error.json"))
def e(name, key, fmt):
    return fmt % err[name][key] if name in err and key in err[name] else "–"
disk = sum(os.path.getsize(f) for f in glob.glob(f"{model}/unet/*.safetensors"))
gib = lambda b: "%.2f GiB" % (b / 2**30)
print(f"| {m} | {meta['memory']['final_plan']['name']} | {gib(disk)} | "
      f"{gib(meta['memory']['predicted_peak_bytes'])} | {gib(rss)} | {step:.2f} | {step / ref_step:.3f}x | "
      f"{e('step0.noise_pred_text', 'relative_rms', '%.2e')} | {e('final_latents', 'relative_rms', '%.2e')} | "
      f"{e('decoded_video', 'psnr_db', '%.1f dB')} |")
PY
  done
done
