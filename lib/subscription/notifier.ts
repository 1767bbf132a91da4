// The notifier side of SIP events (RFC 6665) for any event package: the
// dialog as UAS, Subscription-State, expiry within bounds, refresh inside the
// dialog, un-SUBSCRIBE answered by a final NOTIFY, termination on expiry, and
// at most one NOTIFY in flight per dialog. Event packages (reg, poc-settings)
// say which resource a SUBSCRIBE is for, who may watch it, and what the body
// of each NOTIFY is.
import { acceptRemoteSeq, dialogAsUas, inDialogRequest, refreshTarget, type Dialog } from '../sip/dialog';
import type { IncomingRequest } from '../sip/endpoint';
import { deltaSeconds, headerText, parseValueWithParams } from '../sip/message';
import type { UserAgent } from '../sip/user-agent';
import type { Scheduler } from '../util/scheduler';

export interface NotifierOptions {
  /** Event package, e.g. `reg` or `poc-settings`. */
  event: string;
  /** Content-Type of every NOTIFY body. */
  contentType: string;
  scheduler: Scheduler;
  /** Shorter requests get 423 with Min-Expires (RFC 6665 4.2.1.1). Default 60 s. */
  minExpires?: number;
  /** Longer requests are granted this much. Default 3600 s. */
  maxExpires?: number;
  /** When the SUBSCRIBE names no Expires (the package default, RFC 6665 4.1.2.1). Default 3600 s. */
  defaultExpires?: number;
  /**
   * Subscriptions one watcher identity may hold at once. Above it: 403, a
   * policy answer (the same watcher asking again later gets the same answer
   * until it ends one of its own), so no Retry-After. Default: no cap.
   */
  maxPerWatcher?: number;
  /**
   * Subscriptions in total. Above it: 503 with Retry-After, because it is the
   * server's load, which falls as other subscriptions end (RFC 3261 21.5.4).
   * Default: no cap.
   */
  maxTotal?: number;
  /** Retry-After seconds of that 503. Default 300. */
  retryAfter?: number;
}

/** One subscription as the event package sees it; `state` is the package's own. */
export interface NotifierSubscription<S> {
  /** What is watched, e.g. the address of record. */
  readonly resource: string;
  /** Who watches: the identity the caps count by. */
  readonly watcher: string;
  /** URI of the subscriber (From of the SUBSCRIBE). */
  readonly subscriber: string;
  readonly dialog: Dialog;
  readonly state: S;
  readonly expiresAt: number;
}

/**
 * Body of the next NOTIFY, built when it leaves (so content that came while
 * another NOTIFY was in flight is coalesced into one). `full` asks for the
 * whole state: after a SUBSCRIBE, a refresh, and in the final NOTIFY.
 */
export type NotifyBody<S> = (sub: NotifierSubscription<S>, full: boolean) => string;

export interface SubscriptionReport {
  resource: string;
  watcher: string;
  subscriber: string;
  event: 'subscribed' | 'refreshed' | 'terminated';
  reason?: string;
}

export interface SubscribeRequest<S> {
  resource: string;
  watcher: string;
  /** The package's state for this subscription. */
  state: S;
}

interface Entry<S> extends NotifierSubscription<S> {
  expiresAt: number;
  eventId?: string;
  timer: unknown;
  unroute: () => void;
  sending: boolean;
  /** What waits behind the NOTIFY in flight: nothing, a change, or the whole state. */
  pending: 'none' | 'change' | 'full';
  /** Subscription-State of the final NOTIFY once the subscription ended. */
  finalState?: string;
  ended: boolean;
}

export class Notifier<S> {
  private readonly byResource = new Map<string, Set<Entry<S>>>();
  private readonly byWatcher = new Map<string, number>();
  private total = 0;
  private readonly min: number;
  private readonly max: number;
  private readonly defaultExpires: number;
  onReport?: (r: SubscriptionReport) => void;

  constructor(
    private readonly ua: UserAgent,
    private readonly o: NotifierOptions,
    private readonly body: NotifyBody<S>,
  ) {
    this.min = o.minExpires ?? 60;
    this.max = o.maxExpires ?? 3600;
    this.defaultExpires = o.defaultExpires ?? 3600;
  }

  /** Number of live subscriptions. */
  get size(): number {
    return this.total;
  }

  /** Live subscriptions of one resource, or of all. */
  subscriptions(resource?: string): NotifierSubscription<S>[] {
    if (resource !== undefined) return [...(this.byResource.get(resource) ?? [])];
    return [...this.byResource.values()].flatMap((s) => [...s]);
  }

  /** Resources with at least one watcher. */
  resources(): string[] {
    return [...this.byResource.keys()];
  }

  /**
   * Takes an initial SUBSCRIBE that the package has already accepted (right
   * event, known resource, allowed watcher): answers it and sends the first
   * NOTIFY. Returns the subscription, or undefined when the request was
   * refused here (423, 400, caps) or was a fetch (Expires 0).
   */
  subscribe(req: IncomingRequest, s: SubscribeRequest<S>): NotifierSubscription<S> | undefined {
    const m = req.message;
    const expires = this.grant(req);
    if (expires === undefined) return undefined;
    const dialog = dialogAsUas(m, req.toTag);
    if (!dialog) {
      req.respond(400, { reason: 'Bad Request (SUBSCRIBE without From tag or Contact)' });
      return undefined;
    }
    if (expires > 0 && !this.withinCaps(req, s.watcher)) return undefined;
    this.respondOk(req, expires);
    const entry: Entry<S> = {
      resource: s.resource,
      watcher: s.watcher,
      subscriber: m.headers.from.uri,
      dialog,
      state: s.state,
      expiresAt: 0,
      eventId: eventIdOf(req),
      timer: undefined,
      unroute: () => undefined,
      sending: false,
      pending: 'none',
      ended: false,
    };
    if (expires === 0) {
      // A fetch: one NOTIFY with the state, and the subscription is over (RFC 6665 4.4.3).
      entry.ended = true;
      entry.finalState = 'terminated;reason=timeout';
      this.pump(entry);
      return undefined;
    }
    entry.unroute = this.ua.dialogs.register(dialog.callId, dialog.localTag, (r) => this.inDialog(entry, r));
    let set = this.byResource.get(s.resource);
    if (!set) this.byResource.set(s.resource, (set = new Set()));
    set.add(entry);
    this.total++;
    this.byWatcher.set(s.watcher, (this.byWatcher.get(s.watcher) ?? 0) + 1);
    this.arm(entry, expires);
    this.report(entry, 'subscribed');
    this.queue(entry, 'full');
    return entry;
  }

  /** The resource changed: every watcher of it gets a NOTIFY (coalesced behind one in flight). */
  changed(resource: string): void {
    for (const e of this.byResource.get(resource) ?? []) this.queue(e, 'change');
  }

  /** Ends one subscription with a final NOTIFY carrying `reason` (RFC 6665 4.2.2). */
  end(sub: NotifierSubscription<S>, reason: string): void {
    const entry = sub as Entry<S>;
    if (entry.ended) return;
    entry.ended = true;
    entry.finalState = `terminated;reason=${reason}`;
    this.forget(entry);
    this.report(entry, 'terminated', reason);
    this.pump(entry);
  }

  /** Ends every subscription (the server is stopping): subscribers should try again later. */
  close(reason = 'deactivated'): void {
    for (const e of this.subscriptions()) this.end(e, reason);
  }

  /** Expires of a SUBSCRIBE, or undefined after answering 423. */
  private grant(req: IncomingRequest): number | undefined {
    const asked = deltaSeconds(req.message, 'expires') ?? this.defaultExpires;
    if (asked > 0 && asked < this.min) {
      req.respond(423, { headers: { 'min-expires': String(this.min) } });
      return undefined;
    }
    return Math.min(asked, this.max);
  }

  private withinCaps(req: IncomingRequest, watcher: string): boolean {
    if (this.o.maxPerWatcher !== undefined && (this.byWatcher.get(watcher) ?? 0) >= this.o.maxPerWatcher) {
      req.respond(403, { reason: 'Forbidden (too many subscriptions for this watcher)' });
      return false;
    }
    if (this.o.maxTotal !== undefined && this.total >= this.o.maxTotal) {
      req.respond(503, { reason: 'Service Unavailable (too many subscriptions)', headers: { 'retry-after': String(this.o.retryAfter ?? 300) } });
      return false;
    }
    return true;
  }

  private respondOk(req: IncomingRequest, expires: number): void {
    req.respond(200, { headers: { expires: String(expires), contact: [{ uri: this.ua.contactUri(), params: {} }] } });
  }

  private inDialog(entry: Entry<S>, req: IncomingRequest): void {
    const m = req.message;
    if (m.method !== 'SUBSCRIBE') {
      req.respond(405, { headers: { allow: 'SUBSCRIBE' } });
      return;
    }
    if (!acceptRemoteSeq(entry.dialog, m)) {
      req.respond(500, { reason: 'Server Internal Error (CSeq out of order)' });
      return;
    }
    const expires = this.grant(req);
    if (expires === undefined) return;
    refreshTarget(entry.dialog, m);
    this.respondOk(req, expires);
    if (expires === 0) {
      this.end(entry, 'timeout');
      return;
    }
    this.arm(entry, expires);
    this.report(entry, 'refreshed');
    // A refresh is answered with full state (RFC 6665 4.2.1.2).
    this.queue(entry, 'full');
  }

  private arm(entry: Entry<S>, expires: number): void {
    if (entry.timer !== undefined) this.o.scheduler.clear(entry.timer);
    entry.expiresAt = this.o.scheduler.now() + expires * 1000;
    entry.timer = this.o.scheduler.set(() => {
      entry.timer = undefined;
      this.end(entry, 'timeout');
    }, expires * 1000);
  }

  private forget(entry: Entry<S>): void {
    if (entry.timer !== undefined) this.o.scheduler.clear(entry.timer);
    entry.timer = undefined;
    const set = this.byResource.get(entry.resource);
    if (set?.delete(entry)) {
      this.total--;
      const n = (this.byWatcher.get(entry.watcher) ?? 1) - 1;
      if (n > 0) this.byWatcher.set(entry.watcher, n);
      else this.byWatcher.delete(entry.watcher);
    }
    if (set?.size === 0) this.byResource.delete(entry.resource);
    // Later requests in this dialog get 481 from the endpoint.
    entry.unroute();
  }

  private report(entry: Entry<S>, event: SubscriptionReport['event'], reason?: string): void {
    this.onReport?.({ resource: entry.resource, watcher: entry.watcher, subscriber: entry.subscriber, event, reason });
  }

  private queue(entry: Entry<S>, what: 'change' | 'full'): void {
    if (entry.ended) return;
    if (entry.pending !== 'full') entry.pending = what;
    this.pump(entry);
  }

  /** Sends what waits, unless a NOTIFY of this dialog is still in flight (RFC 6665 4.2.2). */
  private pump(entry: Entry<S>): void {
    if (entry.sending) return;
    const final = entry.finalState;
    if (final === undefined && (entry.ended || entry.pending === 'none')) return;
    const full = final !== undefined || entry.pending === 'full';
    entry.pending = 'none';
    entry.finalState = undefined;
    let state: string;
    let body: string;
    try {
      state = final ?? this.activeState(entry);
      body = this.body(entry, full);
    } catch {
      // A package that cannot build its body cannot serve this watcher.
      if (!entry.ended) this.drop(entry, 'body failed');
      return;
    }
    entry.sending = true;
    this.send(entry, state, body).then(
      (status) => {
        entry.sending = false;
        // The subscriber is gone or refuses (481, 408 timeout, ...): drop it (RFC 6665 4.2.2).
        if (final === undefined && status >= 300) this.drop(entry, `NOTIFY got ${status}`);
        this.pump(entry);
      },
      () => {
        entry.sending = false;
        if (final === undefined) this.drop(entry, 'NOTIFY failed');
        this.pump(entry);
      },
    );
  }

  private drop(entry: Entry<S>, reason: string): void {
    if (entry.ended) return;
    entry.ended = true;
    this.forget(entry);
    this.report(entry, 'terminated', reason);
  }

  private activeState(entry: Entry<S>): string {
    const left = Math.max(0, Math.round((entry.expiresAt - this.o.scheduler.now()) / 1000));
    return `active;expires=${left}`;
  }

  private async send(entry: Entry<S>, subscriptionState: string, body: string): Promise<number> {
    const req = inDialogRequest(entry.dialog, 'NOTIFY');
    req.headers.event = entry.eventId === undefined ? this.o.event : `${this.o.event};id=${entry.eventId}`;
    req.headers['subscription-state'] = subscriptionState;
    req.headers.contact = [{ uri: this.ua.contactUri(), params: {} }];
    req.headers['content-type'] = this.o.contentType;
    req.content = body;
    const { response } = await this.ua.request(req);
    return response.status;
  }
}

/** The `id` of the SUBSCRIBE's Event header, which every NOTIFY must echo (RFC 6665 8.2.1). */
function eventIdOf(req: IncomingRequest): string | undefined {
  const id = parseValueWithParams(headerText(req.message, 'event') ?? '').params.id;
  return id ?? undefined;
}

/** The event package named by a request's Event header, lower-cased. */
export function eventPackage(req: IncomingRequest): string {
  return parseValueWithParams(headerText(req.message, 'event') ?? '').value.toLowerCase();
}
