// What the receiving side of a deferred-delivery benchmark counts: each
// message once by its Message-ID, redeliveries (those the inbox dropped
// itself and any that got through), and per user the messages that came
// out of order.
import type { InboxMessage } from '../lib/deferred/inbox';

export interface InboxCounts {
  received: number;
  distinct: number;
  /** Ids received more than once, plus redeliveries the inbox dropped by their Message-ID. */
  duplicated: number;
  outOfOrder: number;
}

export class InboxTally {
  private readonly seen = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private received = 0;
  private outOfOrder = 0;
  private dropped = 0;

  /** `orderOf` gives each message its place in its user's order; each must come after the one before. */
  constructor(private readonly orderOf: (m: InboxMessage) => number = (m) => Date.parse(m.time ?? '')) {}

  /** A message output to `user`'s inbox. */
  add(user: string, m: InboxMessage): void {
    this.received++;
    this.seen.set(m.messageId, (this.seen.get(m.messageId) ?? 0) + 1);
    const place = this.orderOf(m);
    if (!(place > (this.last.get(user) ?? -Infinity))) this.outOfOrder++;
    this.last.set(user, place);
  }

  /** A redelivery the inbox recognised and did not output. */
  duplicate(): void {
    this.dropped++;
  }

  counts(): InboxCounts {
    const twice = [...this.seen.values()].filter((n) => n > 1).length;
    return { received: this.received, distinct: this.seen.size, duplicated: twice + this.dropped, outOfOrder: this.outOfOrder };
  }
}
