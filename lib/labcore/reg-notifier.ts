// The lab core as reg event notifier (RFC 3680 over RFC 6665): full state in
// the NOTIFY that follows each SUBSCRIBE and refresh, a partial document with
// the next version on every change of the user's bindings, and a terminated
// subscription on expiry or un-SUBSCRIBE. Lab rule: anyone may subscribe.
import { writeReginfo } from '../reginfo/reginfo-writer';
import { REGINFO_CONTENT_TYPE, type Contact, type ContactEvent, type ReginfoDocument, type RegistrationState } from '../reginfo/reginfo-types';
import type { IncomingRequest } from '../sip/endpoint';
import { unquote } from '../sip/message';
import { addressOfRecord, parseUri } from '../sip/uri';
import type { UserAgent } from '../sip/user-agent';
import { eventPackage, Notifier, type NotifierSubscription } from '../subscription/notifier';
import type { Scheduler } from '../util/scheduler';
import type { Binding, BindingEvent, LocationService } from './location';

export interface RegNotifierOptions {
  domain: string;
  isUser: (user: string) => boolean;
  scheduler: Scheduler;
  minExpires?: number;
  maxExpires?: number;
  /** Caps of the RFC 6665 notifier (see NotifierOptions). */
  maxPerWatcher?: number;
  maxTotal?: number;
}

/** What the reg package keeps per subscription. */
interface Watch {
  version: number;
  /** Whether the last document said the registration was active (for init vs terminated). */
  wasActive: boolean;
  /** Changes not yet notified, by binding: they go out together in the next partial document. */
  queued: Map<string, BindingEvent>;
}

export interface NotifierReport {
  aor: string;
  subscriber: string;
  event: 'subscribed' | 'refreshed' | 'terminated';
  reason?: string;
}

export class RegEventNotifier {
  private readonly lastEvent = new Map<string, ContactEvent>();
  private readonly registrationIds = new Map<string, string>();
  private readonly notifier: Notifier<Watch>;
  onReport?: (r: NotifierReport) => void;

  constructor(
    ua: UserAgent,
    private readonly location: LocationService,
    private readonly o: RegNotifierOptions,
  ) {
    this.notifier = new Notifier<Watch>(
      ua,
      { ...o, event: 'reg', contentType: REGINFO_CONTENT_TYPE },
      (sub, full) => writeReginfo(full ? this.fullDocument(sub) : this.partialDocument(sub)),
    );
    this.notifier.onReport = (r) => this.onReport?.({ aor: r.resource, subscriber: r.subscriber, event: r.event, reason: r.reason });
  }

  /** Number of live subscriptions. */
  get size(): number {
    return this.notifier.size;
  }

  /** Takes an initial SUBSCRIBE; false when its event package is not `reg`. */
  handle(req: IncomingRequest): boolean {
    const m = req.message;
    if (eventPackage(req) !== 'reg') return false;
    const ruri = parseUri(m.uri);
    const aor = addressOfRecord(m.uri);
    if (!ruri?.user || !aor || ruri.host.toLowerCase() !== this.o.domain.toLowerCase() || !this.o.isUser(ruri.user)) {
      req.respond(404, { reason: 'Not Found (no such user here)' });
      return true;
    }
    const watcher = addressOfRecord(m.headers.from.uri) ?? m.headers.from.uri;
    this.notifier.subscribe(req, { resource: aor, watcher, state: { version: 0, wasActive: false, queued: new Map() } });
    return true;
  }

  /** Call with every location change: subscribers of the user get a partial document. */
  onBindings(aor: string, events: BindingEvent[]): void {
    for (const e of events) {
      if (e.event === 'expired' || e.event === 'unregistered') this.lastEvent.delete(e.binding.id);
      else this.lastEvent.set(e.binding.id, e.event);
    }
    const subs = this.notifier.subscriptions(aor);
    for (const sub of subs) for (const e of events) sub.state.queued.set(e.binding.id, e);
    if (subs.length) this.notifier.changed(aor);
  }

  private registrationId(aor: string): string {
    let id = this.registrationIds.get(aor);
    if (!id) this.registrationIds.set(aor, (id = `r${this.registrationIds.size + 1}`));
    return id;
  }

  /** Full state: every binding of the user (RFC 3680 5.4, `init` before any registration); it covers what was queued. */
  private fullDocument(sub: NotifierSubscription<Watch>): ReginfoDocument {
    sub.state.queued.clear();
    const bindings = this.location.lookup(sub.resource);
    const contacts = bindings.map((b) => this.contactOf(b, this.lastEvent.get(b.id) ?? 'registered', 'active'));
    return this.document(sub, 'full', bindings.length > 0 ? 'active' : sub.state.wasActive ? 'terminated' : 'init', contacts);
  }

  /** Only what changed since the last NOTIFY, with the next version. */
  private partialDocument(sub: NotifierSubscription<Watch>): ReginfoDocument {
    const events = [...sub.state.queued.values()];
    sub.state.queued.clear();
    const contacts = events.map((e) =>
      this.contactOf(e.binding, e.event, e.event === 'expired' || e.event === 'unregistered' ? 'terminated' : 'active'),
    );
    return this.document(sub, 'partial', this.location.lookup(sub.resource).length > 0 ? 'active' : 'terminated', contacts);
  }

  private document(sub: NotifierSubscription<Watch>, state: 'full' | 'partial', registration: RegistrationState, contacts: Contact[]): ReginfoDocument {
    const watch = sub.state;
    watch.wasActive = registration === 'active';
    return {
      version: watch.version++,
      state,
      registrations: [{ aor: sub.resource, id: this.registrationId(sub.resource), state: registration, contacts }],
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
    this.notifier.close('deactivated');
  }
}
