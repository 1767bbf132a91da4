// Settings server benchmark: PUBLISH requests per second that one
// oma-settings-server node in a real Node-RED process completes, driven by
// SIPp playing the trusted core (1,000 users, each: initial with a body,
// refresh, modify, remove), against SIPp answering the same traffic itself
// (bench/sipp/publish-uas.xml) as the limit of this machine. Rounds alternate.
// Then N users (default 10,000) publish once and keep it: the process's RSS
// with N stored settings, and how long a redeploy takes to read them back.
//
//   BENCH_USERS=1000 BENCH_CALLS=4000 BENCH_ROUNDS=3 BENCH_STORED=10000 node dist/bench/settings.js
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SipEndpoint } from '../lib/sip/endpoint';
import { freePort } from '../test/support/free-port';
import { cpuSecondsOf, startNodeRed, type NodeRedProcess } from '../test/support/node-red-process';
import { journalSize } from './journal-size';
import { PUBLISH_PER_CALL, scenario, sippClient, type SippRun } from './sipp/sipp-client';
import { benchUsers, writeSippCsv } from './sipp/users';
import { median, printTable, type Row } from './table';

const DOMAIN = 'lab.test';

async function sippUas(port: number): Promise<ChildProcess> {
  const child = spawn('sipp', ['-sf', scenario('publish-uas.xml'), '-i', '127.0.0.1', '-p', String(port), '-t', 'u1', '-nostdin', '-m', '100000000'], {
    cwd: os.tmpdir(),
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, 500)); // bound and listening
  return child;
}

function serverFlow(serverPort: number, corePort: number, persist: boolean, round: string): unknown[] {
  const tab = `settings-bench-${round}`;
  return [
    { id: tab, type: 'tab', label: 'settings benchmark' },
    // The "core" is SIPp's fixed port: the server believes requests from there only.
    { id: `ep-${round}`, type: 'oma-sip-endpoint', transport: 'udp', address: '127.0.0.1', port: serverPort, coreHost: '127.0.0.1', corePort, domain: DOMAIN },
    { id: 'server', z: tab, type: 'oma-settings-server', endpoint: `ep-${round}`, featureTags: '+g.poc.talkburst +g.oma.sip-im', minExpires: 60, maxExpires: 7200, persist, x: 200, y: 100, wires: [[]] },
  ];
}

async function deployServer(red: NodeRedProcess, serverPort: number, corePort: number, persist: boolean, round: string): Promise<number> {
  const t0 = Date.now();
  await red.deploy(serverFlow(serverPort, corePort, persist, round));
  await untilServing(serverPort, corePort);
  return Date.now() - t0;
}

/**
 * Waits until the server applies RFC 3903 to a publication from the trusted
 * core: a refresh for a tag it never gave gets 412 once its store is loaded
 * (before that: no answer, 405 or 503).
 */
async function untilServing(serverPort: number, corePort: number): Promise<void> {
  const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: corePort });
  await ep.start();
  try {
    for (let i = 0; i < 1200; i++) {
      const r = await ep.request(
        {
          method: 'PUBLISH',
          uri: `sip:probe@${DOMAIN}`,
          headers: {
            via: [],
            to: { uri: `sip:probe@${DOMAIN}`, params: {} },
            from: { uri: `sip:probe@${DOMAIN}`, params: { tag: ep.newTag() } },
            'call-id': ep.newCallId(),
            cseq: { seq: 1, method: 'PUBLISH' },
            event: 'poc-settings',
            'accept-contact': '*;+g.poc.talkburst;require;explicit',
            'p-asserted-identity': `<sip:probe@${DOMAIN}>`,
            'sip-if-match': 'never-given',
            expires: '3600',
          },
        },
        { target: { protocol: 'udp', address: '127.0.0.1', port: serverPort } },
      );
      if (r.response.status === 412) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('the settings server did not start serving within a minute');
  } finally {
    await ep.close();
  }
}

/**
 * The endpoint keeps each answered UDP transaction for 64*T1 (32 s) to absorb
 * retransmissions, and sheds requests (503) while 50,000 are alive (its
 * admission cap: lib/sip/admission.ts). Rounds sent back to back would pile
 * up more than that, which the SIPp limit never meets. So before each run
 * this waits until the transactions of earlier runs that are still alive,
 * plus the new ones, stay below the cap: every round measures the same
 * server. (A rate above 50,000 / 32 s = 1,560 requests/s is a burst rate:
 * kept up for longer, the cap sheds part of it.)
 */
class TransactionLedger {
  private readonly runs: Array<{ endedAt: number; count: number }> = [];
  constructor(
    private readonly cap = 45_000,
    private readonly lingerMs = 64 * 500 + 1000,
  ) {}

  async roomFor(count: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      while (this.runs.length && this.runs[0]!.endedAt + this.lingerMs <= now) this.runs.shift();
      const alive = this.runs.reduce((a, r) => a + r.count, 0);
      if (alive + count <= this.cap || !this.runs.length) return;
      await new Promise((res) => setTimeout(res, this.runs[0]!.endedAt + this.lingerMs - now));
    }
  }

  ran(count: number): void {
    this.runs.push({ endedAt: Date.now(), count });
  }
}

/** Runs SIPp against our server once there is room for its requests (see TransactionLedger). */
async function serverRun(ledger: TransactionLedger, requests: number, run: () => Promise<SippRun>): Promise<SippRun> {
  await ledger.roomFor(requests);
  try {
    return await run();
  } finally {
    ledger.ran(requests);
  }
}

interface Round extends SippRun {
  /** CPU the answering process (Node-RED, or SIPp as the UAS) used per PUBLISH, microseconds. */
  cpuUs: number;
}

async function main(): Promise<void> {
  const n = Number(process.env.BENCH_USERS ?? 1000);
  const calls = Number(process.env.BENCH_CALLS ?? 4 * n);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const concurrency = Number(process.env.BENCH_SIPP_CONCURRENCY ?? 50);
  const stored = Number(process.env.BENCH_STORED ?? 10000);
  const persist = process.env.BENCH_PERSIST !== '0';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-settings-bench-'));
  const csv = path.join(dir, 'users.csv');
  writeSippCsv(csv, benchUsers(n), DOMAIN);
  const red = await startNodeRed();
  const ours: Round[] = [];
  const limit: Round[] = [];
  let rssBefore = 0;
  let rssStored = 0;
  let reloadMs = NaN;
  let storedOk = 0;
  let storedFound = NaN;
  try {
    const serverPort = await freePort();
    const corePort = await freePort();
    await deployServer(red, serverPort, corePort, persist, 'a');
    // One uncounted warm-up for the JIT (SIPp has no such start-up).
    const ledger = new TransactionLedger();
    const warmUp = Math.min(calls, n);
    await serverRun(ledger, warmUp * PUBLISH_PER_CALL, () => sippClient(serverPort, corePort, scenario('publish.xml'), csv, warmUp, concurrency));
    for (let r = 0; r < rounds; r++) {
      await ledger.roomFor(calls * PUBLISH_PER_CALL);
      const cpu0 = red.cpuSeconds();
      const run = await serverRun(ledger, calls * PUBLISH_PER_CALL, () => sippClient(serverPort, corePort, scenario('publish.xml'), csv, calls, concurrency));
      ours.push({ ...run, cpuUs: cpuPerPublish(red.cpuSeconds() - cpu0, run) });
      const uasPort = await freePort();
      const uas = await sippUas(uasPort);
      try {
        const uasCpu0 = cpuSecondsOf(uas.pid!);
        const ref = await sippClient(uasPort, await freePort(), scenario('publish.xml'), csv, calls, concurrency);
        limit.push({ ...ref, cpuUs: cpuPerPublish(cpuSecondsOf(uas.pid!) - uasCpu0, ref) });
      } finally {
        uas.kill('SIGKILL');
      }
    }
    // N stored settings: each user publishes once and keeps it. The memory
    // before is taken once the rounds' transactions are no longer a burden.
    await ledger.roomFor(stored);
    await new Promise((res) => setTimeout(res, 2000));
    rssBefore = red.rssMb();
    const storedCsv = path.join(dir, 'stored.csv');
    writeSippCsv(storedCsv, benchUsers(stored, 's'), DOMAIN);
    storedOk = (await serverRun(ledger, stored, () => sippClient(serverPort, corePort, scenario('publish-initial.xml'), storedCsv, stored, concurrency))).ok;
    await new Promise((res) => setTimeout(res, 3000));
    rssStored = red.rssMb();
    if (persist) {
      // Count what the journal really holds (the rounds removed all theirs),
      // then deploy the node again: it reads them back from its files.
      await red.deploy([]);
      storedFound = await journalSize(path.join(red.userDir, 'oma-sip', 'server'));
      reloadMs = await deployServer(red, serverPort, corePort, persist, 'a');
    }
  } finally {
    await red.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rate = (x: SippRun) => (x.ok * PUBLISH_PER_CALL) / x.seconds;
  const ratios = ours.map((x, i) => rate(x) / rate(limit[i]!));
  const fmt = (xs: SippRun[]) => xs.map((x) => Math.round(rate(x))).join(' / ');
  const sum = (xs: SippRun[], f: (x: SippRun) => number) => xs.reduce((a, x) => a + f(x), 0);
  const notes = (xs: SippRun[]) => `rounds ${fmt(xs)}; failed calls ${sum(xs, (x) => x.failed)}; retransmissions ${sum(xs, (x) => x.retransmissions)}`;
  const rows: Row[] = [
    { what: `oma-settings-server in Node-RED, ${n} users, ${persist ? 'persisted' : 'in memory'}`, value: Math.round(median(ours.map(rate))), unit: 'PUBLISH/s', note: notes(ours) },
    { what: 'SIPp answering the same PUBLISHes (the limit)', value: Math.round(median(limit.map(rate))), unit: 'PUBLISH/s', note: notes(limit) },
    { what: 'ratio server / limit', value: median(ratios).toFixed(2), unit: '', note: `per round ${ratios.map((x) => x.toFixed(2)).join(' / ')}; target >= 0.5` },
    { what: 'CPU of Node-RED per PUBLISH', value: Math.round(median(ours.map((x) => x.cpuUs))), unit: 'us', note: `rounds ${ours.map((x) => Math.round(x.cpuUs)).join(' / ')}` },
    { what: 'CPU of SIPp answering, per PUBLISH', value: Math.round(median(limit.map((x) => x.cpuUs))), unit: 'us', note: `rounds ${limit.map((x) => Math.round(x.cpuUs)).join(' / ')}` },
    { what: 'RSS of Node-RED before storing', value: Math.round(rssBefore), unit: 'MB', note: '' },
    {
      what: `RSS of Node-RED with ${storedOk.toLocaleString('en-US')} stored settings`,
      value: Math.round(rssStored),
      unit: 'MB',
      note: `${stored.toLocaleString('en-US')} initial PUBLISHes sent; ${Number.isNaN(storedFound) ? 'store not read (persistence off)' : `${storedFound.toLocaleString('en-US')} in the journal`}`,
    },
    { what: 'redeploy until the stored settings are served again', value: Number.isNaN(reloadMs) ? 'n/a' : Math.round(reloadMs), unit: 'ms', note: persist ? 'deploy + load from the files + first answer' : 'persistence off' },
  ];
  printTable(`Settings server (seed 003 6.1.1.5 + RFC 3903): each call is initial, refresh, modify, remove; ${concurrency} calls in flight, UDP`, rows);
}

function cpuPerPublish(cpuSeconds: number, run: SippRun): number {
  return (cpuSeconds * 1e6) / Math.max(1, run.ok * PUBLISH_PER_CALL);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
