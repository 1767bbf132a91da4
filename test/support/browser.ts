// The real Node-RED editor in headless Debian Chromium, driven by
// playwright-core (no browser download: Chromium comes from apt, see
// scripts/install-test-deps.sh). Shared by the browser test and the ladder bench.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.OMA_CHROMIUM ?? '/usr/bin/chromium';

// Without the background-networking flags Chromium keeps trying to reach the network.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Chromium, or an error that says how to install it (the browser test must fail, not skip, without it). */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: the browser test needs the Debian package chromium (scripts/install-test-deps.sh installs it; OMA_CHROMIUM names another binary)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}

export interface Editor {
  page: Page;
  /** Uncaught exceptions in the page (a broken editor script shows here first). */
  errors: string[];
}

/** Opens the editor of the Node-RED on `port` and waits until its palette holds `readyType`. */
export async function openEditor(browser: Browser, port: number, readyType: string, viewport = { width: 1600, height: 1000 }): Promise<Editor> {
  const page = await browser.newPage({ viewport, acceptDownloads: true });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector(`#red-ui-palette .red-ui-palette-node[data-palette-type="${readyType}"]`, { timeout: 60000 });
  return { page, errors };
}

/**
 * Where screenshots go: a fresh folder under the OS temp dir, and also
 * OMA_SCREENSHOTS_DIR when set (the README's images come from there).
 */
export function screenshotDirs(prefix: string): string[] {
  const dirs = [fs.mkdtempSync(path.join(os.tmpdir(), prefix))];
  const wanted = process.env.OMA_SCREENSHOTS_DIR;
  if (wanted) {
    fs.mkdirSync(wanted, { recursive: true });
    dirs.push(path.resolve(wanted));
  }
  return dirs;
}

/** Writes `data` as `name` into every folder of `dirs`; returns the paths. */
export function saveInto(dirs: string[], name: string, data: Buffer | string): string[] {
  return dirs.map((d) => {
    const p = path.join(d, name);
    fs.writeFileSync(p, data);
    return p;
  });
}
