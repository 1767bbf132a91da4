// The application server's side of third-party REGISTER (seed 003 5.3): answer
// 200 with the Expires that came in, and tell the flow who registered,
// refreshed, left or silently expired. Cores build these requests loosely
// (Kamailio's uac module: a new Call-ID every time, CSeq always 10), so no
// registrar ordering rules apply here.
import { EventEmitter } from 'node:events';
import type { IncomingRequest } from '../sip/endpoint';
import { deltaSeconds } from '../sip/message';
import { addressOfRecord } from '../sip/uri';
import { realScheduler, type Scheduler } from '../util/scheduler';

export type ThirdPartyEventName = 'registered' | 'refreshed' | 'deregistered' | 'expired';

export interface ThirdPartyEvent {
  event: ThirdPartyEventName;
  /** The public user identity (To of the third-party REGISTER). */
  user: string;
  expires: number;
  /** Who sent it (From), normally the core. */
  core: string;
  /** Contact of the REGISTER: where the core can be reached. */
  contact?: string;
}

/** RFC 3261 10.2.1.1 default when the request names no expiry. */
const DEFAULT_EXPIRES = 3600;

/** Emits `event` (ThirdPartyEvent, IncomingRequest | undefined). */
export class ThirdPartyRegisterServer extends EventEmitter {
  private readonly users = new Map<string, { expiresAt: number; timer: unknown; core: string }>();
  private readonly scheduler: Scheduler;

  constructor(scheduler?: Scheduler) {
    super();
    this.scheduler = scheduler ?? realScheduler;
  }

  handle(req: IncomingRequest): void {
    const m = req.message;
    const user = addressOfRecord(m.headers.to.uri);
    if (!user) {
      req.respond(400, { reason: 'Bad Request (To is not a user identity)' });
      return;
    }
    const contacts = Array.isArray(m.headers.contact) ? m.headers.contact : [];
    const fromContact = contacts[0]?.params.expires;
    const expires =
      deltaSeconds(m, 'expires') ??
      (fromContact != null && /^\d+$/.test(String(fromContact)) ? Number(fromContact) : DEFAULT_EXPIRES);
    req.respond(200, { headers: { expires: String(expires) } });

    const known = this.users.get(user);
    if (known) this.scheduler.clear(known.timer);
    const core = m.headers.from.uri;
    const contact = contacts[0]?.uri;
    if (expires === 0) {
      this.users.delete(user);
      this.emit('event', { event: 'deregistered', user, expires, core, contact } satisfies ThirdPartyEvent, req);
      return;
    }
    const timer = this.scheduler.set(() => this.expire(user), expires * 1000);
    this.users.set(user, { expiresAt: this.scheduler.now() + expires * 1000, timer, core });
    this.emit('event', { event: known ? 'refreshed' : 'registered', user, expires, core, contact } satisfies ThirdPartyEvent, req);
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
