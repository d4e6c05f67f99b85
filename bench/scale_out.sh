#!/usr/bin/env bash
# Throughput of the shared PostgreSQL queue: one `i2v serve --jobs ... --no-local-worker` front
# and 1, 2, 3 `i2v worker`s (one thread each) on the built-in tiny model, JOBS jobs per run;
# prints jobs per minute and the queue's cost per job (claim + image + progress + events, as the
# workers recorded it in each result's queue_seconds; the claim alone, claim_seconds; and the
# number of events), on a scratch server (scripts/pg-scratch).
#
# WORKERS "0" is the baseline: `i2v serve` alone, SQLite, its own worker thread (no PostgreSQL).
#
#   bench/scale_out.sh            Environment: JOBS (24), STEPS (4), WORKERS ("0 1 2 3"), I2V
set -euo pipefail
cd "$(dirname "$0")/.."
I2V=${I2V:-$PWD/build/bin/i2v}
JOBS=${JOBS:-24} STEPS=${STEPS:-4} WORKERS=${WORKERS:-"0 1 2 3"}
TMP=$(mktemp -d /tmp/i2v-scale.XXXXXX)
chmod 755 "$TMP"  # as root, the server runs as user postgres and must reach $TMP/pg
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  scripts/pg-scratch stop "$TMP/pg" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
BASE=$(scripts/pg-scratch start "$TMP/pg")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$TMP/in.png" <<'PY'
import struct, sys, zlib
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
size = 64
rows = b''.join(b'\0' + b''.join(bytes((x * 4, y * 4, 128)) for x in range(size)) for y in range(size))
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 8, 2, 0, 0, 0))
                              + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
PY
echo "| workers | jobs | wall s | jobs/min | queue ms per job, mean (max) | of which claim ms | events per job |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for n in $WORKERS; do
  db="w$n"
  psql -q "$BASE" -c "CREATE DATABASE $db" >/dev/null
  URL="${BASE%/*}/$db"
  OUTS="$TMP/out$n"
  if [[ $n == 0 ]]; then
    SHARED=()
  else
    SHARED=(--jobs "$URL" --no-local-worker)
  fi
  "$I2V" --threads 1 serve --port "$PORT" "${SHARED[@]}" --outputs "$OUTS" \
    --logs "$TMP/logs" > "$TMP/front$n.log" 2>&1 &
  FRONT=$!
  PIDS+=("$FRONT")
  for _ in $(seq 1 600); do  # the front first: it makes the built-in model the first time
    curl -sf "http://127.0.0.1:$PORT/api/system" > /dev/null && break
    sleep 0.1
  done
  WPIDS=()
  for i in $(seq 1 "$n"); do
    "$I2V" --threads 1 worker --jobs "$URL" --outputs "$OUTS" > "$TMP/worker$n-$i.log" 2>&1 &
    WPIDS+=($!)
    PIDS+=($!)
  done
  for i in $(seq 1 "$n"); do  # every worker has loaded the model and is waiting
    for _ in $(seq 1 300); do grep -q "i2v worker" "$TMP/worker$n-$i.log" && break; sleep 0.1; done
  done
  t0=$(date +%s.%N)
  for j in $(seq 1 "$JOBS"); do
    curl -sf -F "image=@$TMP/in.png" -F "params={\"prompt\":\"a fox\",\"width\":64,\"height\":64,\"frames\":8,\"steps\":$STEPS,\"seed\":$j}" \
      "http://127.0.0.1:$PORT/api/jobs" > /dev/null
  done
  while true; do
    done_n=$(curl -sf "http://127.0.0.1:$PORT/api/jobs?status=finished&limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
    [[ "$done_n" -ge "$JOBS" ]] && break
    sleep 0.05
  done
  t1=$(date +%s.%N)
  curl -sf "http://127.0.0.1:$PORT/api/jobs?status=finished&limit=1000" |
    python3 -c '
import json, sys
n, t0, t1 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
jobs = json.load(sys.stdin)["jobs"]
q = [j["result"]["queue_seconds"] * 1000 for j in jobs]
c = [j["result"]["claim_seconds"] * 1000 for j in jobs]
e = [j["result"]["events"] for j in jobs]
wall = t1 - t0
label = n if n else "0: serve alone (SQLite, no PostgreSQL)"
print(f"| {label} | {len(jobs)} | {wall:.1f} | {len(jobs) / wall * 60:.1f} | {sum(q) / len(q):.1f} ({max(q):.1f}) "
      f"| {sum(c) / len(c):.2f} | {sum(e) / len(e):.0f} |")
' "$n" "$t0" "$t1"
  kill "${WPIDS[@]}" "$FRONT" 2>/dev/null || true
  wait "${WPIDS[@]}" "$FRONT" 2>/dev/null || true
done
