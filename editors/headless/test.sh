#!/usr/bin/env bash
# The headless editor session (session.py) against the `oaasc` of this checkout; CI runs this
# from any directory (.ci/run), after installing requirements.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cargo build --quiet -p oaasc
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
python3 editors/headless/session.py "$target/debug/oaasc"
