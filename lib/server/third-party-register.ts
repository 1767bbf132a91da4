// The application server's side of third-party REGISTER (seed 003 5.3): answer
// 200 with the Expires that came in, and tell the flow who registered,
// refreshed, left or silently expired. Cores build these requests loosely
// (Kamailio's uac module: a new Call-ID every time, CSeq always 10), so no
// registrar ordering rules apply here. What is believed is decided by where
// the request came from: only the configured cores (403 for everyone else),
// with the expiry bounded and the table of users capped, so that a sender
// can neither invent users nor grow memory.
import { EventEmitter } from 'node:events';
import type { IncomingRequest } from '../sip/endpoint';
import { headerText } from '../sip/message';
import type { TrustedSources } from '../sip/trusted-sources';
import { addressOfRecord } from '../sip/uri';
import { realScheduler, type Scheduler } from '../util/scheduler';
import { clientRegistrationOf } from './embedded-register';

export type ThirdPartyEventName = 'registered' | 'refreshed' | 'deregistered' | 'expired';

export interface ThirdPartyEvent {
  event: ThirdPartyEventName;
  /** The public user identity (To of the third-party REGISTER). */
  user: string;
  expires: number;
  /** Who sent it (From), normally the core. */
  core: string;
  /**
   * The client's Contact when the core included the client's REGISTER or its
   * 200 OK (message/sip body); else the Contact of the third-party REGISTER,
   * which is the core.
   */
  contact?: string;
  /** The client's feature tags, known only from an included REGISTER or 200 OK. */
  featureTags?: string[];
  /** The client's `+sip.instance`, when included. */
  instance?: string;
}

export interface ThirdPartyServerOptions {
  /** The cores whose third-party REGISTER is believed. */
  trusted: TrustedSources;
  /** Longest expiry believed, seconds; longer ones are cut to it (RFC 3261 10.3 step 7). */
  maxExpires?: number;
  /** Users tracked at once; a REGISTER for one more gets 503. */
  maxUsers?: number;
  scheduler?: Scheduler;
}

/** RFC 3261 10.2.1.1 default when the request names no expiry. */
const DEFAULT_EXPIRES = 3600;
/** Twice Kamailio's default max_expires (3600): a core that grants more must say so in the node. */
export const DEFAULT_MAX_EXPIRES = 7200;
export const DEFAULT_MAX_USERS = 10_000;
/** Expires and expires= are delta-seconds: digits only, and at most 2^31-1 (RFC 3261 25.1 allows any length; we do not). */
const DELTA = /^\d{1,10}$/;

/** Emits `event` (ThirdPartyEvent, IncomingRequest | undefined) and `refused` (reason, IncomingRequest). */
export class ThirdPartyRegisterServer extends EventEmitter {
  private readonly users = new Map<string, { expiresAt: number; timer: unknown; core: string }>();
  private readonly scheduler: Scheduler;
  readonly maxExpires: number;
  readonly maxUsers: number;

  constructor(private readonly o: ThirdPartyServerOptions) {
    super();
    this.scheduler = o.scheduler ?? realScheduler;
    this.maxExpires = o.maxExpires ?? DEFAULT_MAX_EXPIRES;
    this.maxUsers = o.maxUsers ?? DEFAULT_MAX_USERS;
  }

  handle(req: IncomingRequest): void {
    this.o.trusted.allows(req).then(
      (ok) => {
        if (ok) return this.accept(req);
        req.respond(403, { reason: 'Forbidden (not a core this server trusts)' });
        this.emit('refused', `third-party REGISTER from ${req.peer.address}:${req.peer.port}, which is not a trusted core`, req);
      },
      () => {
        if (!req.responded) req.respond(500, { reason: 'Server Internal Error' });
      },
    );
  }

  private accept(req: IncomingRequest): void {
    const m = req.message;
    const user = addressOfRecord(m.headers.to.uri);
    if (!user) {
      req.respond(400, { reason: 'Bad Request (To is not a user identity)' });
      return;
    }
    const contacts = Array.isArray(m.headers.contact) ? m.headers.contact : [];
    const asked = expiresOf(headerText(m, 'expires') ?? '', contacts[0]?.params.expires);
    if (asked === undefined) {
      req.respond(400, { reason: 'Bad Request (Expires is not delta-seconds)' });
      return;
    }
    const expires = Math.min(asked, this.maxExpires);
    const known = this.users.get(user);
    if (!known && expires > 0 && this.users.size >= this.maxUsers) {
      req.respond(503, { reason: 'Service Unavailable (user table full)', headers: { 'retry-after': '60' } });
      this.emit('refused', `user table full (${this.maxUsers} users): ${user} not taken`, req);
      return;
    }
    req.respond(200, { headers: { expires: String(expires) } });

    if (known) this.scheduler.clear(known.timer);
    const core = m.headers.from.uri;
    const client = clientRegistrationOf(m);
    const about = { user, expires, core, contact: client?.contact ?? contacts[0]?.uri, featureTags: client?.featureTags, instance: client?.instance };
    if (expires === 0) {
      this.users.delete(user);
      this.emit('event', { event: 'deregistered', ...about } satisfies ThirdPartyEvent, req);
      return;
    }
    const timer = this.scheduler.set(() => this.expire(user), expires * 1000);
    this.users.set(user, { expiresAt: this.scheduler.now() + expires * 1000, timer, core });
    this.emit('event', { event: known ? 'refreshed' : 'registered', ...about } satisfies ThirdPartyEvent, req);
  }

  private expire(user: string): void {
    const u = this.users.get(user);
    if (!u) return;
    this.users.delete(user);
    this.emit('event', { event: 'expired', user, expires: 0, core: u.core } satisfies ThirdPartyEvent, undefined);
  }

  /** Users the core says are registered now. */
  registered(): string[] {
    return [...this.users.keys()];
  }

  close(): void {
    for (const u of this.users.values()) this.scheduler.clear(u.timer);
    this.users.clear();
  }
}

/** Expires header first, then the Contact's expires; undefined when present but not delta-seconds. */
function expiresOf(header: string, contactParam: string | null | undefined): number | undefined {
  const text = header.trim() || (contactParam ?? '').trim();
  if (text === '') return DEFAULT_EXPIRES;
  return DELTA.test(text) ? Number(text) : undefined;
}
