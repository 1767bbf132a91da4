// The receiving side of bench/deferred.ts in a process of its own, as a
// client is on another host: an endpoint and an Inbox for alice; it tells
// its parent its SIP port, then, when asked, how many messages it received,
// how many ids came more than once, and how many came out of time order.
import { Inbox, type InboxMessage } from '../lib/deferred/inbox';
import { SipEndpoint } from '../lib/sip/endpoint';
import { InboxTally, type InboxCounts as TallyCounts } from './inbox-tally';

/** The tally, and CPU seconds of this process from its first message to the question. */
export type InboxCounts = TallyCounts & { cpuSeconds: number };

async function main(): Promise<void> {
  const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0 });
  await ep.start();
  const aor = process.env.AOR ?? 'sip:alice@lab.test';
  const inbox = new Inbox({ endpoint: ep, aor });
  inbox.start();
  const tally = new InboxTally();
  let cpuAtFirst: NodeJS.CpuUsage | undefined;
  inbox.on('message', (m: InboxMessage) => {
    // One reading at the start: getrusage per message would cost more than the message.
    cpuAtFirst ??= process.cpuUsage();
    tally.add(aor, m);
  });
  inbox.on('duplicate', () => tally.duplicate());
  process.on('message', (msg: unknown) => {
    if (msg === 'counts') {
      const cpu = cpuAtFirst ? process.cpuUsage(cpuAtFirst) : undefined;
      const counts: InboxCounts = { ...tally.counts(), cpuSeconds: cpu ? (cpu.user + cpu.system) / 1e6 : 0 };
      process.send?.(counts);
    } else if (msg === 'exit') void inbox.close().finally(() => process.exit(0));
  });
  process.send?.({ port: ep.port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
