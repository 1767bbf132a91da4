// The subscriber side of SIP events (RFC 6665) for any event package: initial
// SUBSCRIBE, NOTIFY before or after the 200, refresh inside the dialog before
// expiry, un-SUBSCRIBE, and what to do when the notifier ends the
// subscription (by its reason). Event packages (reg, poc-settings) sit on top.
import { EventEmitter } from 'node:events';
import { requestWithAuth, type AuthLoopResult } from '../auth/authenticated-request';
import { DigestClient } from '../auth/digest-client';
import { acceptRemoteSeq, dialogAsUac, dialogAsUas, inDialogRequest, refreshTarget, type Dialog } from '../sip/dialog';
import type { IncomingRequest } from '../sip/endpoint';
import type { Exchange } from '../sip/exchange';
import { deltaSeconds, headerText, parseValueWithParams, type SipRequest } from '../sip/message';
import { parseNameAddr } from '../sip/name-addr';
import type { UserAgent } from '../sip/user-agent';
import { realScheduler, type Scheduler } from '../util/scheduler';
import { DEFAULT_BACKOFF, refreshDelaySeconds, retryDelaySeconds, type BackoffPolicy } from '../util/timing';

export interface SubscriberOptions {
  /** Request-URI and To: the resource, e.g. the address of record for `reg`. */
  target: string;
  /** From: who subscribes. */
  from: string;
  /** Event package, e.g. `reg`. */
  event: string;
  accept: string[];
  /** Requested duration, seconds. */
  expires: number;
  contactUser?: string;
  /** Preloaded route set (Service-Route of the registration), name-addr texts. */
  routeSet?: string[];
  username?: string;
  password?: string;
  userAgent?: string;
  scheduler?: Scheduler;
  backoff?: BackoffPolicy;
}

export type SubscriptionState = 'idle' | 'subscribing' | 'pending' | 'active' | 'terminated';

export interface NotifyEvent {
  request: IncomingRequest;
  state: 'active' | 'pending' | 'terminated';
  reason?: string;
  expires?: number;
  retryAfter?: number;
  body: string;
  contentType?: string;
  /** True for the first NOTIFY of a subscription (its dialog). */
  first: boolean;
}

export interface SubscriptionChange {
  state: SubscriptionState;
  previous: SubscriptionState;
  /** The notifier's reason when it ended the subscription (RFC 6665 4.1.3). */
  reason?: string;
  error?: string;
  expiresAt?: number;
  exchanges: Exchange[];
  /** The NOTIFY that caused the change when no exchange of ours did (RFC 6665 4.1.2.4: NOTIFY before the 200). */
  notify?: NotifyEvent;
}

/** Reasons after which subscribing again cannot help (RFC 6665 4.1.3). */
const FINAL_REASONS = new Set(['rejected', 'noresource', 'invariant']);
/** Responses after which subscribing again cannot help. */
const FINAL_STATUSES = new Set([400, 403, 404, 405, 406, 415, 420, 484, 489, 501, 603]);

/** Emits `notify` (NotifyEvent) and `change` (SubscriptionChange). */
export class Subscriber extends EventEmitter {
  private state: SubscriptionState = 'idle';
  private dialog: Dialog | undefined;
  private callId = '';
  private localTag = '';
  private localSeq = 0;
  private unrouteDialog: (() => void) | undefined;
  private readonly digest: DigestClient | undefined;
  private readonly scheduler: Scheduler;
  private timer: unknown;
  private expiresAt: number | undefined;
  private failures = 0;
  private want = false;
  private running: Promise<void> | undefined;
  private rerun = false;
  private sawNotify = false;
  private lastError: string | undefined;
  private readonly routeSet;

  constructor(
    private readonly ua: UserAgent,
    private readonly o: SubscriberOptions,
  ) {
    super();
    this.scheduler = o.scheduler ?? realScheduler;
    this.digest = o.password !== undefined && o.username ? new DigestClient({ username: o.username, password: o.password }) : undefined;
    this.routeSet = (o.routeSet ?? []).map(parseNameAddr).filter((r) => r !== undefined);
  }

  get current(): { state: SubscriptionState; expiresAt?: number; failures: number; error?: string; callId?: string } {
    return { state: this.state, expiresAt: this.expiresAt, failures: this.failures, error: this.lastError, callId: this.dialog?.callId };
  }

  /** True while the subscription is wanted: live, or about to be retried. */
  get wanted(): boolean {
    return this.want;
  }

  /** Subscribes (or refreshes when a dialog exists). */
  start(): Promise<void> {
    this.want = true;
    return this.run();
  }

  /** Refreshes now; the notifier answers with a NOTIFY carrying full state (RFC 6665 4.2.1.2). */
  refresh(): Promise<void> {
    return this.start();
  }

  whenIdle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Ends the subscription politely: SUBSCRIBE with Expires 0 inside the dialog. */
  async unsubscribe(): Promise<void> {
    this.want = false;
    this.clearTimer();
    await this.whenIdle();
    const d = this.dialog;
    if (!d) {
      this.teardown();
      this.setState('terminated', [], { reason: 'unsubscribed' });
      return;
    }
    const { exchanges } = await requestWithAuth({
      ua: this.ua,
      digest: this.digest,
      username: this.o.username,
      build: () => this.inDialogSubscribe(d, 0),
    });
    // The final NOTIFY (terminated) may follow; answer it if it comes soon, then forget the dialog.
    await new Promise((r) => setTimeout(r, 200).unref());
    this.teardown();
    this.setState('terminated', exchanges, { reason: 'unsubscribed' });
  }

  /** Forgets the subscription without sending anything (the notifier lets it expire). */
  stop(): void {
    this.want = false;
    this.clearTimer();
    this.teardown();
  }

  private run(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.rerun = false;
          await this.attempt();
        } while (this.rerun && this.want);
      } catch (e) {
        // A fault here (or in a listener) must not become an unhandled rejection in the host process.
        this.lastError = `internal error: ${(e as Error).message}`;
        this.state = 'terminated';
      }
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async attempt(): Promise<void> {
    if (!this.want) return;
    this.clearTimer();
    let outcome: AuthLoopResult;
    let requested = this.o.expires;
    const initial = !this.dialog;
    if (initial) {
      this.newDialogIdentity();
      this.setState('subscribing', []);
    }
    let lastRequest: SipRequest | undefined;
    outcome = await requestWithAuth({
      ua: this.ua,
      digest: this.digest,
      username: this.o.username,
      build: () => {
        lastRequest = this.dialog ? this.inDialogSubscribe(this.dialog, requested) : this.initialSubscribe(requested);
        return lastRequest;
      },
      retryOn: (res) => {
        const min = res.status === 423 ? deltaSeconds(res, 'min-expires') : undefined;
        if (min === undefined || min <= requested) return false;
        requested = min;
        return true;
      },
    });
    const res = outcome.result.response;
    if (!this.want) return;

    if (res.status >= 200 && res.status < 300) {
      if (!this.dialog && lastRequest) this.dialog = dialogAsUac(lastRequest, res);
      else if (this.dialog) refreshTarget(this.dialog, res);
      const granted = deltaSeconds(res, 'expires') ?? requested;
      this.failures = 0;
      this.lastError = undefined;
      this.setExpiry(granted);
      if (this.state === 'subscribing' || this.state === 'terminated') {
        this.setState(res.status === 202 || !this.sawNotify ? 'pending' : 'active', outcome.exchanges);
      } else this.emitChange(outcome.exchanges);
      return;
    }
    if (res.status === 481 && !initial) {
      // The notifier forgot the dialog: start a new subscription at once (RFC 6665 4.1.2.2).
      this.teardown();
      this.rerun = true;
      return;
    }
    this.failures++;
    const error = outcome.fatal ?? `${res.status} ${res.reason}`.trim();
    this.lastError = error;
    if (outcome.fatal || FINAL_STATUSES.has(res.status)) {
      this.want = false;
      this.teardown();
      this.setState('terminated', outcome.exchanges, { error });
      return;
    }
    // Retry; an established subscription stays valid until it expires.
    const delay = retryDelaySeconds(this.failures, this.o.backoff ?? DEFAULT_BACKOFF, deltaSeconds(res, 'retry-after'));
    this.schedule(delay, () => void this.run());
    if (initial) {
      this.teardown();
      this.setState('terminated', outcome.exchanges, { error });
    } else this.emitChange(outcome.exchanges);
  }

  private newDialogIdentity(): void {
    this.teardown();
    this.callId = this.ua.newCallId();
    this.localTag = this.ua.newTag();
    this.localSeq = 0;
    this.sawNotify = false;
    // Registered before sending: the first NOTIFY may beat the 200 (RFC 6665 4.1.2.4).
    this.unrouteDialog = this.ua.dialogs.register(this.callId, this.localTag, (req) => this.onRequest(req));
  }

  private initialSubscribe(expires: number): SipRequest {
    const req: SipRequest = {
      method: 'SUBSCRIBE',
      uri: this.o.target,
      version: '2.0',
      headers: {
        via: [],
        to: { uri: this.o.target, params: {} },
        from: { uri: this.o.from, params: { tag: this.localTag } },
        'call-id': this.callId,
        cseq: { seq: ++this.localSeq, method: 'SUBSCRIBE' },
      },
    };
    if (this.routeSet.length) req.headers.route = this.routeSet.map((r) => ({ ...r, params: { ...r.params } }));
    return this.decorate(req, expires);
  }

  private inDialogSubscribe(d: Dialog, expires: number): SipRequest {
    return this.decorate(inDialogRequest(d, 'SUBSCRIBE'), expires);
  }

  private decorate(req: SipRequest, expires: number): SipRequest {
    req.headers.contact = [{ uri: this.ua.contactUri(this.o.contactUser), params: {} }];
    req.headers.event = this.o.event;
    req.headers.accept = this.o.accept.join(', ');
    req.headers.expires = String(expires);
    req.headers['allow-events'] = this.o.event;
    if (this.o.userAgent) req.headers['user-agent'] = this.o.userAgent;
    return req;
  }

  private onRequest(req: IncomingRequest): void {
    const m = req.message;
    if (m.method !== 'NOTIFY') {
      req.respond(m.method === 'SUBSCRIBE' ? 489 : 405, { headers: { allow: 'NOTIFY' } });
      return;
    }
    const event = parseValueWithParams(headerText(m, 'event') ?? '').value.toLowerCase();
    if (event !== this.o.event.toLowerCase()) {
      req.respond(489, { headers: { 'allow-events': this.o.event } });
      return;
    }
    const stateHeader = headerText(m, 'subscription-state');
    if (!stateHeader) {
      req.respond(400, { reason: 'Bad Request (Missing Subscription-State)' });
      return;
    }
    const remoteTag = m.headers.from.params.tag ? String(m.headers.from.params.tag) : '';
    if (!this.dialog) {
      // NOTIFY before the 200: it establishes the dialog (RFC 6665 4.1.2.4).
      this.dialog = dialogAsUas(m, this.localTag, this.localSeq);
      if (!this.dialog) {
        req.respond(400, { reason: 'Bad Request (NOTIFY without tag or Contact)' });
        return;
      }
      this.dialog.remoteUri = this.o.target;
      this.dialog.localUri = this.o.from;
    } else if (this.dialog.remoteTag !== remoteTag) {
      // A second dialog from a forked SUBSCRIBE: we keep the first one only.
      req.respond(481);
      return;
    } else if (!acceptRemoteSeq(this.dialog, m)) {
      req.respond(500, { reason: 'Server Internal Error (CSeq out of order)' });
      return;
    } else refreshTarget(this.dialog, m);
    req.respond(200);

    const ss = parseValueWithParams(stateHeader);
    const state = ss.value.toLowerCase() as NotifyEvent['state'];
    const num = (k: string) => (ss.params[k] != null && /^\d+$/.test(String(ss.params[k])) ? Number(ss.params[k]) : undefined);
    const first = !this.sawNotify;
    this.sawNotify = true;
    const notify: NotifyEvent = {
      request: req,
      state: state === 'active' || state === 'pending' || state === 'terminated' ? state : 'active',
      reason: ss.params.reason ? String(ss.params.reason).toLowerCase() : undefined,
      expires: num('expires'),
      retryAfter: num('retry-after'),
      body: m.content ?? '',
      contentType: headerText(m, 'content-type'),
      first,
    };
    this.emit('notify', notify);
    this.afterNotify(notify);
  }

  private afterNotify(n: NotifyEvent): void {
    if (n.state === 'terminated') {
      this.onTerminated(n);
      return;
    }
    if (n.expires !== undefined && (this.expiresAt === undefined || this.scheduler.now() + n.expires * 1000 < this.expiresAt)) {
      // The notifier may shorten the subscription (RFC 6665 4.1.2.3).
      this.setExpiry(n.expires);
    }
    if (this.state !== n.state) this.setState(n.state, [], { notify: n });
  }

  private onTerminated(n: NotifyEvent): void {
    this.teardown();
    if (!this.want) return; // we asked for it (un-SUBSCRIBE)
    const reason = n.reason;
    if (reason && FINAL_REASONS.has(reason)) {
      this.want = false;
      this.lastError = `the notifier ended the subscription: ${reason}`;
      this.setState('terminated', [], { reason, error: this.lastError, notify: n });
      return;
    }
    this.setState('terminated', [], { reason, notify: n });
    if (reason === 'deactivated' || reason === 'timeout') {
      // Subscribe again at once (RFC 6665 4.1.3).
      void this.run();
    } else {
      // probation, giveup, or no reason: wait retry-after, else back off.
      this.failures++;
      const delay = n.retryAfter ?? retryDelaySeconds(this.failures, this.o.backoff ?? DEFAULT_BACKOFF);
      this.schedule(delay, () => void this.run());
    }
  }

  private setExpiry(seconds: number): void {
    this.expiresAt = this.scheduler.now() + seconds * 1000;
    if (seconds === 0) return;
    this.schedule(refreshDelaySeconds(seconds), () => void this.run());
  }

  private schedule(seconds: number, fn: () => void): void {
    this.clearTimer();
    if (!this.want) return;
    this.timer = this.scheduler.set(() => {
      this.timer = undefined;
      fn();
    }, seconds * 1000);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
  }

  private teardown(): void {
    this.unrouteDialog?.();
    this.unrouteDialog = undefined;
    this.dialog = undefined;
    this.expiresAt = undefined;
  }

  private setState(state: SubscriptionState, exchanges: Exchange[], extra: { reason?: string; error?: string; notify?: NotifyEvent } = {}): void {
    const previous = this.state;
    this.state = state;
    this.emit('change', { state, previous, ...extra, expiresAt: this.expiresAt, exchanges } satisfies SubscriptionChange);
  }

  private emitChange(exchanges: Exchange[]): void {
    this.emit('change', { state: this.state, previous: this.state, expiresAt: this.expiresAt, exchanges, error: this.lastError } satisfies SubscriptionChange);
  }
}
