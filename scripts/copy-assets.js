'use strict';
// Node-RED loads a node's editor HTML, its locales and its icons from beside the
// node's .js file, so the compiled adapters need them copied next to them.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'nodes');

function copyTree(from, to) {
  if (!fs.existsSync(from)) return;
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) copyTree(src, dst);
    else fs.copyFileSync(src, dst);
  }
}

// Editor plugins (the SIP ladder) follow the same rule in their own folder.
for (const dir of ['', 'plugins']) {
  const from = path.join(root, 'nodes', dir);
  const to = path.join(out, dir);
  if (!fs.existsSync(from)) continue;
  fs.mkdirSync(to, { recursive: true });
  for (const name of fs.readdirSync(from)) {
    if (name.endsWith('.html')) fs.copyFileSync(path.join(from, name), path.join(to, name));
  }
  copyTree(path.join(from, 'locales'), path.join(to, 'locales'));
}
copyTree(path.join(root, 'icons'), path.join(out, 'icons'));
