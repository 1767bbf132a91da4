// Registration benchmark: N distinct users (default 2,000), each with the
// 401 round trip, through a real Kamailio, by one oma-register node running
// in Node-RED (this process) and by SIPp, against the same core in the same
// run. Rounds alternate (ours, SIPp, ours, SIPp, ...); medians are compared.
//
//   BENCH_USERS=2000 BENCH_ROUNDS=3 node dist/bench/register.js
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../test/support/free-port';
import { startKamailio, type KamailioInstance } from '../test/support/kamailio';
import { startNodeRed, type NodeRedProcess } from '../test/support/node-red-process';
import { projectRoot } from '../test/support/project-root';
import { benchUsers, writeSippCsv, type SippUser } from './sipp/users';
import { median, printTable, type Row } from './table';

interface RoundResult {
  ok: number;
  failed: number;
  seconds: number;
  rate: number;
  /** CPU of the client process per registration, µs (Node-RED or SIPp). */
  cpuUs?: number;
}

function benchFlow(core: KamailioInstance, transport: 'udp' | 'tcp', round: number): unknown[] {
  const tab = `bench-${round}`;
  const start = `
const users = msg.payload.users;
flow.set('bench', { n: users.length, ok: 0, failed: 0, t0: Date.now(), ms: 0, done: false });
return [users.map((u) => ({ payload: { identity: u.identity, password: u.password } })), { res: msg.res, payload: { started: users.length } }];`;
  const count = `
const b = flow.get('bench');
if (msg.payload.event === 'registered') b.ok++;
else if (msg.payload.event === 'failed') b.failed++;
else return null;
if (b.ok + b.failed === b.n) { b.ms = Date.now() - b.t0; b.done = true; }
return null;`;
  return [
    { id: tab, type: 'tab', label: 'registration benchmark' },
    { id: 'ep', type: 'oma-sip-endpoint', transport, address: '127.0.0.1', port: 0, coreHost: '127.0.0.1', corePort: core.port, domain: core.domain },
    { id: 'in', z: tab, type: 'http in', url: '/bench/register', method: 'post', x: 100, y: 100, wires: [['start']] },
    { id: 'start', z: tab, type: 'function', func: start, outputs: 2, x: 300, y: 100, wires: [['reg'], ['resp']] },
    { id: 'reg', z: tab, type: 'oma-register', endpoint: 'ep', expires: 3600, registerOnStart: false, deregisterOnClose: false, x: 500, y: 100, wires: [['count']] },
    { id: 'count', z: tab, type: 'function', func: count, outputs: 1, x: 700, y: 100, wires: [[]] },
    { id: 'resp', z: tab, type: 'http response', x: 500, y: 160, wires: [] },
    { id: 'in2', z: tab, type: 'http in', url: '/bench/result', method: 'get', x: 100, y: 220, wires: [['result']] },
    { id: 'result', z: tab, type: 'function', func: "msg.payload = flow.get('bench') || {}; return msg;", outputs: 1, x: 300, y: 220, wires: [['resp2']] },
    { id: 'resp2', z: tab, type: 'http response', x: 500, y: 220, wires: [] },
  ];
}

interface BenchState {
  n: number;
  ok: number;
  failed: number;
  ms: number;
  done: boolean;
}

async function nodeRedRound(red: NodeRedProcess, core: KamailioInstance, users: SippUser[], round: number, transport: 'udp' | 'tcp'): Promise<RoundResult> {
  await red.deploy(benchFlow(core, transport, round));
  await new Promise((r) => setTimeout(r, 500)); // the endpoint binds on deploy
  const cpu0 = red.cpuSeconds();
  const started = await red.request('POST', '/bench/register', { users: users.map((u) => ({ identity: u.user, password: u.password })) });
  if (started.status !== 200) throw new Error(`benchmark flow did not start: ${started.status}`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = (await red.request('GET', '/bench/result')).body as BenchState;
    if (r.done) return { ok: r.ok, failed: r.failed, seconds: r.ms / 1000, rate: r.ok / (r.ms / 1000), cpuUs: ((red.cpuSeconds() - cpu0) * 1e6) / users.length };
    if (Date.now() > deadline) return { ok: r.ok, failed: r.n - r.ok, seconds: 120, rate: r.ok / 120 };
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function sippRound(core: KamailioInstance, csv: string, users: number, concurrency: number, transport: 'udp' | 'tcp'): Promise<RoundResult> {
  const port = await freePort();
  const scenario = path.join(projectRoot(), 'bench', 'sipp', 'register.xml');
  const args = [
    `127.0.0.1:${core.port}`, '-sf', scenario, '-inf', csv, '-i', '127.0.0.1', '-p', String(port),
    '-m', String(users), '-l', String(concurrency), '-r', '100000', '-t', transport === 'tcp' ? 't1' : 'u1',
    '-nostdin', '-timeout', '120', '-timeout_error', '-max_socket', '1',
  ];
  const t0 = process.hrtime.bigint();
  // bash's `time` reports the CPU SIPp used.
  const child = spawn('bash', ['-c', 'TIMEFORMAT="SIPPCPU %U %S"; time sipp "$@"', 'sipp', ...args], { cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const ok = Number(/Successful call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(out)?.[1] ?? 0);
  const failed = Number(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(out)?.[1] ?? users - ok);
  if (code !== 0 && ok === 0) throw new Error(`sipp exited ${code}:\n${out.slice(-2000)}`);
  const cpu = /SIPPCPU ([\d.]+) ([\d.]+)/.exec(out);
  return { ok, failed, seconds, rate: ok / seconds, cpuUs: cpu ? ((Number(cpu[1]) + Number(cpu[2])) * 1e6) / users : undefined };
}

async function main(): Promise<void> {
  const n = Number(process.env.BENCH_USERS ?? 2000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const concurrency = Number(process.env.BENCH_SIPP_CONCURRENCY ?? 50);
  const transport = process.env.BENCH_TRANSPORT === 'tcp' ? 'tcp' : 'udp';
  // The same N users for both; each round registers them again from a new address.
  const users = benchUsers(n);
  const core = await startKamailio({ users, shmMb: 1024, reginfo: false });
  const red = await startNodeRed();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-bench-'));
  const csv = path.join(dir, 'users.csv');
  writeSippCsv(csv, users, core.domain);
  const nodeRed: RoundResult[] = [];
  const sipp: RoundResult[] = [];
  let rss = 0;
  let cold: RoundResult | undefined;
  try {
    // One round first, not counted: the JIT compiles the hot path (SIPp has no such start-up).
    if (Number(process.env.BENCH_WARMUP ?? 1) > 0) cold = await nodeRedRound(red, core, users, -1, transport);
    for (let r = 0; r < rounds; r++) {
      nodeRed.push(await nodeRedRound(red, core, users, r, transport));
      if (process.env.BENCH_NODE_ONLY) continue; // for profiling the Node-RED side alone
      // Settled: server transactions and timers of the round are done a few seconds later.
      await new Promise((res) => setTimeout(res, 6000));
      rss = Math.max(rss, red.rssMb());
      sipp.push(await sippRound(core, csv, n, concurrency, transport));
    }
  } finally {
    await red.stop();
    await core.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const ratios = nodeRed.map((x, i) => x.rate / (sipp[i]?.rate ?? NaN));
  const fmt = (xs: RoundResult[]) => xs.map((x) => Math.round(x.rate)).join(' / ');
  const rows: Row[] = [
    { what: `oma-register node in Node-RED, ${n} users, ${transport.toUpperCase()}`, value: Math.round(median(nodeRed.map((x) => x.rate))), unit: 'reg/s', note: `rounds ${fmt(nodeRed)}; failed ${nodeRed.reduce((a, x) => a + x.failed, 0)}` },
    ...(cold ? [{ what: 'oma-register node, first (cold) round, not counted', value: Math.round(cold.rate), unit: 'reg/s', note: `CPU ${Math.round(cold.cpuUs ?? NaN)} µs per registration` }] : []),
    { what: `SIPp, the same users, ${concurrency} in flight`, value: Math.round(median(sipp.map((x) => x.rate))), unit: 'reg/s', note: `rounds ${fmt(sipp)}; failed ${sipp.reduce((a, x) => a + x.failed, 0)}` },
    { what: 'ratio node / SIPp', value: median(ratios).toFixed(2), unit: '', note: `per round ${ratios.map((x) => x.toFixed(2)).join(' / ')}; target >= 0.9` },
    { what: 'client CPU per registration: Node-RED process', value: Math.round(median(nodeRed.map((x) => x.cpuUs ?? NaN))), unit: 'µs', note: `rounds ${nodeRed.map((x) => Math.round(x.cpuUs ?? NaN)).join(' / ')}` },
    { what: 'client CPU per registration: SIPp', value: Math.round(median(sipp.map((x) => x.cpuUs ?? NaN))), unit: 'µs', note: `rounds ${sipp.map((x) => Math.round(x.cpuUs ?? NaN)).join(' / ')}; the core shares the same 2 cores` },
    { what: 'RSS of the Node-RED process after the registrations settle', value: Math.round(rss), unit: 'MB', note: `largest after any round; ${n} registrations held by the node` },
  ];
  printTable('Registration through Kamailio (registrar + digest over db_text; each registration is 401 + authenticated REGISTER)', rows);
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
