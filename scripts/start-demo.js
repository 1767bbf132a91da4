'use strict';
// `npm start`: Node-RED on http://127.0.0.1:1880 with this pack and the demo
// flow (PoC, IM and CPM clients, a server, and the embedded lab core).
// The demo's user directory is .demo/; delete it to start from the demo flow again.
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');

const root = path.resolve(__dirname, '..');
const userDir = path.join(root, '.demo');
const host = process.env.NODE_RED_HOST || '127.0.0.1';
const port = Number(process.env.NODE_RED_PORT || 1880);
const demoFile = path.join(root, 'examples', '3 settings', '01 - OMA PoC registration flow, steps 1 to 32.json');

function ensureBuilt() {
  if (!fs.existsSync(path.join(root, 'dist', 'nodes', 'oma-register.js'))) {
    throw new Error('the pack is not built: run `npm install` (or `npm run build`) first');
  }
}

function prepareUserDir() {
  const modules = path.join(userDir, 'node_modules');
  fs.mkdirSync(modules, { recursive: true });
  // Node-RED loads packs from <userDir>/node_modules; link this checkout in.
  const link = path.join(modules, 'node-red-contrib-oma-sip');
  if (!fs.existsSync(link)) fs.symlinkSync(root, link, 'dir');
  const settings = path.join(userDir, 'settings.js');
  fs.writeFileSync(
    settings,
    `module.exports = {
  uiHost: ${JSON.stringify(host)},
  uiPort: ${port},
  flowFile: 'flows.json',
  // Credentials are encrypted with a key of this demo directory only.
  credentialSecret: ${JSON.stringify(demoSecret())},
  logging: { console: { level: 'info', metrics: false, audit: false } },
  // A lab machine is often offline: no update check, no online palette catalogue.
  telemetry: { enabled: false },
  editorTheme: { projects: { enabled: false }, tours: false, palette: { catalogues: [] } },
};
`,
  );
  return settings;
}

function demoSecret() {
  const f = path.join(userDir, '.secret');
  if (!fs.existsSync(f)) fs.writeFileSync(f, require('crypto').randomBytes(16).toString('hex'), { mode: 0o600 });
  return fs.readFileSync(f, 'utf8').trim();
}

function request(method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const data = body ? Buffer.from(JSON.stringify(body)) : undefined;
    const req = http.request(
      {
        host,
        port,
        path: urlPath,
        method,
        headers: {
          'content-type': 'application/json',
          'node-red-deployment-type': 'full',
          ...(data ? { 'content-length': data.length } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function waitForEditor(deadline) {
  while (Date.now() < deadline) {
    try {
      const r = await request('GET', '/flows');
      if (r.status === 200) return JSON.parse(r.text);
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Node-RED did not answer on http://${host}:${port} in time`);
}

/** The demo flow on its own tab; deployed through the admin API so the runtime stores its credentials encrypted. */
function demoFlow() {
  // Ids of its own, so that importing the same example next to the demo does not clash ("nodes already exist").
  const original = JSON.parse(fs.readFileSync(demoFile, 'utf8'));
  const ids = new Map(original.map((n) => [n.id, `demo-${n.id}`]));
  const renamed = (v) => (typeof v === 'string' && ids.has(v) ? ids.get(v) : Array.isArray(v) ? v.map(renamed) : v);
  const nodes = original.map((n) => Object.fromEntries(Object.entries(n).map(([k, v]) => [k, k === 'credentials' ? v : renamed(v)])));
  // Config nodes are named after the example they come from; here they belong to the demo.
  for (const n of nodes) if (typeof n.name === 'string') n.name = n.name.replace(/^example [\d.]+: /, 'demo: ');
  // The demo ran before any browser connected: say where its start is to be seen.
  const intro = nodes.find((n) => n.type === 'comment');
  if (intro) {
    intro.info =
      'The demo started before your browser connected, so the debug sidebar shows only what happens from now on; ' +
      "the SIP ladder tab in the sidebar holds the whole history, from the first REGISTER on.\n\n" +
      (intro.info || '');
  }
  const tab = { id: 'oma-demo-tab', type: 'tab', label: 'OMA SIP demo', info: 'Imported from the pack examples on first start.' };
  // Config nodes (no position on the canvas) stay global; oma-sip-trace is a flow node despite its prefix.
  return [tab, ...nodes.map((n) => ('x' in n ? { ...n, z: tab.id } : n))];
}

async function main() {
  ensureBuilt();
  const settings = prepareUserDir();
  const firstRun = !fs.existsSync(path.join(userDir, 'flows.json'));
  const bin = require.resolve('node-red/red.js');
  const child = spawn(process.execPath, [bin, '-u', userDir, '-s', settings], { stdio: 'inherit' });
  const stop = () => child.kill('SIGINT');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  child.on('exit', (code) => process.exit(code ?? 0));

  const current = await waitForEditor(Date.now() + 60000);
  const hasFlows = Array.isArray(current) ? current.length > 0 : Array.isArray(current.flows) && current.flows.length > 0;
  if (firstRun || !hasFlows) {
    const r = await request('POST', '/flows', demoFlow());
    if (r.status !== 200 && r.status !== 204) throw new Error(`deploying the demo flow failed: ${r.status} ${r.text}`);
    console.log('Demo flow deployed.');
  }
  console.log(`\nOpen http://${host}:${port} : the OMA SIP demo tab runs the OMA PoC registration flow (register, reg event, settings) against the lab core; the SIP ladder sidebar tab shows the messages.\n`);
}

// The browser test deploys the same demo (on free ports) without starting this script.
module.exports = { demoFlow };

if (require.main === module) {
  main().catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}
