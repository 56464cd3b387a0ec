#!/usr/bin/env bash
# Tests of the tree-sitter grammar; CI runs this from any directory (.ci/run).
#
# 1. `tree-sitter generate` makes the parser from grammar.js (the generated src/ is not
#    committed, see docs/design-notes.md);
# 2. `tree-sitter test` runs the corpus (test/corpus) and checks queries/highlights.scm;
# 3. every .oaas file of examples/ and stdlib/, and every parser fixture that must parse
#    without a diagnostic (tests/fixtures/syntax/valid), must parse with no ERROR or MISSING
#    node.
#
# The CLI is built from crates.io (the npm package `tree-sitter-cli` downloads a binary from
# GitHub when installed, which this project's machines cannot reach).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

version=0.27.1
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tree-sitter >/dev/null || [[ "$(tree-sitter --version)" != *" $version"* ]]; then
  cargo install tree-sitter-cli --version "$version" --locked
fi

tree-sitter generate
tree-sitter test

cd ../..
mapfile -t files < <(git ls-files 'examples/*.oaas' 'stdlib/*.oaas' 'tests/fixtures/syntax/valid/*.oaas')
if [ "${#files[@]}" -lt 20 ]; then
  echo "expected the .oaas files of examples/, stdlib/ and the valid fixtures, found ${#files[@]}" >&2
  exit 1
fi
failed=0
for f in "${files[@]}"; do
  # `parse` prints the tree; an error shows as (ERROR ...) or (MISSING ...).
  if ! tree=$(tree-sitter parse --grammar-path editors/tree-sitter "$f" 2>&1) \
     || grep -qE '\((ERROR|MISSING)' <<<"$tree"; then
    echo "FAIL $f"
    grep -nE '\((ERROR|MISSING)' <<<"$tree" | head -5 || true
    failed=$((failed + 1))
  fi
done
echo "parsed: $(( ${#files[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
