// The pack in the real Node-RED editor, in headless Chromium, against a real
// Node-RED process on free ports: what a user sees in the palette and the
// help, the demo that `npm start` deploys (its clients turn green, the SIP
// ladder draws the REGISTER exchange, and exports it), and every example
// imported through Import > Examples and deployed. The test helper never
// loads the editor; mistakes in the .html files, the plugin or the examples
// as the dialog imports them only show here. Screenshots go to a folder under
// the OS temp dir, and to OMA_SCREENSHOTS_DIR when set (the README's images).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openEditor, saveInto, screenshotDirs, type Editor } from '../support/browser';
import { clearWorkspace, deploy, importExample, invalidNodes, ladderRows, shownErrors, waitForStatuses, type CanvasStatus } from '../support/editor-page';
import { exampleFiles, freeExamplePorts, movePorts } from '../support/examples';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { projectRoot } from '../support/project-root';

// Functions passed to page.evaluate run in the editor: its globals, untyped here.
declare const RED: any;
declare const document: any;
declare const DOMParser: any;

const MODULE = 'node-red-contrib-oma-sip';
const CONFIG_TYPES = ['oma-sip-endpoint', 'oma-sip-user'];

/** Node types the pack registers (package.json is what Node-RED reads). */
function packTypes(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
  return Object.keys(pkg['node-red'].nodes);
}

/** The first sentence of a node's help as shipped, without markup. */
function helpOpening(type: string): string {
  const html = fs.readFileSync(path.join(projectRoot(), 'nodes', 'locales', 'en-US', `${type}.html`), 'utf8');
  const p = /<p>([\s\S]*?)<\/p>/.exec(html)?.[1] ?? '';
  return p.replace(/<[^>]+>/g, '').replace(/&[a-z]+;/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 40);
}

/** The demo `npm start` deploys (scripts/start-demo.js builds it). */
function demoFlow(): Record<string, unknown>[] {
  return (require(path.join(projectRoot(), 'scripts', 'start-demo.js')) as { demoFlow(): Record<string, unknown>[] }).demoFlow();
}


// The node types whose status says the example works once it is green (the
// same checks as test/support/example-checks.ts makes through the helper).
const GREEN_WHEN_WORKING = ['oma-lab-core', 'oma-register', 'oma-third-party-register', 'oma-reg-event', 'oma-publish-settings', 'oma-settings-watch', 'oma-settings-server'];

function allWorking(list: CanvasStatus[]): boolean {
  const ours = list.filter((s) => GREEN_WHEN_WORKING.includes(s.type));
  return ours.length > 0 && ours.every((s) => s.fill === 'green');
}

function noRed(list: CanvasStatus[], what: string): void {
  const red = list.filter((s) => s.fill === 'red');
  assert.equal(red.length, 0, `${what}: red status on ${red.map((s) => `${s.type} "${s.name}": ${s.text}`).join('; ')}`);
}

describe('browser: the pack in the real Node-RED editor (headless Chromium)', function () {
  this.timeout(60000);
  let red: NodeRedProcess;
  let browser: Browser;
  let editor: Editor;
  let page: Page;
  let demo: Record<string, unknown>[];
  const shots = screenshotDirs('oma-sip-browser-');

  before(async function () {
    this.timeout(120000);
    // Chromium first: without it the test fails at once, saying how to install it.
    browser = await launchChromium();
    red = await startNodeRed();
    // As `npm start` does: the demo is running before the browser connects, moved to free ports.
    demo = demoFlow();
    const ports = await freeExamplePorts();
    movePorts(demo, ports);
    // Endpoint names say where they listen; a user who moves a port renames them too (the ladder's lanes show the names).
    for (const n of demo) if (typeof n.name === 'string') n.name = n.name.replace(/:(5060|5070)\b/g, (_m, p: string) => `:${ports[p]}`);
    await red.deploy(demo);
    editor = await openEditor(browser, red.port, 'oma-register');
    page = editor.page;
    console.log(`      screenshots: ${shots.join(', ')}`);
  });

  after(async () => {
    await browser?.close();
    await red?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && page) {
      return page.screenshot({ path: path.join(shots[0]!, `failed-${this.currentTest.title.replace(/[^\w-]+/g, '_')}.png`) }).then(() => undefined, () => undefined);
    }
    return undefined;
  });

  it('opens on the SIP ladder tab, which holds what the demo did before the browser connected', async () => {
    await page.waitForFunction(() => {
      const filters = document.querySelector('.oma-ladder-filters');
      return !!filters && (filters as unknown as { offsetParent: unknown }).offsetParent !== null;
    }, null, { timeout: 10000 });
  });

  it('shows every node type of the pack in the palette with its own icon, and its help in the help sidebar', async () => {
    for (const type of packTypes()) {
      if (!CONFIG_TYPES.includes(type)) {
        // Configuration nodes are not in the palette (they are edited from the nodes that use them).
        const icon = await page.locator(`#red-ui-palette .red-ui-palette-node[data-palette-type="${type}"] .red-ui-palette-icon`).evaluate((e: { style: { backgroundImage: string } }) => e.style.backgroundImage);
        assert.match(icon, new RegExp(`icons/${MODULE}/[\\w-]+\\.svg`), `${type}: palette icon ${icon} is not one of the pack's`);
      }
      await page.evaluate((t) => RED.sidebar.help.show(t), type);
      const help = page.locator('.red-ui-sidebar-help-stack .red-ui-help, #red-ui-sidebar-content .red-ui-help').filter({ has: page.locator('.red-ui-help-title') }).first();
      await help.waitFor({ state: 'visible', timeout: 10000 });
      const text = await help.innerText();
      assert.ok(text.replace(/\s+/g, ' ').includes(helpOpening(type)), `${type}: the help sidebar shows "${text.slice(0, 120)}", not the pack's help ("${helpOpening(type)}...")`);
    }
    assert.deepEqual(editor.errors, [], 'no script error in the editor');
  });

  it('runs the demo: every client turns green on the canvas', async () => {
    const list = await waitForStatuses(page, (l) => l.some((s) => s.type === 'oma-register') && l.filter((s) => s.type === 'oma-register').every((s) => s.fill === 'green'), 'the demo\'s register nodes green');
    noRed(list, 'demo');
    await page.evaluate(() => RED.actions.invoke('oma-sip-ladder:show-sip-ladder'));
    // A wider sidebar, as a user drags it to read the ladder.
    const sep = await page.locator('#red-ui-sidebar-separator').boundingBox();
    if (sep) {
      await page.mouse.move(sep.x + sep.width / 2, sep.y + 200);
      await page.mouse.down();
      await page.mouse.move(sep.x - 260, sep.y + 200, { steps: 5 });
      await page.mouse.up();
    }
    await page.locator('.oma-ladder-scroller g[data-row]').first().waitFor({ timeout: 10000 });
    saveInto(shots, 'demo-canvas.png', await page.screenshot());
  });

  it('draws the demo\'s REGISTER, 401, REGISTER, 200 between the client\'s and the core\'s lanes, and exports them as text and SVG', async () => {
    const endpointName = (id: unknown) => String(demo.find((n) => n.id === id)!.name);
    const register = demo.find((n) => n.type === 'oma-register' && /alice/.test(String(n.name)))!;
    const core = demo.find((n) => n.type === 'oma-lab-core')!;
    const client = endpointName(register.endpoint);
    const coreLane = endpointName(core.endpoint);

    // Filter as a user would: REGISTER only, user alice.
    const filters = page.locator('.oma-ladder-filters');
    await filters.locator('select').nth(1).selectOption('REGISTER');
    await filters.locator('input').first().pressSequentially('alice');
    await page.waitForFunction(() => document.querySelectorAll('.oma-ladder-scroller g[data-row]').length >= 4, null, { timeout: 10000 });
    // The core's third-party REGISTER to the server (To: alice) interleaves: keep alice's own call,
    // its Call-ID read from the first REGISTER's message as a user would copy it.
    await page.locator('.oma-ladder-scroller g[data-row]').first().click();
    const firstMessage = page.locator('.oma-ladder-message');
    await firstMessage.waitFor({ state: 'visible' });
    const callId = /^Call-ID: *(\S+)/im.exec(await firstMessage.innerText())?.[1];
    assert.ok(callId, 'the first REGISTER shows its Call-ID');
    await filters.locator('input').nth(1).pressSequentially(callId);
    await page.waitForFunction(() => document.querySelectorAll('.oma-ladder-scroller g[data-row]').length === 4, null, { timeout: 10000 });
    const rows = await ladderRows(page);
    const first = rows.slice(0, 4);
    const drawn = first.map((r) => `${r.label} ${r.from} -> ${r.to}`).join('\n  ');
    const expect: [RegExp, string, string][] = [
      [/^REGISTER \(1\)$/, client, coreLane],
      [/^401 .*\(1\)$|^401 /, coreLane, client],
      [/^REGISTER \(2\)$/, client, coreLane],
      [/^200 .*\(2\)$|^200 /, coreLane, client],
    ];
    expect.forEach(([label, from, to], i) => {
      const r = first[i];
      assert.ok(r, `row ${i + 1} missing; drawn:\n  ${drawn}`);
      assert.match(r.label, label, `row ${i + 1}; drawn:\n  ${drawn}`);
      // A lane's name is cut to the lane's width with an ellipsis.
      assert.ok(from.startsWith(r.from.replace(/…$/, '')) && r.from.length > 3, `row ${i + 1} starts on "${r.from}", not on ${from}; drawn:\n  ${drawn}`);
      assert.ok(to.startsWith(r.to.replace(/…$/, '')) && r.to.length > 3, `row ${i + 1} ends on "${r.to}", not on ${to}; drawn:\n  ${drawn}`);
    });
    assert.equal(new Set(first.map((r) => r.colour)).size, 1, 'one colour: one Call-ID for the four');

    // The whole message, headers highlighted, for the second REGISTER (its digest response masked).
    await page.locator('.oma-ladder-scroller g[data-row]').nth(2).click();
    const message = page.locator('.oma-ladder-message');
    await message.waitFor({ state: 'visible' });
    assert.match(await message.innerText(), /^REGISTER sip:[\s\S]*Authorization: Digest [\s\S]*response="\*+"/);
    saveInto(shots, 'ladder.png', await page.locator('#red-ui-sidebar').screenshot());

    const toolbarButton = (icon: string) => page.locator(`a.red-ui-sidebar-header-button:visible:has(i.${icon})`);
    const download = async (icon: string) => {
      const [d] = await Promise.all([page.waitForEvent('download'), toolbarButton(icon).click()]);
      return fs.readFileSync((await d.path())!, 'utf8');
    };
    const text = await download('fa-file-text-o');
    saveInto(shots, 'ladder.txt', text);
    const ladder = text.split('\n').filter((l) => /^\d\d:\d\d:\d\d\.\d{3} /.test(l));
    assert.ok(ladder.length >= 4, `the text export has arrows:\n${text.slice(0, 800)}`);
    ['REGISTER', '401', 'REGISTER', '200'].forEach((m, i) => assert.match(ladder[i]!, new RegExp(`[-<>] *${m}\\b|\\b${m}\\b.*[-<>]`), `text export, arrow ${i + 1}:\n${ladder.slice(0, 4).join('\n')}`));
    assert.match(text, new RegExp(`lane \\d: ${client.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'the text names the client\'s lane');
    assert.match(text, /Authorization: Digest .*response="\*+"/, 'with the messages, digest response masked');

    const svg = await download('fa-file-image-o');
    saveInto(shots, 'ladder.svg', svg);
    const parsed = await page.evaluate((s) => {
      const doc = new DOMParser().parseFromString(s, 'image/svg+xml');
      return { error: doc.querySelector('parsererror')?.textContent ?? '', texts: [...doc.querySelectorAll('text')].map((t: any) => t.textContent ?? '') };
    }, svg);
    assert.equal(parsed.error, '', 'the SVG parses');
    const labels = parsed.texts.filter((t) => /^(REGISTER|\d{3}) /.test(t));
    assert.deepEqual(labels.slice(0, 4).map((t) => t.split(' ')[0]), ['REGISTER', '401', 'REGISTER', '200'], `SVG arrows: ${labels.slice(0, 6).join(' | ')}`);
    assert.ok(parsed.texts.includes(client), 'the SVG names the client\'s lane in full');
    assert.deepEqual(editor.errors, [], 'no script error in the editor');
  });

  for (const file of exampleFiles()) {
    const group = path.basename(path.dirname(file));
    const name = path.basename(file, '.json');
    it(`imports example "${group} / ${name}" through Import > Examples and deploys it with no error and no red status`, async () => {
      await clearWorkspace(page);
      await importExample(page, MODULE, group, name);
      assert.deepEqual(await invalidNodes(page), [], 'every imported node is properly configured (else Deploy asks to confirm)');
      // The examples listen on 5060 and 5070, which belong to the user here: move
      // them in the editor to ports this test picked, before deploying.
      const ports = await freeExamplePorts();
      const left = await page.evaluate((ports) => {
        const left: string[] = [];
        const move = (n: Record<string, unknown>) => {
          let changed = false;
          for (const k of Object.keys(n)) {
            if (!/port$/i.test(k)) continue;
            const to = ports[String(n[k])];
            if (to !== undefined) {
              n[k] = String(to);
              changed = true;
            }
            if (['5060', '5070'].includes(String(n[k]))) left.push(`${n.id}.${k}`);
          }
          if (changed) n.changed = true;
        };
        RED.nodes.eachNode(move);
        RED.nodes.eachConfig(move);
        RED.nodes.dirty(true);
        RED.view.redraw(true);
        return left;
      }, ports);
      assert.deepEqual(left, [], 'no port left on 5060/5070');
      const before = await shownErrors(page);
      // A register node that does not register on start is started from its inject, as a user clicks it.
      const starters = await page.evaluate(() => {
        // The editor keeps wires as links: the nodes a node sends to.
        const next = (n: unknown) => RED.nodes.filterLinks({ source: n }).map((l: { target: unknown }) => l.target);
        // An inject whose messages reach (through any node, e.g. a function making one per user) such a register node.
        const reaches = (n: { id: string; type: string; registerOnStart?: boolean }, seen: Set<string>): boolean => {
          if (seen.has(n.id)) return false;
          seen.add(n.id);
          if (n.type === 'oma-register' && n.registerOnStart === false) return true;
          return next(n).some((t: typeof n) => reaches(t, seen));
        };
        const ids: string[] = [];
        RED.nodes.eachNode((n: { id: string; type: string; payload?: string }) => {
          if (n.type === 'inject' && n.payload === 'register' && next(n).some((t: typeof n) => reaches(t, new Set()))) ids.push(n.id);
        });
        return ids;
      });
      await deploy(page);
      // The button's own click handler, as a click runs it: imported nodes land at the canvas' left edge,
      // where the palette can lie over the button and take a pointer click.
      for (const id of starters) await page.locator(`[id="${id}"] .red-ui-flow-node-button rect`).last().dispatchEvent('click');
      const list = await waitForStatuses(page, allWorking, `${name}: every node green`);
      noRed(list, name);
      const after = await shownErrors(page);
      assert.deepEqual(after.notifications, [], 'no error notification');
      assert.equal(after.debugErrors, before.debugErrors, 'no error in the debug sidebar');
      saveInto([shots[0]!], `example-${group}-${name}.png`.replace(/[^\w.-]+/g, '_'), await page.screenshot());
      assert.deepEqual(editor.errors, [], 'no script error in the editor');
      // The flow as deployed listens where the test moved it.
      const flows = JSON.stringify((await red.request('GET', '/flows')).body);
      assert.ok(!/"(?:port|corePort|appServerPort)":"?50[67]0"?/.test(flows), 'the deployed flow holds no 5060/5070');
    });
  }
});
