#!/usr/bin/env bash
# The console's page weight and first paint with many objects (issue 18: under 500 KB, under
# 1 s with 10,000 objects): starts `oaasc serve` with examples/video and $OBJECTS (default
# 10,000) `Detection` objects (runtime/ui/test/serve.sh, as the browser test does), then loads
# the objects page $RUNS times (default 7) in Debian's chromium and prints the figures
# (runtime/ui/test/bench.mjs). Results: bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. runtime/ui/test/serve.sh
echo "oaasc: $oaasc (debug build); load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
(cd runtime/ui/test && OBJECTS=${OBJECTS:-10000} node bench.mjs)
