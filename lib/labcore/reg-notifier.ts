// The lab core as reg event notifier (RFC 3680 over RFC 6665): full state in
// the NOTIFY that follows each SUBSCRIBE and refresh, a partial document with
// the next version on every change of the user's bindings, and a terminated
// subscription on expiry or un-SUBSCRIBE. Lab rule: anyone may subscribe.
import { writeReginfo } from '../reginfo/reginfo-writer';
import { REGINFO_CONTENT_TYPE, type Contact, type ContactEvent, type ReginfoDocument, type RegistrationState } from '../reginfo/reginfo-types';
import { acceptRemoteSeq, dialogAsUas, inDialogRequest, refreshTarget, type Dialog } from '../sip/dialog';
import type { IncomingRequest } from '../sip/endpoint';
import { deltaSeconds, headerText, parseValueWithParams, unquote } from '../sip/message';
import { addressOfRecord, parseUri } from '../sip/uri';
import type { UserAgent } from '../sip/user-agent';
import type { Scheduler } from '../util/scheduler';
import type { Binding, BindingEvent, LocationService } from './location';

export interface RegNotifierOptions {
  domain: string;
  isUser: (user: string) => boolean;
  scheduler: Scheduler;
  minExpires?: number;
  maxExpires?: number;
}

interface Watch {
  aor: string;
  dialog: Dialog;
  version: number;
  expiresAt: number;
  timer: unknown;
  unroute: () => void;
  /** Whether the last document said the registration was active (for init vs terminated). */
  wasActive: boolean;
  sending: boolean;
  /**
   * Changes that came while a NOTIFY was in flight, by binding: they go out
   * together after it (RFC 6665 4.2.2 allows one NOTIFY at a time per dialog).
   */
  queued: Map<string, BindingEvent>;
  ended: boolean;
}

export interface NotifierReport {
  aor: string;
  subscriber: string;
  event: 'subscribed' | 'refreshed' | 'terminated';
  reason?: string;
}

const DEFAULT_EXPIRES = 3600;

export class RegEventNotifier {
  private readonly watches = new Map<string, Set<Watch>>();
  private readonly lastEvent = new Map<string, ContactEvent>();
  private readonly registrationIds = new Map<string, string>();
  private readonly min: number;
  private readonly max: number;
  onReport?: (r: NotifierReport) => void;

  constructor(
    private readonly ua: UserAgent,
    private readonly location: LocationService,
    private readonly o: RegNotifierOptions,
  ) {
    this.min = o.minExpires ?? 60;
    this.max = o.maxExpires ?? 3600;
  }

  /** Number of live subscriptions. */
  get size(): number {
    let n = 0;
    for (const s of this.watches.values()) n += s.size;
    return n;
  }

  /** Takes an initial SUBSCRIBE; false when its event package is not `reg`. */
  handle(req: IncomingRequest): boolean {
    const m = req.message;
    if (parseValueWithParams(headerText(m, 'event') ?? '').value.toLowerCase() !== 'reg') return false;
    const ruri = parseUri(m.uri);
    const aor = addressOfRecord(m.uri);
    if (!ruri?.user || !aor || ruri.host.toLowerCase() !== this.o.domain.toLowerCase() || !this.o.isUser(ruri.user)) {
      req.respond(404, { reason: 'Not Found (no such user here)' });
      return true;
    }
    const expires = this.grant(req);
    if (expires === undefined) return true;
    const dialog = dialogAsUas(m, req.toTag);
    if (!dialog) {
      req.respond(400, { reason: 'Bad Request (SUBSCRIBE without From tag or Contact)' });
      return true;
    }
    req.respond(200, { headers: { expires: String(expires), contact: [{ uri: this.ua.contactUri(), params: {} }] } });
    const watch: Watch = {
      aor,
      dialog,
      version: 0,
      expiresAt: 0,
      timer: undefined,
      unroute: () => undefined,
      wasActive: false,
      sending: false,
      queued: new Map(),
      ended: false,
    };
    if (expires === 0) {
      // A fetch: one NOTIFY with the state, and the subscription is over (RFC 6665 4.4.3).
      void this.notify(watch, this.fullDocument(watch), 'terminated;reason=timeout');
      return true;
    }
    watch.unroute = this.ua.dialogs.register(dialog.callId, dialog.localTag, (r) => this.inDialog(watch, r));
    let set = this.watches.get(aor);
    if (!set) this.watches.set(aor, (set = new Set()));
    set.add(watch);
    this.arm(watch, expires);
    this.onReport?.({ aor, subscriber: m.headers.from.uri, event: 'subscribed' });
    void this.notify(watch, this.fullDocument(watch), this.activeState(watch));
    return true;
  }

  /** Expires of a SUBSCRIBE, or undefined after answering 423. */
  private grant(req: IncomingRequest): number | undefined {
    const asked = deltaSeconds(req.message, 'expires') ?? DEFAULT_EXPIRES;
    if (asked > 0 && asked < this.min) {
      req.respond(423, { headers: { 'min-expires': String(this.min) } });
      return undefined;
    }
    return Math.min(asked, this.max);
  }

  private inDialog(watch: Watch, req: IncomingRequest): void {
    const m = req.message;
    if (m.method !== 'SUBSCRIBE') {
      req.respond(405, { headers: { allow: 'SUBSCRIBE' } });
      return;
    }
    if (!acceptRemoteSeq(watch.dialog, m)) {
      req.respond(500, { reason: 'Server Internal Error (CSeq out of order)' });
      return;
    }
    const expires = this.grant(req);
    if (expires === undefined) return;
    refreshTarget(watch.dialog, m);
    req.respond(200, { headers: { expires: String(expires), contact: [{ uri: this.ua.contactUri(), params: {} }] } });
    if (expires === 0) {
      this.end(watch, 'timeout');
      return;
    }
    this.arm(watch, expires);
    this.onReport?.({ aor: watch.aor, subscriber: watch.dialog.remoteUri, event: 'refreshed' });
    // A refresh is answered with full state (RFC 6665 4.2.1.2).
    void this.notify(watch, this.fullDocument(watch), this.activeState(watch));
  }

  private arm(watch: Watch, expires: number): void {
    if (watch.timer !== undefined) this.o.scheduler.clear(watch.timer);
    watch.expiresAt = this.o.scheduler.now() + expires * 1000;
    watch.timer = this.o.scheduler.set(() => {
      watch.timer = undefined;
      this.end(watch, 'timeout');
    }, expires * 1000);
  }

  private activeState(watch: Watch): string {
    const left = Math.max(0, Math.round((watch.expiresAt - this.o.scheduler.now()) / 1000));
    return `active;expires=${left}`;
  }

  /** Ends a subscription with a final NOTIFY (RFC 6665 4.2.2). */
  private end(watch: Watch, reason: string): void {
    if (watch.ended) return;
    watch.ended = true;
    this.forget(watch);
    this.onReport?.({ aor: watch.aor, subscriber: watch.dialog.remoteUri, event: 'terminated', reason });
    void this.notify(watch, this.fullDocument(watch), `terminated;reason=${reason}`, true);
  }

  private forget(watch: Watch): void {
    if (watch.timer !== undefined) this.o.scheduler.clear(watch.timer);
    watch.timer = undefined;
    this.watches.get(watch.aor)?.delete(watch);
    if (this.watches.get(watch.aor)?.size === 0) this.watches.delete(watch.aor);
    // The dialog stays routed briefly so a late refresh gets 481 from the endpoint, not from us.
    watch.unroute();
  }

  /** Call with every location change: subscribers of the user get a partial document. */
  onBindings(aor: string, events: BindingEvent[]): void {
    for (const e of events) {
      if (e.event === 'expired' || e.event === 'unregistered') this.lastEvent.delete(e.binding.id);
      else this.lastEvent.set(e.binding.id, e.event);
    }
    const set = this.watches.get(aor);
    if (!set) return;
    for (const watch of set) {
      if (watch.sending) {
        for (const e of events) watch.queued.set(e.binding.id, e);
        continue;
      }
      void this.notify(watch, this.partialDocument(watch, events), this.activeState(watch));
    }
  }

  private async notify(watch: Watch, doc: ReginfoDocument, subscriptionState: string, final = false): Promise<void> {
    try {
      await this.sendNotify(watch, doc, subscriptionState, final);
    } catch {
      // Never an unhandled rejection: a subscription we cannot notify is dropped.
      watch.ended = true;
      this.forget(watch);
    }
  }

  private async sendNotify(watch: Watch, doc: ReginfoDocument, subscriptionState: string, final: boolean): Promise<void> {
    watch.sending = true;
    const req = inDialogRequest(watch.dialog, 'NOTIFY');
    req.headers.event = 'reg';
    req.headers['subscription-state'] = subscriptionState;
    req.headers.contact = [{ uri: this.ua.contactUri(), params: {} }];
    req.headers['content-type'] = REGINFO_CONTENT_TYPE;
    req.content = writeReginfo(doc);
    const { response } = await this.ua.request(req);
    watch.sending = false;
    if (final) return;
    if (response.status >= 300 && !watch.ended) {
      // The subscriber is gone or refuses: drop the subscription (RFC 6665 4.2.2).
      watch.ended = true;
      this.forget(watch);
      this.onReport?.({ aor: watch.aor, subscriber: watch.dialog.remoteUri, event: 'terminated', reason: `NOTIFY got ${response.status}` });
      return;
    }
    if (watch.queued.size && !watch.ended) {
      const events = [...watch.queued.values()];
      watch.queued.clear();
      void this.notify(watch, this.partialDocument(watch, events), this.activeState(watch));
    }
  }

  private registrationId(aor: string): string {
    let id = this.registrationIds.get(aor);
    if (!id) this.registrationIds.set(aor, (id = `r${this.registrationIds.size + 1}`));
    return id;
  }

  /** Full state: every binding of the user (RFC 3680 5.4, `init` before any registration). */
  private fullDocument(watch: Watch): ReginfoDocument {
    const bindings = this.location.lookup(watch.aor);
    const contacts = bindings.map((b) => this.contactOf(b, this.lastEvent.get(b.id) ?? 'registered', 'active'));
    return this.document(watch, 'full', bindings.length > 0 ? 'active' : watch.wasActive ? 'terminated' : 'init', contacts);
  }

  /** Only what changed, with the next version. */
  private partialDocument(watch: Watch, events: BindingEvent[]): ReginfoDocument {
    const contacts = events.map((e) =>
      this.contactOf(e.binding, e.event, e.event === 'expired' || e.event === 'unregistered' ? 'terminated' : 'active'),
    );
    return this.document(watch, 'partial', this.location.lookup(watch.aor).length > 0 ? 'active' : 'terminated', contacts);
  }

  private document(watch: Watch, state: 'full' | 'partial', registration: RegistrationState, contacts: Contact[]): ReginfoDocument {
    watch.wasActive = registration === 'active';
    return {
      version: watch.version++,
      state,
      registrations: [{ aor: watch.aor, id: this.registrationId(watch.aor), state: registration, contacts }],
    };
  }

  private contactOf(b: Binding, event: ContactEvent, state: 'active' | 'terminated'): Contact {
    const now = this.o.scheduler.now();
    const c: Contact = {
      id: b.id,
      state,
      event,
      uri: b.uri,
      expires: state === 'active' ? Math.max(0, Math.round((b.expiresAt - now) / 1000)) : 0,
      durationRegistered: Math.max(0, Math.round((now - b.registeredAt) / 1000)),
      callId: b.callId,
      cseq: b.cseq,
      unknownParams: Object.entries(b.params)
        .filter(([k]) => k !== 'q')
        .map(([name, v]) => ({ name, value: v === null ? '' : unquote(String(v)) })),
    };
    if (b.params.q != null) c.q = String(b.params.q);
    if (b.displayName) c.displayName = unquote(b.displayName);
    if (b.instance) c.pubGruu = `${b.aor};gr=${unquote(b.instance).replace(/^<|>$/g, '')}`;
    if (b.tempGruu) c.tempGruu = { uri: b.tempGruu, firstCseq: b.cseq };
    return c;
  }

  /** Ends every subscription (the core is stopping): subscribers should try again later. */
  close(): void {
    for (const set of [...this.watches.values()]) for (const w of [...set]) this.end(w, 'deactivated');
  }
}
