// The client side of registration (RFC 3261 10.2) for one public identity:
// initial REGISTER with digest, refresh before expiry (3GPP TS 24.229
// 5.1.1.4), 423 handling, both de-registrations of the OMA seeds, and retry
// with back-off. A state machine driven by responses and timers.
import { EventEmitter } from 'node:events';
import { requestWithAuth, type AuthLoopResult } from '../auth/authenticated-request';
import { DigestClient } from '../auth/digest-client';
import type { Exchange } from '../sip/exchange';
import { deltaSeconds, quote, unquote, type NameAddr, type Params, type SipRequest, type SipResponse } from '../sip/message';
import { nameAddrList, uriList } from '../sip/route-headers';
import { sameContactUri } from '../sip/uri';
import type { UserAgent } from '../sip/user-agent';
import { realScheduler, type Scheduler } from '../util/scheduler';
import type { RegisterProfile } from './enablers';
import { DEFAULT_BACKOFF, refreshDelaySeconds, retryDelaySeconds, type BackoffPolicy } from '../util/timing';

export type RegistrationState =
  | 'idle'
  | 'registering'
  | 'registered'
  | 'refreshing'
  | 'core-only'
  | 'deregistering'
  | 'unregistered'
  | 'failed';

export interface RegistrationOptions {
  /** Public user identity, the address of record (To and From). */
  aor: string;
  /** Request-URI of REGISTER: the home domain's registrar (`sip:lab.test`). */
  registrar: string;
  /** Digest user name (the private identity). */
  username: string;
  password: string;
  /** User part of our Contact URI. */
  contactUser: string;
  displayName?: string;
  profile: RegisterProfile;
  /** Requested expiry in seconds. */
  expires: number;
  backoff?: BackoffPolicy;
  scheduler?: Scheduler;
}

export type { Exchange } from '../sip/exchange';

export interface RegistrationInfo {
  state: RegistrationState;
  aor: string;
  contact: string;
  /** True while the service feature tags are registered. */
  services: boolean;
  /** Granted expiry of our binding, seconds. */
  expires?: number;
  /** When the binding runs out (ms since epoch). */
  expiresAt?: number;
  /** When the next REGISTER goes out (refresh or retry), ms since epoch. */
  nextAttemptAt?: number;
  gruu: { public?: string; temporary?: string };
  /** Implicitly registered identities (RFC 3455 P-Associated-URI; seed 001 note 3). */
  associatedUris: string[];
  /** Route set for later requests (RFC 3608). */
  serviceRoute: string[];
  /** Every binding of the address of record that the registrar reported. */
  bindings: string[];
  failures: number;
  error?: string;
}

export interface RegistrationChange {
  info: RegistrationInfo;
  previous: RegistrationState;
  exchanges: Exchange[];
}

type Goal = { expires: number; services: boolean };

/** Emits `change` (RegistrationChange) on every state change and every completed REGISTER. */
export class Registration extends EventEmitter {
  private readonly callId: string;
  private readonly fromTag: string;
  private cseq = 0;
  private digest: DigestClient;
  private readonly scheduler: Scheduler;
  private timer: unknown;
  private goal: Goal | undefined;
  private running: Promise<void> | undefined;
  private rerun = false;
  private stopped = false;
  private info: RegistrationInfo;

  constructor(
    private readonly ua: UserAgent,
    private options: RegistrationOptions,
  ) {
    super();
    this.scheduler = options.scheduler ?? realScheduler;
    this.callId = ua.newCallId(); // one Call-ID per binding (RFC 3261 10.2)
    this.fromTag = ua.newTag();
    this.digest = new DigestClient({ username: options.username, password: options.password });
    this.info = {
      state: 'idle',
      aor: options.aor,
      contact: ua.contactUri(options.contactUser),
      services: false,
      gruu: {},
      associatedUris: [],
      serviceRoute: [],
      bindings: [],
      failures: 0,
    };
  }

  get current(): RegistrationInfo {
    return { ...this.info };
  }

  /**
   * A new expiry or new credentials for the next REGISTER. The binding (Call-ID,
   * Contact) stays, so a changed password re-registers that same binding with
   * the new credentials, replacing it in place at the core: a password usually
   * changes because the core's did, and then the old one could not de-register.
   */
  reconfigure(c: { expires?: number; username?: string; password?: string }): void {
    if (c.expires !== undefined) this.options = { ...this.options, expires: c.expires };
    const username = c.username ?? this.options.username;
    const password = c.password ?? this.options.password;
    if (username === this.options.username && password === this.options.password) return;
    this.options = { ...this.options, username, password };
    this.digest = new DigestClient({ username, password });
  }

  /** Registers (or re-registers) with the service feature tags. */
  register(): Promise<void> {
    return this.pursue({ expires: this.options.expires, services: true });
  }

  /**
   * De-registers the service. `service`: stay registered to the core without
   * the feature tags; `all`: Expires 0, leave the core too (seed 000 6.1.3, seed 001 5.2.3).
   */
  deregister(mode: 'service' | 'all'): Promise<void> {
    return this.pursue(mode === 'all' ? { expires: 0, services: false } : { expires: this.options.expires, services: false });
  }

  /** Resolves when no REGISTER is in progress. */
  whenIdle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Stops timers without sending anything (the binding stays until it expires). */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private pursue(goal: Goal): Promise<void> {
    this.stopped = false;
    this.goal = goal;
    this.clearTimer();
    if (this.running) {
      // RFC 3261 10.2: no new REGISTER before the previous one has its final response.
      this.rerun = true;
      return this.running;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
    return this.running;
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.rerun = false;
        await this.attempt(this.goal!);
      } while (this.rerun && !this.stopped);
    } catch (e) {
      // A fault here (or in a listener) must not become an unhandled rejection in the host process.
      this.info = { ...this.info, error: `internal error: ${(e as Error).message}` };
      this.info.state = 'failed';
    }
  }

  private async attempt(goal: Goal): Promise<void> {
    const refreshing = (this.info.state === 'registered' || this.info.state === 'refreshing') && goal.expires > 0 && goal.services;
    this.setState(goal.expires === 0 || (!goal.services && this.info.services) ? 'deregistering' : refreshing ? 'refreshing' : 'registering');
    const { result, exchanges, fatal } = await this.transact(goal);
    const res = result.response;
    if (res.status >= 200 && res.status < 300) {
      this.onSuccess(goal, res, exchanges);
    } else {
      this.onFailure(goal, res, exchanges, fatal);
    }
  }

  /** One REGISTER including its digest and 423 round trips. */
  private transact(goal: Goal): Promise<AuthLoopResult> {
    let expires = goal.expires;
    return requestWithAuth({
      ua: this.ua,
      digest: this.digest,
      username: this.options.username,
      build: () => this.build(expires, goal.services),
      retryOn: (res) => {
        const min = res.status === 423 ? deltaSeconds(res, 'min-expires') : undefined;
        if (min === undefined || min <= expires) return false;
        expires = min; // RFC 3261 10.2.8: ask again for at least Min-Expires
        return true;
      },
    });
  }

  private build(expires: number, services: boolean): SipRequest {
    const p = this.options.profile;
    const params: Params = { ...p.bindingTags, ...(services ? p.serviceTags : {}) };
    const contact: NameAddr = { uri: this.info.contact, params };
    if (this.options.displayName) contact.name = quote(this.options.displayName);
    const req: SipRequest = {
      method: 'REGISTER',
      uri: this.options.registrar,
      version: '2.0',
      headers: {
        via: [],
        to: { uri: this.options.aor, params: {} },
        from: { uri: this.options.aor, params: { tag: this.fromTag } },
        'call-id': this.callId,
        cseq: { seq: ++this.cseq, method: 'REGISTER' },
        contact: [contact],
        expires: String(expires),
        'user-agent': p.userAgent,
      },
    };
    if (p.supported.length) req.headers.supported = p.supported.join(', ');
    if (services && p.require.length) req.headers.require = p.require.join(', ');
    return req;
  }

  private onSuccess(goal: Goal, res: SipResponse, exchanges: Exchange[]): void {
    const contacts = Array.isArray(res.headers.contact) ? res.headers.contact : [];
    const mine = contacts.find((c) => sameContactUri(c.uri, this.info.contact));
    const fromParam = mine?.params.expires != null ? Number.parseInt(String(mine.params.expires), 10) : undefined;
    const granted = goal.expires === 0 ? 0 : fromParam ?? deltaSeconds(res, 'expires') ?? goal.expires;
    const now = this.scheduler.now();
    this.info = {
      ...this.info,
      services: goal.services && granted > 0,
      expires: granted,
      expiresAt: granted > 0 ? now + granted * 1000 : undefined,
      gruu: {
        public: mine?.params['pub-gruu'] ? unquote(String(mine.params['pub-gruu'])) : undefined,
        temporary: mine?.params['temp-gruu'] ? unquote(String(mine.params['temp-gruu'])) : undefined,
      },
      associatedUris: uriList(res, 'p-associated-uri'),
      serviceRoute: granted > 0 ? nameAddrList(res, 'service-route') : [],
      bindings: contacts.map((c) => c.uri),
      failures: 0,
      error: undefined,
      nextAttemptAt: undefined,
    };
    if (granted === 0) {
      this.setState('unregistered', exchanges);
      return;
    }
    this.scheduleNext(refreshDelaySeconds(granted));
    this.setState(goal.services ? 'registered' : 'core-only', exchanges);
  }

  private onFailure(goal: Goal, res: SipResponse, exchanges: Exchange[], fatal?: string): void {
    const failures = this.info.failures + 1;
    const error = fatal ?? describeFailure(res);
    let next: number | undefined;
    if (!fatal && !this.stopped && goal.expires > 0) {
      const delay = retryDelaySeconds(failures, this.options.backoff ?? DEFAULT_BACKOFF, deltaSeconds(res, 'retry-after'));
      next = this.scheduleNext(delay);
    }
    this.info = { ...this.info, failures, error, nextAttemptAt: next };
    if (goal.expires === 0) {
      // A failed Expires 0 still ends our interest in the binding; it expires on its own.
      this.info.services = false;
    }
    this.setState('failed', exchanges);
  }

  private scheduleNext(seconds: number): number {
    this.clearTimer();
    const at = this.scheduler.now() + seconds * 1000;
    if (this.stopped) return at;
    this.timer = this.scheduler.set(() => {
      this.timer = undefined;
      if (this.goal && !this.stopped) void this.pursue(this.goal);
    }, seconds * 1000);
    this.info.nextAttemptAt = at;
    return at;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
  }

  private setState(state: RegistrationState, exchanges: Exchange[] = []): void {
    const previous = this.info.state;
    this.info.state = state;
    this.emit('change', { info: this.current, previous, exchanges } satisfies RegistrationChange);
  }
}

/** A failure in words a lab engineer acts on. */
export function describeFailure(res: SipResponse): string {
  const code = `${res.status} ${res.reason}`.trim();
  const retry = deltaSeconds(res, 'retry-after');
  const after = retry !== undefined ? `, retry after ${retry} s` : '';
  switch (res.status) {
    case 408:
      return `no answer from the core (${code})`;
    case 403:
      return `the core forbids this registration (${code})`;
    case 404:
      return `the core does not know this identity (${code})`;
    case 423:
      return `the core wants a longer expiry than it accepts (${code})`;
    default:
      if (res.status === 503 && res.reason.startsWith('Service Unavailable (')) return `cannot reach the core: ${res.reason.slice(21, -1)}`;
      return `${code}${after}`;
  }
}
