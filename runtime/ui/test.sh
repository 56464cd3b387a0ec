#!/usr/bin/env bash
# The console's browser test: builds `oaasc`, starts `oaasc serve` on a free port over a fresh
# data folder, deploys examples/video, makes 10,000 `Detection` objects and a clip, then runs
# runtime/ui/test/console.test.mjs in Debian's chromium through playwright-core. Screenshots
# go to $SCREENSHOTS (default target/console-screenshots). Needs: chromium (apt-get install
# chromium), Node.js with npm, and the video example's Python packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD

cargo build -q -p oaasc
target=${CARGO_TARGET_DIR:-$root/target}
oaasc=$target/debug/oaasc
export SCREENSHOTS=${SCREENSHOTS:-$target/console-screenshots}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "no chromium at $CHROMIUM: apt-get install -y chromium" >&2; exit 1; }

(cd runtime/ui/test && npm ci --no-audit --no-fund --silent)

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export OAAS_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export OAAS_URL=http://127.0.0.1:$port
"$oaasc" serve --data "$work/data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "$OAAS_URL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$OAAS_URL/healthz" >/dev/null || { cat "$work/serve.log"; exit 1; }

"$oaasc" deploy examples/video --cluster "$OAAS_URL"
python3 examples/video/tools/make_clip.py "$work/clip.mp4" >/dev/null
export CLIP=$work/clip.mp4

# 10,000 objects for the first-paint measure, 16 requests at a time.
node --input-type=module -e '
const base = process.env.OAAS_URL, auth = "Bearer " + process.env.OAAS_TOKEN;
let next = 0;
async function worker() {
  while (next < 10000) {
    const i = next++;
    const r = await fetch(base + "/api/classes/video.Detection/objects", { method: "POST",
      headers: { Authorization: auth, "Content-Type": "application/json" }, body: JSON.stringify({ frames_scanned: i }) });
    if (r.status !== 201) throw new Error("object " + i + ": " + r.status + " " + await r.text());
  }
}
await Promise.all(Array.from({ length: 16 }, worker));
console.log("made 10000 Detection objects");
'

status=0
(cd runtime/ui/test && node --test --test-reporter=spec console.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- oaasc serve log (last 60 lines)"
  tail -60 "$work/serve.log"
fi
echo "screenshots in $SCREENSHOTS"
exit "$status"
