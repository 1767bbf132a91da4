// The registrations of one register node: one per public identity, so a flow
// can register a list of users through a single node. Each identity keeps its
// own binding (Call-ID, CSeq, timers); a changed password or expiry is used
// by the next REGISTER of that same binding.
import { EventEmitter } from 'node:events';
import { normaliseIdentity, parseUri } from '../sip/uri';
import type { UserAgent } from '../sip/user-agent';
import type { Scheduler } from '../util/scheduler';
import { profileFor, type EnablerOptions, type RegisterProfile } from './enablers';
import { Registration, type RegistrationChange, type RegistrationInfo, type RegistrationState } from './registration';
import type { BackoffPolicy } from '../util/timing';

export interface IdentityRequest {
  identity: string;
  username?: string;
  password?: string;
  displayName?: string;
  expires?: number;
}

export interface PoolOptions {
  domain: string;
  enabler: EnablerOptions;
  expires: number;
  backoff?: BackoffPolicy;
  scheduler?: Scheduler;
  claimContactUser: (base: string) => string;
  releaseContactUser: (user: string) => void;
}

interface Entry {
  registration: Registration;
  contactUser: string;
  password: string;
  username: string;
}

/** Emits `change` (aor: string, change: RegistrationChange). */
export class RegistrationPool extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  private profile: RegisterProfile | undefined;

  constructor(
    private readonly ua: UserAgent,
    private readonly o: PoolOptions,
  ) {
    super();
  }

  /** The registration for an identity, created on first use. */
  ensure(req: IdentityRequest): { aor: string; registration: Registration } | { error: string } {
    const aor = normaliseIdentity(req.identity, this.o.domain);
    const uri = aor ? parseUri(aor) : undefined;
    if (!aor || !uri || uri.scheme === 'tel' || !uri.user) {
      return { error: `"${req.identity}" is not a SIP identity (use alice, alice@${this.o.domain || 'domain'} or sip:alice@domain)` };
    }
    const username = req.username || uri.user;
    const password = req.password ?? '';
    const existing = this.entries.get(aor);
    if (existing) {
      // Same binding, new expiry or credentials: the next REGISTER carries them.
      existing.registration.reconfigure({ expires: req.expires, username, password });
      existing.username = username;
      existing.password = password;
      return { aor, registration: existing.registration };
    }
    let profile = this.profile;
    if (!profile) {
      try {
        profile = this.profile = profileFor(this.o.enabler);
      } catch (e) {
        return { error: (e as Error).message };
      }
    }
    const contactUser = this.o.claimContactUser(uri.user);
    const registration = new Registration(this.ua, {
      aor,
      registrar: `sip:${uri.host}`,
      username,
      password,
      contactUser,
      displayName: req.displayName,
      profile,
      expires: req.expires ?? this.o.expires,
      backoff: this.o.backoff,
      scheduler: this.o.scheduler,
    });
    registration.on('change', (c: RegistrationChange) => this.emit('change', aor, c));
    this.entries.set(aor, { registration, contactUser, password, username });
    return { aor, registration };
  }

  get(aor: string): Registration | undefined {
    return this.entries.get(aor)?.registration;
  }

  /** The current state of every registration. */
  list(): RegistrationInfo[] {
    return [...this.entries.values()].map((e) => e.registration.current);
  }

  get size(): number {
    return this.entries.size;
  }

  /** How many registrations are in each state. */
  counts(): Partial<Record<RegistrationState, number>> {
    const out: Partial<Record<RegistrationState, number>> = {};
    for (const e of this.entries.values()) {
      const s = e.registration.current.state;
      out[s] = (out[s] ?? 0) + 1;
    }
    return out;
  }

  /** De-registers every registration that is bound now, within a time limit. */
  async deregisterAll(mode: 'service' | 'all', timeoutMs: number): Promise<void> {
    const bound = [...this.entries.values()].filter((e) => {
      const s = e.registration.current.state;
      return s === 'registered' || s === 'refreshing' || s === 'core-only' || (s === 'failed' && e.registration.current.expiresAt);
    });
    const all = Promise.all(bound.map((e) => e.registration.deregister(mode)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    if (timer) clearTimeout(timer);
  }

  stopAll(): void {
    for (const [aor, e] of this.entries) this.drop(aor, e);
  }

  private drop(aor: string, e: Entry): void {
    e.registration.stop();
    e.registration.removeAllListeners();
    this.o.releaseContactUser(e.contactUser);
    this.entries.delete(aor);
  }
}
