// What a user does and sees in the Node-RED editor, as steps for the browser
// test: node statuses as drawn on the canvas, the Import > Examples dialog,
// Deploy, and the ladder sidebar's rows as drawn.
import type { Page } from 'playwright-core';

// These functions run in the page (playwright serialises them): the editor's globals, untyped here.
declare const RED: any;
declare const document: any;

export interface CanvasStatus {
  id: string;
  type: string;
  name: string;
  /** The status dot's colour as drawn (green, red, yellow, grey, blue), '' without a status. */
  fill: string;
  text: string;
}

/** The status of every node on the visible tab, read from the drawn canvas. */
export function canvasStatuses(page: Page): Promise<CanvasStatus[]> {
  return page.evaluate(() => {
    const out: { id: string; type: string; name: string; fill: string; text: string }[] = [];
    const z = RED.workspaces.active();
    RED.nodes.eachNode((n: { id: string; type: string; name?: string; z: string }) => {
      if (n.z !== z) return;
      const g = document.getElementById(n.id);
      const shape = g?.querySelector('.red-ui-flow-node-status');
      const fill = /red-ui-flow-node-status-(?:dot|ring)-(\w+)/.exec(shape?.getAttribute('class') ?? '')?.[1] ?? '';
      const text = g?.querySelector('.red-ui-flow-node-status-label')?.textContent ?? '';
      out.push({ id: n.id, type: n.type, name: n.name ?? '', fill, text });
    });
    return out;
  });
}

export function describeStatuses(list: CanvasStatus[]): string {
  return list.filter((s) => s.fill).map((s) => `${s.type} "${s.name}": ${s.fill} "${s.text}"`).join('\n  ');
}

/**
 * Waits until `ok` holds for the drawn statuses; on timeout the error lists
 * them all (what the user would have looked at).
 */
export async function waitForStatuses(page: Page, ok: (list: CanvasStatus[]) => boolean, what: string, timeoutMs = 20000): Promise<CanvasStatus[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await canvasStatuses(page);
    if (ok(list)) return list;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs / 1000} s; statuses:\n  ${describeStatuses(list)}`);
    await page.waitForTimeout(200);
  }
}

/** Removes every node, configuration node and group, as a user clears the workspace before importing. */
export async function clearWorkspace(page: Page): Promise<void> {
  await page.evaluate(() => {
    const ids: string[] = [];
    RED.nodes.eachNode((n: { id: string }) => void ids.push(n.id));
    RED.nodes.eachConfig((n: { id: string }) => void ids.push(n.id));
    for (const id of ids) RED.nodes.remove(id);
    for (const g of RED.nodes.groups(RED.workspaces.active())) RED.nodes.removeGroup(g);
    RED.nodes.dirty(true);
    RED.view.redraw(true);
  });
}

/** Import > Examples > module > group > name, Import, and a click on the canvas to drop the nodes. */
export async function importExample(page: Page, module: string, group: string, name: string): Promise<void> {
  await page.evaluate(() => RED.actions.invoke('core:show-examples-import-dialog'));
  const tab = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
  const label = (text: string) => tab.locator('.red-ui-treeList-label-text').filter({ hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) });
  // The dialog keeps what was open last time: open a folder only when its content is hidden.
  if (!(await label(group).isVisible())) await label(module).click();
  if (!(await label(name).isVisible())) await label(group).click();
  await label(name).click();
  await page.click('#red-ui-clipboard-dialog-ok');
  const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
  if (!chart) throw new Error('no canvas');
  await page.mouse.move(chart.x + 120, chart.y + 60);
  await page.mouse.click(chart.x + 120, chart.y + 60);
}

/** Nodes the editor marks as not properly configured (Deploy would ask to confirm). */
export function invalidNodes(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const check = (n: { id: string; type: string; name?: string; valid?: boolean; validationErrors?: string[] }) => {
      if (n.valid === false) out.push(`${n.type} "${n.name ?? n.id}": ${(n.validationErrors ?? []).join(', ')}`);
    };
    RED.nodes.eachNode(check);
    RED.nodes.eachConfig(check);
    return out;
  });
}

/** Clicks Deploy and waits until the editor has nothing left to deploy. */
export async function deploy(page: Page): Promise<void> {
  await page.click('#red-ui-header-button-deploy');
  await page.waitForFunction(() => !RED.nodes.dirty(), null, { timeout: 30000 });
}

/** Error notifications on screen and error messages in the debug sidebar. */
export function shownErrors(page: Page): Promise<{ notifications: string[]; debugErrors: number }> {
  return page.evaluate(() => ({
    notifications: [...document.querySelectorAll('.red-ui-notification-error')].map((e: any) => e.innerText),
    debugErrors: document.querySelectorAll('.red-ui-debug-msg-level-20').length,
  }));
}

export interface LadderRow {
  index: number;
  label: string;
  /** Lane names (as drawn in the header) the arrow starts and ends at. */
  from: string;
  to: string;
  colour: string;
}

/** The ladder's arrows as drawn in the sidebar, each placed on the lanes its ends touch. */
export function ladderRows(page: Page): Promise<LadderRow[]> {
  return page.evaluate(() => {
    const root = document.querySelector('.oma-ladder')!;
    const [header, body] = root.querySelectorAll('svg');
    const lanes = [...header!.querySelectorAll('text[font-weight="bold"]')].map((t) => ({ x: Number(t.getAttribute('x')), name: t.textContent ?? '' }));
    const lane = (x: number) => lanes.reduce((a, b) => (Math.abs(b.x - x) < Math.abs(a.x - x) ? b : a)).name;
    return [...body!.querySelectorAll('g[data-row]')]
      .map((g) => {
        const line = g.querySelector('line');
        const head = [...g.querySelectorAll('path')].pop();
        const texts = g.querySelectorAll('text');
        const fromX = Number(line?.getAttribute('x1') ?? /^M([\d.]+)/.exec(head?.getAttribute('d') ?? '')?.[1]);
        const toX = Number(/^M([\d.]+)/.exec(head?.getAttribute('d') ?? '')?.[1]);
        return {
          index: Number(g.getAttribute('data-row')),
          label: texts[texts.length - 1]?.textContent ?? '',
          from: lane(fromX),
          to: lane(toX),
          colour: head?.getAttribute('fill') ?? '',
        };
      })
      .sort((a, b) => a.index - b.index);
  });
}
