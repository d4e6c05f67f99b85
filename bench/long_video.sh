#!/usr/bin/env bash
# Long videos and streaming output on the real architecture (random weights): peak RSS of
# `generate` at 16 frames (one window, the default plan) and at 64 frames in windows of 16, the
# VAE decode stage's RSS peak, and the time to the first decoded frame (streaming) against the
# end of the run. With OLD=<an i2v binary from before streaming output>, the same 64-frame run
# of that binary (every frame through the UNet at once, decoded frames held) is added.
#
#   bench/long_video.sh [MODEL]     (default /work/models/i2vgen-xl-bf16)
# Environment: SIZE (256), STEPS (1), THREADS (2), I2V, OLD.
set -euo pipefail
cd "$(dirname "$0")/.."
I2V=${I2V:-build/bin/i2v}
MODEL=${1:-/work/models/i2vgen-xl-bf16}
SIZE=${SIZE:-256} STEPS=${STEPS:-1} THREADS=${THREADS:-2}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
python3 - "$OUT/in.png" "$SIZE" <<'PY'
import struct, sys, zlib
path, size = sys.argv[1], int(sys.argv[2])
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
rows = b''.join(b'\0' + b''.join(bytes((x * 255 // size, y * 255 // size, 128)) for x in range(size))
               for y in range(size))
open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 8, 2, 0, 0, 0))
                       + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
PY
echo "| binary | frames | windows | wall s | first frame at s | peak RSS GiB | predicted GiB | UNet stage RSS peak GiB | VAE decode stage RSS peak GiB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
run() {  # label binary frames extra-args...
  local label=$1 bin=$2 frames=$3
  shift 3
  local out="$OUT/$label-$frames.mp4" log="$OUT/$label-$frames.log"
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" --threads "$THREADS" generate --model "$MODEL" --image "$OUT/in.png" --prompt "a fox" \
    --width "$SIZE" --height "$SIZE" --frames "$frames" --steps "$STEPS" --precision bf16 \
    --seed 1 --output "$out" "$@" > "$log" 2>&1
  t1=$(date +%s.%N)
  python3 - "$out.json" "$log" "$label" "$frames" "$t0" "$t1" <<'PY'
import json, re, sys
meta = json.load(open(sys.argv[1]))
log = open(sys.argv[2]).read()
g = 2**30
m = re.search(r"first frames decoded ([0-9.]+) s", log)
first = m.group(1) if m else "at the end"
st = meta["memory"]["stages"]
def rss(stage):
    s = st.get(stage, {})
    return f"{s.get('rss_peak_bytes', s.get('peak_rss_bytes', 0)) / g:.2f}"
w = meta.get("windows")
wins = f"{w['count']} x {w['length']} (stride {w['stride']})" if w else "none"
print(f"| {sys.argv[3]} | {sys.argv[4]} | {wins} | {float(sys.argv[6]) - float(sys.argv[5]):.0f} | {first} | "
      f"{meta['memory']['peak_rss_bytes'] / g:.2f} | {meta['memory']['predicted_peak_bytes'] / g:.2f} | "
      f"{rss('unet')} | {rss('vae_decode')} |")
PY
}
run new "$I2V" 16
run new "$I2V" 64
if [ -n "${OLD:-}" ]; then run old "$OLD" 64; fi
