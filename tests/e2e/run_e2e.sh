#!/usr/bin/env bash
# The browser test of `i2v serve`: starts the server (built-in tiny model) on a free loopback
# port, installs playwright-core from package-lock.json (npm ci, once) and runs
# serve_page_test.js in Debian's headless chromium. Exits 77 (CTest: skipped) only when chromium
# is missing or cannot start.
# usage: run_e2e.sh <i2v binary> <work dir>      (SHOTS=dir to save screenshots)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
work=$2
mkdir -p "$work"
work=$(cd "$work" && pwd)

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z $CHROMIUM ]]; then
  echo "e2e: SKIPPED: chromium is not installed (scripts/install-deps installs it)"
  exit 77
fi
if ! timeout 60 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --dump-dom about:blank >/dev/null 2>"$work/chromium-probe.log"; then
  echo "e2e: SKIPPED: chromium cannot start here:"; tail -5 "$work/chromium-probe.log"
  exit 77
fi
export CHROMIUM

# playwright-core, exactly as locked.
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [[ ! -d $work/node_modules/playwright-core ]]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
fi
cp "$here/serve_page_test.js" "$work/"

rm -rf "$work/run"
mkdir -p "$work/run/downloads"
export I2V_HOME="$work/home"  # the tiny default model is made here once and reused
"$bin" --threads 1 serve --precision fp32 --port 0 --outputs "$work/run/outputs" --logs "$work/run/logs" >"$work/run/serve.log" 2>&1 &
pid=$!
# SIGTERM stops after the current step; a stuck server is killed after 20 s.
stop_server() {
  kill -TERM $pid 2>/dev/null || return 0
  for _ in $(seq 1 200); do kill -0 $pid 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL $pid 2>/dev/null || true
}
trap stop_server EXIT
url=""
for _ in $(seq 1 1200); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$work/run/serve.log" | head -1 || true)
  [[ -n $url ]] && break
  if ! kill -0 $pid 2>/dev/null; then echo "e2e: the server died:"; cat "$work/run/serve.log"; exit 1; fi
  sleep 0.1
done
if [[ -z $url ]]; then echo "e2e: the server did not start:"; cat "$work/run/serve.log"; exit 1; fi
echo "e2e: server at $url"

image=$work/run/input.png
cp "$here/fox.png" "$image"
status=0
(cd "$work" && node serve_page_test.js "$url" "$image" "$work/run/downloads") || status=$?
if [[ $status -ne 0 ]]; then echo "--- server log"; tail -40 "$work/run/serve.log"; fi
exit $status
