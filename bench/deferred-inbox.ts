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
  inbox.on('message', (m: InboxMessage) => {
    received++;
    seen.set(m.messageId, (seen.get(m.messageId) ?? 0) + 1);
    const t = Date.parse(m.time ?? '');
    if (!(t > lastTime)) outOfOrder++;
    lastTime = t;
  });
  process.on('message', (msg: unknown) => {
    if (msg === 'counts') {
      const counts: InboxCounts = { received, distinct: seen.size, duplicated: [...seen.values()].filter((n) => n > 1).length, outOfOrder };
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
