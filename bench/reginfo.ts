// Reg event benchmarks:
//  1. reginfo documents read and merged per second (a 3-contact document), as
//     Kamailio sends them (always full, version 0) and as an RFC 3680 notifier
//     does (partial documents with growing versions);
//  2. NOTIFY-to-output latency for 1,000 subscriptions on one endpoint: an
//     oma-reg-event node in Node-RED holds the subscriptions, the lab core
//     (in the same process, so both clocks are one) changes every user's
//     binding, and the time from each NOTIFY leaving the core to the node's
//     output message is recorded.
import helper from 'node-red-node-test-helper';
import { LabCore } from '../lib/labcore/lab-core';
import { readReginfo } from '../lib/reginfo/reginfo-reader';
import { ReginfoView } from '../lib/reginfo/reginfo-view';
import { SipEndpoint, type WireEvent } from '../lib/sip/endpoint';
import { decode } from '../lib/sip/codec';
import { allNodes } from '../test/support/nodes';
import { freePort } from '../test/support/free-port';
import { median, percentile, printTable, type Row } from './table';

export function kamailioDoc(cseqs: [number, number, number]): string {
  const contact = (i: number, cseq: number) =>
    `    <contact id="0x7f3a5c1e3d${i}8" state="active" event="${i === 0 ? 'refreshed' : 'registered'}" expires="${3600 - i * 100}" q="1.000" callid="c${i}-4711@10.0.0.${i}" cseq="${cseq}" received="sip:10.0.0.${i}:5060" path="&lt;sip:edge.lab.test;lr&gt;" user_agent="PoC-client/OMA2.0">\n` +
    `      <uri>sip:alice@10.0.0.${i}:5060</uri>\n` +
    `      <unknown-param name="+g.poc.talkburst"></unknown-param>\n` +
    `    </contact>\n`;
  return (
    '<?xml version="1.0"?>\n' +
    '<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">\n' +
    '  <registration aor="sip:alice@lab.test" id="0x7f3a5c1e2a10" state="active">\n' +
    cseqs.map((c, i) => contact(i, c)).join('') +
    '  </registration>\n</reginfo>\n'
  );
}

function partialDoc(version: number, which: number): string {
  return (
    '<?xml version="1.0"?>\n' +
    `<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="${version}" state="partial">\n` +
    '  <registration aor="sip:alice@lab.test" id="a7" state="active">\n' +
    `    <contact id="c${which}" state="active" event="refreshed" expires="3600" callid="k${which}" cseq="${version + 10}">\n` +
    `      <uri>sip:alice@10.0.0.${which}:5060</uri>\n` +
    '      <unknown-param name="+g.poc.talkburst"/>\n' +
    '    </contact>\n  </registration>\n</reginfo>\n'
  );
}

function fullRfcDoc(): string {
  const c = [0, 1, 2]
    .map((i) => `    <contact id="c${i}" state="active" event="registered" expires="3600"><uri>sip:alice@10.0.0.${i}:5060</uri></contact>\n`)
    .join('');
  return `<?xml version="1.0"?>\n<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">\n  <registration aor="sip:alice@lab.test" id="a7" state="active">\n${c}  </registration>\n</reginfo>\n`;
}

/** Documents per second over `ms`, for one way of feeding documents. */
function rate(ms: number, step: (i: number) => void): number {
  let i = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 200; k++) step(i++);
    now = process.hrtime.bigint();
  }
  return (i * 1e9) / Number(now - start);
}

export function readMergeBench(runs = 5, ms = 1000): Row[] {
  const docs = [kamailioDoc([2, 5, 9]), kamailioDoc([3, 5, 9])];
  const bytes = Buffer.byteLength(docs[0]!);
  const fullRates: number[] = [];
  const partialRates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const view = new ReginfoView();
    fullRates.push(
      rate(ms, (i) => {
        const d = readReginfo(docs[i & 1]!);
        if (!d.ok) throw new Error(d.error);
        view.apply(d.doc);
      }),
    );
    const pv = new ReginfoView();
    const f = readReginfo(fullRfcDoc());
    if (!f.ok) throw new Error(f.error);
    pv.apply(f.doc);
    partialRates.push(
      rate(ms, (i) => {
        const d = readReginfo(partialDoc(i + 1, i % 3));
        if (!d.ok) throw new Error(d.error);
        const res = pv.apply(d.doc);
        if (res.needFullState) throw new Error(res.reason);
      }),
    );
  }
  return [
    { what: `reginfo read+merge, Kamailio-style full, 3 contacts (${bytes} B)`, value: Math.round(median(fullRates)), unit: 'docs/s', note: `median of ${runs} runs of ${ms} ms; min ${Math.round(Math.min(...fullRates))}` },
    { what: 'reginfo read+merge, RFC 3680 partial, 1 of 3 contacts', value: Math.round(median(partialRates)), unit: 'docs/s', note: `median of ${runs}; target >= 30,000 docs/s for the full document` },
  ];
}

export async function notifyLatencyBench(subscriptions = 1000): Promise<Row[]> {
  helper.init(require.resolve('node-red'));
  await helper.startServer();
  const users = new Map(Array.from({ length: subscriptions }, (_, i) => [`u${i}`, `pw${i}`] as [string, string]));
  const corePort = await freePort();
  const coreEp = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: corePort });
  await coreEp.start();
  const core = new LabCore(coreEp, { domain: 'lab.test', users });
  core.start();
  const sentAt = new Map<string, bigint>();
  coreEp.on('wire', (w: WireEvent) => {
    if (w.direction !== 'out' || !w.wire.startsWith('NOTIFY ')) return;
    const m = decode(w.wire);
    if (m) sentAt.set(`${m.headers['call-id']}|${m.headers.cseq?.seq}`, process.hrtime.bigint());
  });
  const flow = [
    { id: 'ep', type: 'oma-sip-endpoint', transport: 'udp', address: '127.0.0.1', port: 0, coreHost: '127.0.0.1', corePort, domain: 'lab.test' },
    { id: 're', type: 'oma-reg-event', endpoint: 'ep', from: 'sip:oma-server@lab.test', expires: 3600, subscribeOnStart: false, wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
  await helper.load(allNodes, flow, {});
  const latencies: number[] = [];
  let expect = 0;
  let resolveAll: () => void = () => undefined;
  const out = helper.getNode('out');
  out.on('input', (msg: { payload: { event: string }; sip?: { callId: string; cseq: number } }) => {
    if (msg.payload.event !== 'update' || !msg.sip) return;
    const t0 = sentAt.get(`${msg.sip.callId}|${msg.sip.cseq}`);
    if (t0 !== undefined) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (latencies.length >= expect) resolveAll();
  });

  // Phase 1: 1,000 subscriptions on one endpoint (each answered with a full NOTIFY).
  expect = subscriptions;
  const subscribed = new Promise<void>((r) => (resolveAll = r));
  const re = helper.getNode('re');
  for (let i = 0; i < subscriptions; i++) re.receive({ payload: { action: 'subscribe', aor: `sip:u${i}@lab.test` } });
  await withTimeout(subscribed, 60000, 'subscriptions');
  const initial = latencies.splice(0);

  // Phase 2: every user's binding changes; each change is one partial NOTIFY to one subscriber.
  expect = subscriptions;
  const changed = new Promise<void>((r) => (resolveAll = r));
  const t0 = Date.now();
  for (let i = 0; i < subscriptions; i++) {
    core.location.apply({
      aor: `sip:u${i}@lab.test`,
      callId: `bench-${i}`,
      cseq: 1,
      wildcard: false,
      contacts: [{ uri: `sip:u${i}@10.1.${i >> 8}.${i & 255}:5060`, params: { '+g.poc.talkburst': null }, expires: 600 }],
    });
  }
  await withTimeout(changed, 60000, 'change notifications');
  const burstMs = Date.now() - t0;
  const burst = latencies.splice(0);

  // Phase 3: the same, one change every 5 ms, so each NOTIFY meets an idle process.
  const paced = Math.min(subscriptions, 400);
  expect = paced;
  const pacedDone = new Promise<void>((r) => (resolveAll = r));
  for (let i = 0; i < paced; i++) {
    core.location.apply({
      aor: `sip:u${i}@lab.test`,
      callId: `bench-${i}`,
      cseq: 2,
      wildcard: false,
      contacts: [{ uri: `sip:u${i}@10.1.${i >> 8}.${i & 255}:5060`, params: { '+g.poc.talkburst': null }, expires: 300 }],
    });
    await new Promise((r) => setTimeout(r, 5));
  }
  await withTimeout(pacedDone, 60000, 'paced notifications');
  const rss = process.memoryUsage().rss / 1048576;
  await helper.unload();
  await core.stop();
  await coreEp.close();
  await helper.stopServer();
  const fmt = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(1)} / p95 ${percentile(xs, 95).toFixed(1)} / p99 ${percentile(xs, 99).toFixed(1)} / max ${Math.max(...xs).toFixed(1)}`;
  return [
    { what: `NOTIFY-to-output latency, ${subscriptions} subscriptions, initial full NOTIFYs`, value: Number(percentile(initial, 50).toFixed(2)), unit: 'ms p50', note: fmt(initial) },
    { what: `NOTIFY-to-output latency, ${subscriptions} partial NOTIFYs in one burst`, value: Number(percentile(burst, 50).toFixed(2)), unit: 'ms p50', note: `${fmt(burst)}; burst done in ${burstMs} ms` },
    { what: `NOTIFY-to-output latency, ${paced} partial NOTIFYs one every 5 ms`, value: Number(percentile(latencies, 50).toFixed(2)), unit: 'ms p50', note: fmt(latencies) },
    { what: 'RSS of the process (Node-RED + lab core) after the burst', value: Math.round(rss), unit: 'MB', note: `${subscriptions} subscriptions on each side` },
  ];
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), ms)))]).finally(() => clearTimeout(t));
}

if (require.main === module) {
  (async () => {
    const rows = [...readMergeBench(), ...(await notifyLatencyBench(Number(process.env.SUBSCRIPTIONS ?? 1000)))];
    printTable('Reg event', rows);
    process.exit(0);
  })().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
