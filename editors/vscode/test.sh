#!/usr/bin/env bash
# Grammar and extension tests for the VS Code extension; CI runs this from any directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi
npm test
