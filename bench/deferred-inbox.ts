// The receiving side of bench/deferred.ts in a process of its own, as a
// client is on another host: an endpoint and an Inbox for alice; it tells
// its parent its SIP port, then, when asked, how many messages it received,
// how many ids came more than once, and how many came out of time order.
import { Inbox, type InboxMessage } from '../lib/deferred/inbox';
import { SipEndpoint } from '../lib/sip/endpoint';

export interface InboxCounts {
  received: number;
  distinct: number;
  duplicated: number;
  outOfOrder: number;
  /** CPU seconds of this process from its first message to the question (the BYE and this message included). */
  cpuSeconds: number;
}

async function main(): Promise<void> {
  const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0 });
  await ep.start();
  const inbox = new Inbox({ endpoint: ep, aor: process.env.AOR ?? 'sip:alice@lab.test' });
  inbox.start();
  const seen = new Map<string, number>();
  let received = 0;
  let outOfOrder = 0;
  let lastTime = 0;
  let cpuAtFirst: NodeJS.CpuUsage | undefined;
  inbox.on('message', (m: InboxMessage) => {
    // One reading at the start: getrusage per message would cost more than the message.
    cpuAtFirst ??= process.cpuUsage();
    received++;
    seen.set(m.messageId, (seen.get(m.messageId) ?? 0) + 1);
    const t = Date.parse(m.time ?? '');
    if (!(t > lastTime)) outOfOrder++;
    lastTime = t;
  });
  process.on('message', (msg: unknown) => {
    if (msg === 'counts') {
      const cpu = cpuAtFirst ? process.cpuUsage(cpuAtFirst) : undefined;
      const cpuSeconds = cpu ? (cpu.user + cpu.system) / 1e6 : 0;
      const counts: InboxCounts = { received, distinct: seen.size, duplicated: [...seen.values()].filter((n) => n > 1).length, outOfOrder, cpuSeconds };
      process.send?.(counts);
    } else if (msg === 'exit') {
      void inbox.close().finally(() => process.exit(0));
    }
  });
  process.send?.({ port: ep.port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
