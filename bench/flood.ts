// Memory under hostile traffic: a SipEndpoint in a child process (flood-target)
// on a free loopback port, measured under three floods, each against a fresh
// child. Prints a table of RSS and what was answered. Loopback only, bounded
// in count and time; it stops by itself.
//
//   node dist/bench/flood.js            (FLOOD_SECONDS=10 FLOOD_RATE=3000 by default)
import { fork, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { TargetReport } from './flood-target';
import { printTable, type Row } from './table';

const SECONDS = Number(process.env.FLOOD_SECONDS ?? 10);
const RATE = Number(process.env.FLOOD_RATE ?? 3000);
const MALFORMED = 100_000;
const TCP_CONNECTIONS = 300;
const HOST = '127.0.0.1';

interface Target {
  child: ChildProcess;
  port: number;
  report(): Promise<TargetReport>;
  stop(): Promise<void>;
}

async function startTarget(): Promise<Target> {
  const child = fork(path.join(__dirname, 'flood-target.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const first = await new Promise<TargetReport & { port: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as TargetReport & { port: number }));
    child.once('exit', (code) => reject(new Error(`target exited with ${code}`)));
  });
  const report = () =>
    new Promise<TargetReport>((resolve) => {
      child.once('message', (m) => resolve(m as TargetReport));
      child.send('report');
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.send('stop');
    });
  return { child, port: first.port, report, stop };
}

/** Counts answers by status code on one UDP socket. */
class UdpSender {
  readonly socket = dgram.createSocket('udp4');
  readonly answers = new Map<string, number>();
  sent = 0;
  sendErrors = 0;

  async open(): Promise<this> {
    this.socket.on('message', (buf) => {
      const status = /^SIP\/2\.0 (\d{3})/.exec(buf.subarray(0, 16).toString('latin1'))?.[1] ?? 'other';
      this.answers.set(status, (this.answers.get(status) ?? 0) + 1);
    });
    await new Promise<void>((r) => this.socket.bind(0, HOST, () => r()));
    try {
      this.socket.setSendBufferSize(8 * 1024 * 1024);
      this.socket.setRecvBufferSize(8 * 1024 * 1024);
    } catch {
      // capped by the system; the bench still runs
    }
    return this;
  }

  send(port: number, data: Buffer): void {
    this.sent++;
    this.socket.send(data, port, HOST, (err) => {
      if (err) this.sendErrors++;
    });
  }

  summary(): string {
    return [...this.answers.entries()].sort().map(([s, n]) => `${s}: ${n.toLocaleString('en-US')}`).join(', ') || 'none';
  }

  close(): void {
    this.socket.close();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Datagrams the kernel dropped because a receive buffer was full (Linux,
 * whole machine): what the target could not read fast enough. -1 elsewhere.
 */
function kernelUdpDrops(): number {
  try {
    const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/);
    return Number(lines[1]!.split(/\s+/)[names.indexOf('RcvbufErrors')]);
  } catch {
    return -1;
  }
}

function request(method: string, port: number, i: number, body = '', extra = ''): string {
  return (
    `${method} sip:target@${HOST}:${port} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP ${HOST}:9;branch=z9hG4bK-flood-${i};rport\r\n` +
    `From: <sip:flood@${HOST}>;tag=f${i}\r\nTo: <sip:target@${HOST}>\r\nCall-ID: flood-${i}@bench\r\n` +
    `CSeq: 1 ${method}\r\nMax-Forwards: 70\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`
  );
}

/** Sends `total` datagrams made by `make` at `rate` per second, in 10 ms slices. */
async function paced(sender: UdpSender, port: number, total: number, rate: number, make: (i: number) => Buffer): Promise<number> {
  const t0 = Date.now();
  let i = 0;
  while (i < total) {
    const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate) + 1);
    for (; i < due; i++) sender.send(port, make(i));
    await pause(10);
  }
  return (Date.now() - t0) / 1000;
}

interface Outcome {
  name: string;
  sent: string;
  seconds: number;
  answered: string;
  before: TargetReport;
  after: TargetReport;
  settled: TargetReport;
}

/** Sends `total` datagrams at `rate` to a fresh target; reads it 1.5 s later (the slow answers) and 3 s after that. */
async function udpFlood(name: string, total: number, rate: number, make: (port: number, i: number) => Buffer): Promise<Outcome> {
  const target = await startTarget();
  const before = await target.report();
  const sender = await new UdpSender().open();
  const dropsBefore = kernelUdpDrops();
  const seconds = await paced(sender, target.port, total, rate, (i) => make(target.port, i));
  await pause(1500);
  const drops = kernelUdpDrops() - dropsBefore;
  const after = await target.report();
  await pause(3000);
  const settled = await target.report();
  sender.close();
  await target.stop();
  const sent = `${sender.sent.toLocaleString('en-US')} (${sender.sendErrors} send errors, ${drops >= 0 ? drops.toLocaleString('en-US') : '?'} dropped by the kernel)`;
  return { name, sent, seconds, answered: sender.summary(), before, after, settled };
}

function bigDatagrams(): Promise<Outcome> {
  const body = 'x'.repeat(60 * 1024);
  return udpFlood(`60 KB MESSAGE datagrams at ${RATE.toLocaleString('en-US')}/s`, SECONDS * RATE, RATE, (port, i) =>
    Buffer.from(request('MESSAGE', port, i, body), 'latin1'),
  );
}

/** Small datagrams that are wrong in the ways a careless or hostile sender is. */
function malformed(port: number, i: number): Buffer {
  switch (i % 8) {
    case 0:
      return Buffer.from(`garbage ${i} that is not SIP\r\n\r\n`);
    case 1:
      return Buffer.from(request('MESSAGE', port, i, 'hello').replace(/Content-Length: \d+/, 'Content-Length: -1'));
    case 2:
      return Buffer.from(request('MESSAGE', port, i, 'hello').replace(/Content-Length: \d+/, 'Content-Length: 500'));
    case 3:
      return Buffer.from(request('OPTIONS', port, i).replace('SIP/2.0\r\n', 'SIP/3.0\r\n'));
    case 4:
      return Buffer.from(request('OPTIONS', port, i).replace(/Call-ID: [^\r]*\r\n/, ''));
    case 5:
      return Buffer.from(request('OPTIONS', port, i).replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE'));
    case 6:
      return Buffer.from(request('FROBNICATE', port, i));
    default:
      return Buffer.from(request('OPTIONS', port, i).replace(/;branch=[^;]*/, '')); // RFC 2543 style, no branch
  }
}

function smallMalformed(): Promise<Outcome> {
  const rate = 10_000;
  return udpFlood(`${MALFORMED.toLocaleString('en-US')} small malformed datagrams (8 kinds) at ${rate.toLocaleString('en-US')}/s`, MALFORMED, rate, malformed);
}

async function stalledTcp(): Promise<Outcome> {
  const target = await startTarget();
  const before = await target.report();
  const declared = 1_000_000;
  const sentBody = 900_000;
  const t0 = Date.now();
  let closedByTarget = 0;
  const errors = new Map<string, number>();
  const sockets: net.Socket[] = [];
  const chunk = Buffer.alloc(64 * 1024, 'y');
  const opened = Array.from({ length: TCP_CONNECTIONS }, (_, i) =>
    new Promise<void>((resolve) => {
      const s = net.connect(target.port, HOST);
      sockets.push(s);
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          resolve();
        }
      };
      s.on('error', (err: NodeJS.ErrnoException) => {
        errors.set(err.code ?? 'error', (errors.get(err.code ?? 'error') ?? 0) + 1);
        finish();
      });
      s.on('close', () => {
        if (!closing) closedByTarget++;
        finish();
      });
      s.on('connect', () => {
        s.write(request('MESSAGE', target.port, i, '').replace('UDP', 'TCP').replace('Content-Length: 0', `Content-Length: ${declared}`));
        let left = sentBody;
        const more = () => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!s.write(chunk.subarray(0, n))) {
              s.once('drain', more);
              return;
            }
          }
          finish();
        };
        more();
      });
    }),
  );
  let closing = false;
  await Promise.race([Promise.all(opened), pause(30_000)]);
  const seconds = (Date.now() - t0) / 1000;
  const after = await target.report();
  await pause(12_000); // past the endpoint's partial-message timeout
  const settled = await target.report();
  closing = true;
  for (const s of sockets) s.destroy();
  await target.stop();
  return {
    name: `${TCP_CONNECTIONS} TCP connections declaring 1 MB, sending 900 KB, then stalling`,
    sent: `${TCP_CONNECTIONS} connections`,
    seconds,
    answered: `${closedByTarget} closed by the endpoint; client errors: ${[...errors].map(([c, n]) => `${c} ${n}`).join(', ') || 'none'}`,
    before,
    after,
    settled,
  };
}

async function main(): Promise<void> {
  // FLOOD_ONLY=big|malformed|tcp runs one scenario.
  const only = process.env.FLOOD_ONLY;
  const outcomes: Outcome[] = [];
  if (!only || only === 'big') outcomes.push(await bigDatagrams());
  if (!only || only === 'malformed') outcomes.push(await smallMalformed());
  if (!only || only === 'tcp') outcomes.push(await stalledTcp());
  const rows: Row[] = [];
  for (const o of outcomes) {
    rows.push({ what: o.name, value: o.sent, unit: 'sent', note: `in ${o.seconds.toFixed(1)} s` });
    rows.push({ what: '  answered', value: o.answered, unit: '' });
    rows.push({ what: '  RSS idle / peak / settled', value: `${o.before.rssNowMb} / ${o.settled.rssPeakMb} / ${o.settled.rssNowMb}`, unit: 'MB', note: o.settled.rssPeakMb < 300 ? 'under 300 MB' : 'OVER 300 MB' });
    rows.push({
      what: '  after the flood',
      value: `${o.after.serverTransactions.toLocaleString('en-US')} tx, ${(o.after.bufferedBytes / 1024 / 1024).toFixed(1)} MB held`,
      unit: '',
      note: `${o.settled.shed.toLocaleString('en-US')} requests and ${o.settled.shedConnections} connections shed in all, ${o.after.handled.toLocaleString('en-US')} handled, heap ${o.after.heapUsedMb}/${o.after.heapTotalMb} MB, external ${o.after.externalMb} MB`,
    });
  }
  printTable('SipEndpoint under floods (child process, loopback; limits: 50,000 server transactions, 16 MiB input)', rows);
}

if (require.main === module) {
  // Whatever happens, the bench ends.
  setTimeout(() => {
    console.error('flood bench: time limit reached');
    process.exit(2);
  }, 240_000).unref();
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
