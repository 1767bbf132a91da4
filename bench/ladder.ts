// The SIP ladder with a full trace: a real Node-RED whose endpoint keeps
// 10,000 traced messages (5,000 OPTIONS and their answers from a loopback
// client), the runtime's memory for them, and the editor's ladder in headless
// Chromium: the time to load and draw them, and to scroll through them.
//
//   node dist/bench/ladder.js            (LADDER_MESSAGES=10000 by default)
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { launchChromium, openEditor } from '../test/support/browser';
import { freePort } from '../test/support/free-port';
import { startNodeRed } from '../test/support/node-red-process';
import { entryBytes, type TraceEntry } from '../lib/trace/trace-entry';
import { median, percentile, printTable, type Row } from './table';

const MESSAGES = Number(process.env.LADDER_MESSAGES ?? 10_000);
const IN_FLIGHT = 50;
const HOST = '127.0.0.1';

// Runs in the editor page.
declare const document: any;
declare const window: any;
declare const requestAnimationFrame: any;

function options(port: number, local: number, i: number): Buffer {
  const tag = randomBytes(4).toString('hex');
  return Buffer.from(
    `OPTIONS sip:${HOST}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${HOST}:${local};branch=z9hG4bK${tag}${i};rport\r\n` +
      `From: <sip:bench-client@lab.test>;tag=${tag}\r\nTo: <sip:bench@lab.test>\r\nCall-ID: ${tag}-${i}@bench\r\nCSeq: 1 OPTIONS\r\n` +
      `Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
  );
}

/** Sends `count` OPTIONS with at most IN_FLIGHT unanswered; resolves when all are answered. */
async function exchange(port: number, count: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, HOST, () => r()));
  const local = sock.address().port;
  let sent = 0;
  let answered = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${answered} of ${count} OPTIONS answered`)), 120_000);
    const more = () => {
      while (sent < count && sent - answered < IN_FLIGHT) sock.send(options(port, local, sent++), port, HOST);
    };
    sock.on('message', () => {
      answered++;
      if (answered === count) {
        clearTimeout(timer);
        resolve();
      } else more();
    });
    more();
  });
  sock.close();
}

async function main(): Promise<void> {
  const browser = await launchChromium();
  const red = await startNodeRed();
  try {
    const sipPort = await freePort();
    const ep = { id: 'bench-ep', type: 'oma-sip-endpoint', name: 'bench endpoint', transport: 'udp', address: HOST, port: String(sipPort), domain: 'lab.test', traceSize: String(MESSAGES) };
    // The lab core brings the endpoint up and answers what it receives (an endpoint alone listens only when used).
    const core = { id: 'bench-core', type: 'oma-lab-core', z: 'bench-tab', name: 'lab core', endpoint: ep.id, domain: '', sipUsers: false, x: 200, y: 100, wires: [[]] };
    await red.deploy([{ id: 'bench-tab', type: 'tab', label: 'bench' }, ep, core]);
    await new Promise((r) => setTimeout(r, 1000));
    const rssBefore = red.rssMb();
    await exchange(sipPort, MESSAGES / 2);
    const history = (await red.request('GET', '/oma-sip/trace')).body as { entries: TraceEntry[] };
    const bytes = history.entries.reduce((s, e) => s + entryBytes(e), 0);
    const rssAfter = red.rssMb();

    const { page, errors } = await openEditor(browser, red.port, 'oma-register');
    const t0 = Date.now();
    await page.evaluate(() => window.RED.actions.invoke('oma-sip-ladder:show-sip-ladder'));
    await page.waitForFunction((n) => window.omaSipLadder.state.rows.length >= n && document.querySelectorAll('.oma-ladder-scroller g[data-row]').length > 0, MESSAGES / 2, { timeout: 120_000, polling: 50 });
    const firstDraw = Date.now() - t0;
    // Reload: the history fetched again and drawn, the editor already warm.
    const reload = await page.evaluate(async (n) => {
      const start = performance.now();
      document.querySelector('a.red-ui-sidebar-header-button i.fa-refresh').parentElement.click();
      await new Promise<void>((resolve) => {
        const check = () => (window.omaSipLadder.state.rows.length >= n && document.querySelectorAll('.oma-ladder-scroller g[data-row]').length ? resolve() : requestAnimationFrame(check));
        requestAnimationFrame(check);
      });
      return performance.now() - start;
    }, MESSAGES / 2);
    // Scroll: jumps across the whole ladder, each timed until the next frame is drawn.
    const scrolls = await page.evaluate(async () => {
      const s = document.querySelector('.oma-ladder-scroller');
      const times: number[] = [];
      for (let i = 0; i < 60; i++) {
        const start = performance.now();
        s.scrollTop = ((i * 7919) % 100) / 100 * (s.scrollHeight - s.clientHeight);
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        times.push(performance.now() - start);
      }
      return { times, drawn: document.querySelectorAll('.oma-ladder-scroller g[data-row]').length, rows: window.omaSipLadder.state.rows.length };
    });
    if (errors.length) throw new Error(`editor errors: ${errors.join('; ')}`);
    const rows: Row[] = [
      { what: 'messages traced by the runtime', value: history.entries.length, unit: 'entries' },
      { what: 'trace buffer, own estimate', value: Math.round(bytes / 1024), unit: 'KiB', note: `${Math.round(bytes / history.entries.length)} B per entry (entryBytes)` },
      { what: 'Node-RED RSS delta', value: Math.round((rssAfter - rssBefore) * 10) / 10, unit: 'MB', note: `${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MB, traffic's garbage included` },
      { what: 'ladder arrows', value: scrolls.rows, unit: 'rows', note: 'a message between two endpoints of one Node-RED is one arrow' },
      { what: 'open tab to first draw', value: firstDraw, unit: 'ms', note: 'history loaded when the editor started' },
      { what: 'reload history and draw', value: Math.round(reload), unit: 'ms' },
      { what: 'scroll jump, median', value: Math.round(median(scrolls.times) * 10) / 10, unit: 'ms', note: 'to the next drawn frame, 60 jumps' },
      { what: 'scroll jump, p95', value: Math.round(percentile(scrolls.times, 95) * 10) / 10, unit: 'ms' },
      { what: 'rows in the page after scrolling', value: scrolls.drawn, unit: 'rows', note: 'only those in view (+ margin) are drawn' },
    ];
    printTable(`SIP ladder with ${MESSAGES.toLocaleString('en-US')} messages (Node-RED + headless Chromium)`, rows);
  } finally {
    await browser.close();
    await red.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
