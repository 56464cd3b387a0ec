#!/usr/bin/env bash
# The console's browser test: builds `oaasc`, starts `oaasc serve` on a free port over a fresh
# data folder, deploys examples/video, makes 10,000 `Detection` objects and a clip
# (runtime/ui/test/serve.sh), then runs runtime/ui/test/console.test.mjs in Debian's chromium
# through playwright-core. Screenshots go to $SCREENSHOTS (default
# target/console-screenshots; `SCREENSHOTS=docs/console runtime/ui/test.sh` refreshes the
# ones docs/console.md shows). Needs: chromium (apt-get install chromium), Node.js with npm,
# and the video example's Python packages (examples/video/requirements.txt, sdk/python).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. runtime/ui/test/serve.sh

shots=${SCREENSHOTS:-$target/console-screenshots}
mkdir -p "$shots"
export SCREENSHOTS=$(cd "$shots" && pwd)
python3 examples/video/tools/make_clip.py "$work/clip.mp4" >/dev/null
export CLIP=$work/clip.mp4

status=0
started=$(date +%s)
(cd runtime/ui/test && node --test --test-reporter=spec console.test.mjs) || status=$?
echo "browser test: $(($(date +%s) - started)) s"
if [ "$status" -ne 0 ]; then
  echo "--- oaasc serve log (last 60 lines)"
  tail -60 "$work/serve.log"
fi
echo "screenshots in $SCREENSHOTS"
exit "$status"
