// The client's fetch of deferred-message info (seed 004 7.2.6.1): one
// SUBSCRIBE with Expires 0, answered by one NOTIFY that carries the list and
// ends the subscription (RFC 6665 4.4.3). A refusal the server may take back
// (503 with Retry-After while it reads its store, a 5xx, a timeout) is tried
// again as the subscriber's back-off says, within the fetch's deadline; a
// final one (403, 404, 489...) ends the fetch at once.
import type { UserAgent } from '../sip/user-agent';
import { Subscriber, type NotifyEvent, type SubscriberOptions, type SubscriptionChange } from '../subscription/subscriber';

/** How long a fetch waits for its NOTIFY, retries included: T1 x 64, a transaction's lifetime. */
export const DEFAULT_FETCH_TIMEOUT_MS = 32_000;

export interface InfoFetchResult {
  notify: NotifyEvent;
  exchanges: SubscriptionChange['exchanges'];
}

export class InfoFetch {
  private readonly sub: Subscriber;
  private timer: NodeJS.Timeout | undefined;
  private settle: ((e?: Error) => void) | undefined;

  constructor(ua: UserAgent, o: Omit<SubscriberOptions, 'expires'>) {
    this.sub = new Subscriber(ua, { ...o, expires: 0 });
  }

  /** Resolves with the NOTIFY; rejects on a final refusal, at the deadline (with the last refusal), or when aborted. */
  run(timeoutMs = DEFAULT_FETCH_TIMEOUT_MS): Promise<InfoFetchResult> {
    const sub = this.sub;
    return new Promise<InfoFetchResult>((resolve, reject) => {
      let exchanges: SubscriptionChange['exchanges'] = [];
      const end = (e?: Error, r?: InfoFetchResult) => {
        if (!this.settle) return;
        this.settle = undefined;
        clearTimeout(this.timer);
        // At once, before the subscriber reads the terminated state as a reason to subscribe again.
        sub.stop();
        sub.removeAllListeners();
        if (e) reject(e);
        else resolve(r!);
      };
      this.settle = end;
      sub.on('notify', (n: NotifyEvent) => end(undefined, { notify: n, exchanges }));
      sub.on('change', (c: SubscriptionChange) => {
        if (c.exchanges.length) exchanges = c.exchanges;
        // Terminated with an error but still wanted: the subscriber tries again.
        if (c.state === 'terminated' && c.error && !sub.wanted) end(new Error(c.error));
      });
      this.timer = setTimeout(() => end(new Error(sub.current.error ? `no NOTIFY (last answer: ${sub.current.error})` : 'no NOTIFY')), timeoutMs);
      sub.start().catch((e: unknown) => end(e instanceof Error ? e : new Error(String(e))));
    });
  }

  /** Gives up: the pending run rejects, and nothing more is sent. */
  abort(): void {
    this.settle?.(new Error('aborted'));
    this.sub.stop();
  }
}
