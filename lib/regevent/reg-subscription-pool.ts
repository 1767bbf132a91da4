// The reg event subscriptions of one node, one per address of record: a
// server that hears of a user's registration again (every refresh brings a
// new third-party REGISTER) keeps the subscription it has.
import { EventEmitter } from 'node:events';
import { addressOfRecord, normaliseIdentity } from '../sip/uri';
import type { UserAgent } from '../sip/user-agent';
import type { SubscriptionChange, SubscriptionState } from '../subscription/subscriber';
import { RegSubscription, type RegProblem, type RegSubscriptionOptions, type RegUpdate } from './reg-subscription';

export interface RegPoolOptions {
  domain: string;
  /** From of our SUBSCRIBEs when the caller names none. */
  from?: string;
  expires: number;
  username?: string;
  password?: string;
  userAgent?: string;
  contactUser?: string;
}

export interface SubscribeRequest {
  aor: string;
  from?: string;
  routeSet?: string[];
}

/** Re-emits its subscriptions' `update`, `invalid`, `resync` and `change` (with the aor first). */
export class RegSubscriptionPool extends EventEmitter {
  private readonly subs = new Map<string, RegSubscription>();

  constructor(
    private readonly ua: UserAgent,
    private readonly o: RegPoolOptions,
  ) {
    super();
  }

  /** The subscription for an AOR, created and started on first use; `created` says which. */
  ensure(r: SubscribeRequest): { sub: RegSubscription; created: boolean } | { error: string } {
    const full = normaliseIdentity(r.aor, this.o.domain);
    const aor = full ? addressOfRecord(full) : undefined;
    if (!aor || aor.startsWith('tel:')) return { error: `"${r.aor}" is not a SIP address of record` };
    const existing = this.subs.get(aor);
    if (existing) {
      // A live subscription, or one about to try again, is kept; one that ended for good is replaced.
      if (existing.subscriber.wanted) return { sub: existing, created: false };
      this.drop(aor);
    }
    const from = r.from ?? this.o.from ?? aor;
    const options: RegSubscriptionOptions = {
      target: aor,
      from,
      expires: this.o.expires,
      routeSet: r.routeSet,
      username: this.o.username,
      password: this.o.password,
      userAgent: this.o.userAgent,
      contactUser: this.o.contactUser,
    };
    const sub = new RegSubscription(this.ua, options);
    sub.on('update', (u: RegUpdate) => this.emit('update', aor, u));
    sub.on('invalid', (p: RegProblem) => this.emit('invalid', aor, p));
    sub.on('resync', (p: RegProblem) => this.emit('resync', aor, p));
    sub.on('change', (c: SubscriptionChange) => this.emit('change', aor, c));
    this.subs.set(aor, sub);
    void sub.start();
    return { sub, created: true };
  }

  get(aor: string): RegSubscription | undefined {
    return this.subs.get(addressOfRecord(normaliseIdentity(aor, this.o.domain) ?? aor) ?? aor);
  }

  list(): RegSubscription[] {
    return [...this.subs.values()];
  }

  get size(): number {
    return this.subs.size;
  }

  counts(): Partial<Record<SubscriptionState, number>> {
    const out: Partial<Record<SubscriptionState, number>> = {};
    for (const s of this.subs.values()) {
      const st = s.subscriber.current.state;
      out[st] = (out[st] ?? 0) + 1;
    }
    return out;
  }

  /** Ends one subscription politely and forgets it. */
  async unsubscribe(aor: string): Promise<boolean> {
    const sub = this.get(aor);
    if (!sub) return false;
    this.subs.delete(sub.aor);
    await sub.unsubscribe();
    sub.removeAllListeners();
    return true;
  }

  async unsubscribeAll(timeoutMs: number): Promise<void> {
    const all = Promise.all([...this.subs.keys()].map((a) => this.unsubscribe(a)));
    let t: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
    if (t) clearTimeout(t);
  }

  stopAll(): void {
    for (const aor of [...this.subs.keys()]) this.drop(aor);
  }

  private drop(aor: string): void {
    const sub = this.subs.get(aor);
    if (!sub) return;
    sub.stop();
    sub.removeAllListeners();
    this.subs.delete(aor);
  }
}
