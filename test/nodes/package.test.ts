// What the editor gets from a real Node-RED with this pack installed: the
// node sets load without error, each node's help, messages and icon are
// served, and the examples are listed. The test helper never reads the .html
// files, so mistakes there only show here (or in a browser).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { projectRoot } from '../support/project-root';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { requireNodeRed } from '../support/node-red-under-test';

const TYPES = ['oma-sip-endpoint', 'oma-sip-user', 'oma-register', 'oma-third-party-register', 'oma-lab-core', 'oma-reg-event', 'oma-publish-settings', 'oma-settings-watch', 'oma-settings-server', 'oma-sip-trace', 'oma-deliver-deferred', 'oma-inbox'];
const MODULE = 'node-red-contrib-oma-sip';

describe('package: the pack in a real Node-RED', function () {
  this.timeout(60000);
  let red: NodeRedProcess;

  before(async () => {
    red = await startNodeRed();
  });
  after(async () => {
    await red?.stop();
  });

  it('npm pack ships the built nodes with their editor files, locales, icons and examples', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: projectRoot(), encoding: 'utf8' });
    const files = new Set((JSON.parse(out) as [{ files: { path: string }[] }])[0].files.map((f) => f.path));
    for (const t of TYPES) {
      for (const f of [`dist/nodes/${t}.js`, `dist/nodes/${t}.html`, `dist/nodes/locales/en-US/${t}.json`, `dist/nodes/locales/en-US/${t}.html`]) {
        assert.ok(files.has(f), `${f} is in the package`);
      }
    }
    assert.ok(files.has('dist/nodes/icons/oma-register.svg'));
    assert.ok(files.has('resources/oma-sip-editor.js'), 'the edit dialogs’ shared script');
    assert.ok([...files].some((f) => f.startsWith('examples/1 registration/')));
    assert.ok(![...files].some((f) => f.startsWith('test/') || f.startsWith('lib/')), 'no tests or TypeScript sources');
  });

  it('runs the Node-RED under test (OMA_NODE_RED_DIR, else the project’s own)', async () => {
    const expected = requireNodeRed<{ version: string }>('node-red/package.json').version;
    const settings = (await red.request('GET', '/settings')).body as { version: string };
    assert.equal(settings.version.replace(/-git$/, ''), expected, 'a Node-RED run from a git tree says -git');
    console.log(`      Node-RED ${settings.version} on Node ${process.version}`);
  });

  it('loads every node set without error', async () => {
    const r = await red.request('GET', '/nodes');
    const sets = (r.body as { module: string; types: string[]; enabled: boolean; err?: string }[]).filter((s) => s.module === MODULE);
    assert.deepEqual(sets.flatMap((s) => s.types).sort(), [...TYPES].sort());
    for (const s of sets) {
      assert.equal(s.enabled, true);
      assert.equal(s.err, undefined, `${s.types}: ${s.err}`);
    }
  });

  it('loads the SIP ladder plugin and serves its editor part', async () => {
    const list = (await red.request('GET', '/plugins')).body as { id: string; module: string; err?: string }[];
    const ladder = list.find((p) => p.module === MODULE && p.id.endsWith('oma-sip-ladder'));
    assert.ok(ladder, `plugins: ${JSON.stringify(list).slice(0, 300)}`);
    assert.equal(ladder.err, undefined);
    const html = (await red.request('GET', '/plugins', undefined, 'text/html')).body as string;
    assert.match(html, /oma-sip-ladder/, 'the plugin\'s editor script is served');
  });

  it('serves each node’s editor definition and help, and its messages in English', async () => {
    for (const t of TYPES) {
      const html = (await red.request('GET', `/nodes/${MODULE}/${t}`, undefined, 'text/html')).body as string;
      assert.match(html, new RegExp(`registerType\\('${t}'`), `${t} editor definition`);
      assert.match(html, new RegExp(`data-template-name="${t}"`), `${t} edit dialog`);
      assert.match(html, new RegExp(`data-help-name="${t}"`), `${t} help`);
      assert.match(html.slice(html.indexOf(`data-help-name="${t}"`)), /<h3>Status<\/h3>/, `${t} help says what its status means`);
      const catalog = (await red.request('GET', `/locales/${MODULE}/${t}?lng=en-US`)).body as Record<string, { label?: Record<string, string> }>;
      assert.ok(catalog[t]?.label?.name, `${t} has translated labels`);
      // Every data-i18n key the dialog uses exists in the catalog.
      for (const m of html.matchAll(/data-i18n="(?:\[[a-z]+\])?([^"]+)"/g)) {
        const key = m[1]!;
        const value = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], catalog);
        assert.equal(typeof value, 'string', `${t}: message ${key} is missing`);
      }
    }
  });

  it('serves the script the edit dialogs share, where their .html loads it from', async () => {
    const r = await red.request('GET', `/resources/${MODULE}/oma-sip-editor.js`, undefined, '*/*');
    assert.equal(r.status, 200);
    assert.match(String(r.body), /omaSipEditor/);
  });

  it('serves the icons the nodes name', async () => {
    for (const icon of ['oma-register.svg', 'oma-server.svg', 'oma-core.svg', 'oma-event.svg']) {
      const r = await red.request('GET', `/icons/${MODULE}/${icon}`);
      assert.equal(r.status, 200, icon);
    }
  });

  it('lists the examples under the module', async () => {
    const modules = (await red.request('GET', '/library/examples/flows/')).body as string[];
    assert.ok(modules.includes(MODULE), `modules with examples: ${modules}`);
    const groups = (await red.request('GET', `/library/examples/flows/${MODULE}`)).body as string[];
    assert.deepEqual([...groups].sort(), ['1 registration', '2 reg event', '3 settings', '4 trace', '5 deferred'], 'groups in the order a user reads them');
    const flows = ((await red.request('GET', `/library/examples/flows/${MODULE}/${encodeURIComponent('1 registration')}`)).body as { fn: string }[]).map((f) => f.fn);
    assert.ok(flows.some((f) => /^01 - PoC client/.test(f)), `registration examples: ${flows}`);
  });
});
