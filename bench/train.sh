#!/usr/bin/env bash
# What LoRA training costs on the real architecture (random weights): `i2v train-lora` on one
# synthetic 8-frame clip, bf16, rank 8 on to_q/to_k/to_v/to_out.0, with and without gradient
# checkpointing (every layer, or only the highest-resolution level's). Prints s/step (median of
# the steps) and RSS: before the steps (weights resident), peak during them, and the difference
# (what training holds above the weights).
#
#   bench/train.sh [MODEL]     (default /work/models/i2vgen-xl-bf16)
# Environment: SIZE (256), FRAMES (8), STEPS (3), RANK (8), THREADS (2), I2V, MODES (off on
# high-res: checkpointing off, every layer, the highest-resolution level's layers only).
set -euo pipefail
cd "$(dirname "$0")/.."
I2V=${I2V:-build/bin/i2v}
MODEL=${1:-/work/models/i2vgen-xl-bf16}
SIZE=${SIZE:-256} FRAMES=${FRAMES:-8} STEPS=${STEPS:-3} RANK=${RANK:-8} THREADS=${THREADS:-2}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# One clip: a folder of PNG frames (a square moving right) and its caption.
python3 - "$OUT/data/clip" "$SIZE" "$FRAMES" <<'PY'
import os, struct, sys, zlib
d, size, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d)
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
for f in range(frames):
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            inside = size // 8 + f * size // 32 <= x < size // 3 + f * size // 32 and size // 3 <= y < size // 2
            row += bytes([230, 40, 40] if inside else [30, 60 + y * 150 // size, 120])
        rows.append(bytes(row))
    with open(f"{d}/{f:03d}.png", "wb") as o:
        o.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(b''.join(rows))) + chunk(b'IEND', b''))
open(os.path.dirname(d) + "/clip.txt", "w").write("a red square moving right")
PY
echo "| gradient checkpointing | s/step (median of $STEPS) | RSS before steps GiB | peak during steps GiB | above the weights GiB | process peak GiB |"
echo "| --- | --- | --- | --- | --- | --- |"
for ckpt in ${MODES:-off on high-res}; do
  flag=()
  [ "$ckpt" = on ] && flag=(--gradient-checkpointing)
  [ "$ckpt" = high-res ] && flag=(--gradient-checkpointing --checkpoint-layers high-res)
  "$I2V" --threads "$THREADS" train-lora --model "$MODEL" --data "$OUT/data" \
    --out "$OUT/lora-$ckpt.safetensors" --steps "$STEPS" --rank "$RANK" --alpha "$RANK" \
    --frames "$FRAMES" --width "$SIZE" --height "$SIZE" --precision bf16 --save-every 0 \
    "${flag[@]}" > /dev/null 2>&1
  python3 - "$OUT/lora-$ckpt.log.json" "$ckpt" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
s = sorted(x["seconds"] for x in log["steps"])
m = log["memory"]; g = 2**30
b, p = m["rss_before_steps_bytes"] / g, m["peak_rss_steps_bytes"] / g
print(f"| {sys.argv[2]} | {s[len(s) // 2]:.1f} | {b:.2f} | {p:.2f} | {p - b:.2f} | {log['peak_rss_bytes'] / g:.2f} |")
PY
done
