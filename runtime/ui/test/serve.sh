# Sourced by runtime/ui/test.sh and bench/console.sh, from the repository root: builds
# `oaasc`, installs playwright-core (runtime/ui/test/package-lock.json), starts `oaasc serve`
# on a free port over a fresh data folder, deploys examples/video and makes $OBJECTS
# `Detection` objects (`frames_scanned` 0, 1, ...), 16 requests at a time. Exports OAAS_URL,
# OAAS_TOKEN and CHROMIUM; `$work` is a scratch folder, removed with the server on exit.
# Needs: chromium (apt-get install chromium), Node.js with npm, python3.

cargo build -q -p oaasc
target=${CARGO_TARGET_DIR:-$PWD/target}
oaasc=$target/debug/oaasc
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "no chromium at $CHROMIUM: apt-get install -y chromium" >&2; exit 1; }

# .ci/run installs it beforehand; a first run here does.
[ -d runtime/ui/test/node_modules/playwright-core ] || (cd runtime/ui/test && npm ci --no-audit --no-fund --silent)

work=$(mktemp -d)
server=
stop_server() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap stop_server EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export OAAS_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export OAAS_URL=http://127.0.0.1:$port
"$oaasc" serve --data "$work/data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "$OAAS_URL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$OAAS_URL/healthz" >/dev/null || { cat "$work/serve.log"; exit 1; }

"$oaasc" deploy examples/video --cluster "$OAAS_URL"

OBJECTS=${OBJECTS:-10000} node --input-type=module -e '
const base = process.env.OAAS_URL, auth = "Bearer " + process.env.OAAS_TOKEN, total = Number(process.env.OBJECTS);
let next = 0;
async function worker() {
  while (next < total) {
    const i = next++;
    const r = await fetch(base + "/api/classes/video.Detection/objects", { method: "POST",
      headers: { Authorization: auth, "Content-Type": "application/json" }, body: JSON.stringify({ frames_scanned: i }) });
    if (r.status !== 201) throw new Error("object " + i + ": " + r.status + " " + await r.text());
  }
}
await Promise.all(Array.from({ length: 16 }, worker));
console.log(`made ${total} Detection objects`);
'
