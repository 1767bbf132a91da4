// Deferred delivery benchmark (issue 7): 10,000 stored messages for one user
// delivered in one INVITE + MSRP session on loopback, the server in this
// process and the inbox in a child process (bench/deferred-inbox.ts). Measures messages per second from the deliver() call to its
// report (INVITE, the MSRP connection, every SEND and its 200, every delete
// from the store, BYE), the CPU time of the process over that span, and its
// RSS; and checks that none was lost or duplicated: each id once at the
// inbox, the store empty.
// Run: npm run build && node dist/bench/deferred.js   (COUNT=..., STORE=memory|journal, WINDOW=..., CHUNK=...)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeferredDelivery } from '../lib/deferred/delivery';
import { forkBenchChild } from './bench-child';
import type { InboxCounts } from './deferred-inbox';
import { DeferredMessageStore, type DeferredMessage } from '../lib/deferred/message-store';
import { SipEndpoint } from '../lib/sip/endpoint';
import { JournalStore } from '../lib/store/journal-store';
import { MemoryStore } from '../lib/store/memory-store';
import type { KeyValueStore } from '../lib/store/store';
import { printTable, type Row } from './table';

const COUNT = Number(process.env.COUNT ?? 10_000);
const STORE = process.env.STORE === 'memory' ? 'memory' : 'journal';
const WINDOW = process.env.WINDOW ? Number(process.env.WINDOW) : undefined;
const CHUNK = process.env.CHUNK ? Number(process.env.CHUNK) : undefined;
const ALICE = 'sip:alice@lab.test';

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deferred-bench-'));
  const child = forkBenchChild('deferred-inbox.js', { AOR: ALICE });
  const { port } = await child.next<{ port: number }>();
  const server = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, outboundProxy: { host: '127.0.0.1', port, transport: 'udp' } });
  await server.start();
  const kv: KeyValueStore<DeferredMessage> = STORE === 'memory' ? new MemoryStore<DeferredMessage>() : new JournalStore<DeferredMessage>(dir);
  const messages = new DeferredMessageStore({ store: kv, maxPerUser: COUNT, maxTotal: COUNT });
  await messages.load();
  const t0 = Date.UTC(2026, 2, 1);
  await Promise.all(
    Array.from({ length: COUNT }, (_, i) =>
      messages.add({ recipient: ALICE, sender: `sip:user${i % 100}@lab.test`, contentType: 'text/plain;charset=utf-8', body: `deferred message number ${i}: see you at eight`, time: t0 + i * 1000 }),
    ),
  );
  const delivery = new DeferredDelivery({ endpoint: server, messages, serverUri: 'sip:im-server@lab.test', window: WINDOW, chunkSize: CHUNK });

  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const report = await delivery.deliver(ALICE);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);

  child.send('counts');
  const counts = await child.next<InboxCounts>();
  const duplicated = counts.duplicated;
  const lost = COUNT - counts.distinct;
  const outOfOrder = counts.outOfOrder;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const rows: Row[] = [
    { what: 'messages delivered', value: report.delivered.length, unit: 'msg', note: `outcome ${report.outcome}${report.reason ? `: ${report.reason}` : ''}` },
    { what: 'delivery rate', value: Math.round(report.delivered.length / seconds), unit: 'msg/s', note: `${seconds.toFixed(2)} s, INVITE to BYE, store ${STORE}` },
    { what: 'CPU (user + system)', value: Math.round((cpuSeconds / seconds) * 100), unit: '% of one core', note: `${cpuSeconds.toFixed(2)} s, the server process` },
    { what: 'inbox CPU', value: Math.round((counts.cpuSeconds / seconds) * 100), unit: '% of one core', note: `${counts.cpuSeconds.toFixed(2)} s, the inbox process, first message to BYE` },
    { what: 'RSS before', value: Math.round(rssBefore / 1048576), unit: 'MiB', note: `server, ${COUNT} messages stored` },
    { what: 'RSS peak', value: Math.round(rssPeak / 1048576), unit: 'MiB' },
    { what: 'received at the inbox', value: counts.received, unit: 'msg', note: `${counts.distinct} distinct ids, ${outOfOrder} out of time order` },
    { what: 'lost', value: lost, unit: 'msg', note: 'stored, not received' },
    { what: 'duplicated', value: duplicated, unit: 'msg', note: 'received more than once, or dropped by the inbox as a redelivery' },
    { what: 'left in the store', value: messages.count(ALICE), unit: 'msg' },
  ];
  printTable(`Deferred delivery: ${COUNT} messages for one user in one INVITE + MSRP session (Node ${process.version}, ${os.cpus().length} cores)`, rows);

  await delivery.close();
  child.send('exit');
  messages.close();
  await kv.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (lost || duplicated || outOfOrder || messages.count(ALICE)) process.exitCode = 1;
  // Everything is closed; a finished SIP client transaction's linger timer
  // (Timer D, 32 s on UDP) would keep the process alive for nothing.
  process.exit();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
