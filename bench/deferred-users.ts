// Deferred delivery to many users (issue 7): the server as a user runs it,
// Node-RED with the pack's lab core, third-party register, settings server
// and deliver-deferred nodes (journal store), in a process of its own whose
// CPU and RSS are read from /proc. The clients run in another process
// (bench/deferred-users-clients.ts): first a writer leaves PER_USER messages
// for each of USERS users who are not registered (pager MESSAGE through the
// core, kept by the server: 202); then every user registers at once,
// publishes IM settings with offline delivery active (the seed's trigger),
// and takes the server's INVITE and MSRP session in its inbox. Measures the
// registration burst, the time from the first REGISTER to the last message
// delivered, messages and sessions per second, the server's CPU and RSS; and
// checks that none was lost, duplicated, misdelivered or out of its user's
// order, and that the server's store is empty afterwards. Exits 1 if not.
//
// Run: npm run build && node dist/bench/deferred-users.js
//   (USERS=1000 PER_USER=10 USERS_PER_ENDPOINT=100 WRITERS=100 STALL_SECONDS=60)
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../test/support/free-port';
import { startNodeRed, type NodeRedProcess } from '../test/support/node-red-process';
import { forkBenchChild } from './bench-child';
import { BENCH_DOMAIN, benchUserNames, passwordOf, WRITER, type BurstResult, type StoreResult } from './deferred-users-clients';
import { journalSize } from './journal-size';
import { kinds, printTable, type Row } from './table';

const USERS = Number(process.env.USERS ?? 1000);
const PER_USER = Number(process.env.PER_USER ?? 10);
const DELIVER_NODE = 'deliver';

function serverFlow(corePort: number, serverPort: number): unknown[] {
  const tab = 'deferred-users-bench';
  const users = [...benchUserNames(USERS), WRITER].map((u) => `${u}:${passwordOf(u)}`).join('\n');
  const endpoint = (id: string, port: number, core: boolean) => ({
    id,
    type: 'oma-sip-endpoint',
    transport: 'udp',
    address: '127.0.0.1',
    port,
    coreHost: core ? '127.0.0.1' : '',
    corePort,
    domain: BENCH_DOMAIN,
  });
  return [
    { id: tab, type: 'tab', label: 'deferred delivery to many users' },
    endpoint('ep-core', corePort, false),
    endpoint('ep-server', serverPort, true),
    {
      id: 'core',
      z: tab,
      type: 'oma-lab-core',
      endpoint: 'ep-core',
      appServerHost: '127.0.0.1',
      appServerPort: serverPort,
      appServerTransport: 'udp',
      settingsEvents: 'poc-settings deferred-messages',
      minExpires: 60,
      maxExpires: 3600,
      sipUsers: false,
      credentials: { users },
      wires: [[]],
    },
    { id: 'tpr', z: tab, type: 'oma-third-party-register', endpoint: 'ep-server', maxUsers: 10 * USERS, wires: [[]] },
    { id: 'settings', z: tab, type: 'oma-settings-server', endpoint: 'ep-server', featureTags: '+g.poc.talkburst +g.oma.sip-im', minExpires: 60, maxExpires: 7200, persist: true, wires: [[DELIVER_NODE]] },
    { id: DELIVER_NODE, z: tab, type: 'oma-deliver-deferred', endpoint: 'ep-server', infoEvent: 'deferred-messages', maxMessageBytes: 1048576, persist: true, wires: [[]] },
  ];
}

/** The largest RSS of the process while `work` runs, sampled every 50 ms. */
async function peakRssDuring<T>(red: NodeRedProcess, work: Promise<T>): Promise<{ value: T; peakMb: number }> {
  let peakMb = red.rssMb();
  const sampler = setInterval(() => (peakMb = Math.max(peakMb, red.rssMb())), 50);
  try {
    const value = await work;
    return { value, peakMb: Math.max(peakMb, red.rssMb()) };
  } finally {
    clearInterval(sampler);
  }
}

function answered<T extends object>(x: T | { error: string }): T {
  if ('error' in x) throw new Error(`the clients failed: ${x.error}`);
  return x;
}

async function main(): Promise<void> {
  const red = await startNodeRed();
  const corePort = await freePort();
  const serverPort = await freePort();
  const child = forkBenchChild('deferred-users-clients.js', { USERS: String(USERS), PER_USER: String(PER_USER), CORE_PORT: String(corePort) });
  let failed = false;
  try {
    await red.deploy(serverFlow(corePort, serverPort));
    await child.next<{ ready: true }>();
    const expected = USERS * PER_USER;

    const storeCpu0 = red.cpuSeconds();
    child.send('store');
    const stored = answered(await child.next<StoreResult | { error: string }>());
    const storeCpu = red.cpuSeconds() - storeCpu0;
    // Let the store phase's transactions and timers wind down before the burst is measured.
    await new Promise((r) => setTimeout(r, 3000));

    const rssBefore = red.rssMb();
    const cpu0 = red.cpuSeconds();
    child.send('burst');
    const { value, peakMb } = await peakRssDuring(red, child.next<BurstResult | { error: string }>());
    const cpu = red.cpuSeconds() - cpu0;
    const b = answered(value);
    const rssAfter = red.rssMb();

    await red.deploy([]); // the deliver node closes its journal
    const left = await journalSize(path.join(red.userDir, 'oma-sip', DELIVER_NODE));
    const lost = expected - b.distinct;
    const s = (ms: number) => (ms / 1000).toFixed(2);
    const toLast = b.lastMessageMs / 1000;
    const rows: Row[] = [
      { what: 'messages stored before the burst', value: stored.stored, unit: 'msg', note: `${Math.round(stored.stored / stored.seconds)} MESSAGE/s through the core, server CPU ${storeCpu.toFixed(2)} s; ${stored.failed} failed${stored.firstError ? `: ${stored.firstError}` : ''}` },
      { what: 'requests retransmitted by / to the clients', value: `${b.retransmitted.out} / ${b.retransmitted.in}`, unit: 'req', note: `over the burst (store phase ${stored.retransmitted.out} / ${stored.retransmitted.in}): answers later than T1 (500 ms)` },
      { what: 'registrations in the burst', value: b.registered, unit: 'users', note: `${b.registerFailed} failed; last at ${s(b.lastRegisteredMs)} s` },
      { what: 'registration burst rate', value: Math.round(b.registered / (b.lastRegisteredMs / 1000)), unit: 'reg/s', note: 'all REGISTERs sent at once, 401 round trip each' },
      { what: 'settings published (offline delivery active)', value: b.published, unit: 'users', note: `${b.publishFailed} failed; last at ${s(b.lastPublishedMs)} s` },
      { what: 'medians over the users: registered, published, first and last message', value: [b.median.registered, b.median.published, b.median.firstMessage, b.median.lastMessage].map(s).join(' / '), unit: 's', note: 'since the first REGISTER' },
      { what: 'first REGISTER to last message delivered', value: toLast.toFixed(2), unit: 's', note: `first message at ${s(b.firstMessageMs)} s, last session ended at ${s(b.lastSessionEndMs)} s${b.stalled ? '; STALLED' : ''}` },
      { what: 'messages delivered, overall rate', value: Math.round(b.distinct / toLast), unit: 'msg/s', note: `${b.distinct} of ${expected}` },
      { what: 'delivery sessions, overall rate', value: Math.round(b.sessionsEnded / toLast), unit: 'sessions/s', note: `${b.sessionsEnded} sessions ended; ${b.complete} users got all ${PER_USER}` },
      { what: 'server CPU (user + system)', value: cpu.toFixed(2), unit: 's', note: `Node-RED over the burst: ${Math.round((cpu / toLast) * 100)}% of one core; registrar, proxy, settings and delivery` },
      { what: 'server CPU per message delivered', value: Math.round((cpu * 1e6) / Math.max(1, b.distinct)), unit: 'µs', note: 'everything the burst cost, over the messages' },
      { what: 'client process CPU over the burst', value: b.clientCpu.toFixed(2), unit: 's', note: `${Math.round((b.clientCpu / toLast) * 100)}% of one core (store phase: ${stored.clientCpu.toFixed(2)} s); on the same 2 cores` },
      { what: 'server RSS before the burst', value: Math.round(rssBefore), unit: 'MB', note: `${stored.stored} messages stored` },
      { what: 'server RSS peak / after', value: `${Math.round(peakMb)} / ${Math.round(rssAfter)}`, unit: 'MB' },
      { what: 'lost', value: lost, unit: 'msg', note: 'stored, not received' },
      { what: 'duplicated', value: b.duplicated, unit: 'msg', note: 'received more than once, or dropped by the inbox as a redelivery' },
      { what: "out of the user's order", value: b.outOfOrder, unit: 'msg', note: `${b.misdelivered} at the wrong user` },
      { what: 'left in the server store', value: left, unit: 'msg', note: `inbox refusals ${b.refused}${b.firstRefusal ? `: ${b.firstRefusal}` : ''}` },
    ];
    printTable(`Deferred delivery to ${USERS} users, ${PER_USER} messages each, after a burst of registrations (lab core + server in one Node-RED, UDP + MSRP over TCP; Node ${process.version}, ${os.cpus().length} cores)`, rows);
    if (b.firstError) console.log(`first client error: ${b.firstError}`);
    failed = stored.stored !== expected || lost !== 0 || b.duplicated !== 0 || b.outOfOrder !== 0 || b.misdelivered !== 0 || left !== 0 || b.stalled;
    if (failed) {
      console.log('\nwhat the inboxes refused, by kind:');
      for (const [kind, n] of Object.entries(b.refusals)) console.log(`  ${n} x ${kind}`);
      if (b.refusalDelayMs.length) console.log(`  from answering the INVITE to the refusal: min / median / max ${b.refusalDelayMs.map((x) => (x / 1000).toFixed(1)).join(' / ')} s`);
      console.log('\nserver warnings and errors, by kind:');
      for (const [kind, n] of kinds(red.log().split('\n').filter((l) => /\[(warn|error)\]/.test(l)).map((l) => l.replace(/^.*?\] \[/, '[')))) console.log(`  ${n} x ${kind}`);
    }
  } finally {
    child.send('exit');
    await red.stop();
  }
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
