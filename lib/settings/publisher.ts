// The client side of `poc-settings` publication (RFC 3903 over RFC 4354, seed
// 003 5.2.4) for one user: initial PUBLISH with the settings, refresh before
// expiry without a body, modify and remove with SIP-If-Match, 412 answered by
// publishing afresh, 423 by asking again for Min-Expires, digest through the
// auth loop, and back-off after failures. A state machine driven by responses
// and timers, like the registration beside it.
import { EventEmitter } from 'node:events';
import { requestWithAuth, type AuthLoopResult } from '../auth/authenticated-request';
import { DigestClient } from '../auth/digest-client';
import { userAgentFor, type Enabler } from '../registration/enablers';
import { describeFailure } from '../registration/registration';
import type { Exchange } from '../sip/exchange';
import { deltaSeconds, headerText, type SipRequest, type SipResponse } from '../sip/message';
import { parseNameAddr } from '../sip/name-addr';
import type { UserAgent } from '../sip/user-agent';
import { realScheduler, type Scheduler } from '../util/scheduler';
import { DEFAULT_BACKOFF, refreshDelaySeconds, retryDelaySeconds, type BackoffPolicy } from '../util/timing';
import { POC_SETTINGS_CONTENT_TYPE, POC_SETTINGS_EVENT, type SettingsEntity } from './settings-types';
import { writeSettings } from './settings-writer';

/** What one PUBLISH does (RFC 3903 4.1-4.6). */
export type PublishAction = 'publish' | 'refresh' | 'modify' | 'remove';

export type PublicationState = 'idle' | 'publishing' | 'refreshing' | 'modifying' | 'removing' | 'published' | 'removed' | 'failed';

const IN_FLIGHT: Record<PublishAction, PublicationState> = {
  publish: 'publishing',
  refresh: 'refreshing',
  modify: 'modifying',
  remove: 'removing',
};

export const DEFAULT_PUBLISH_EXPIRES = 3600;

/**
 * Accept-Contact of a settings PUBLISH (RFC 3841): the PoC tag (seed 002
 * step 24, real PoC clients), the IM tag for IM (seed 003 5.2.4 item 4) and
 * for CPM, whose settings server is the IM server's successor.
 */
export function settingsAcceptContact(enabler: Enabler): string {
  return `*;${enabler === 'poc' ? '+g.poc.talkburst' : '+g.oma.sip-im'};require;explicit`;
}

export interface SettingsPublisherOptions {
  /** The user's public identity: Request-URI, To and From (seed 003 5.2.4 item 2). */
  aor: string;
  /** Digest user name and password (401 and 407). */
  username: string;
  password: string;
  enabler: Enabler;
  /** Release in User-Agent (seed 003 Appendix F); the enabler's default when absent. */
  release?: string;
  /** Requested expiry; the registration's granted expiry is the natural choice (seed 003 5.2.4 item 7). */
  expires?: number;
  /** Preloaded Route: the registration's Service-Route entries (RFC 3608), name-addr texts. */
  routeSet?: string[];
  scheduler?: Scheduler;
  backoff?: BackoffPolicy;
}

export interface PublicationInfo {
  state: PublicationState;
  aor: string;
  /** Entity tag of our publication at the server (RFC 3903 SIP-ETag). */
  etag?: string;
  /** Granted expiry, seconds. */
  expires?: number;
  expiresAt?: number;
  /** When the next PUBLISH goes out (refresh or retry), ms since epoch. */
  nextAttemptAt?: number;
  /** The settings we want the server to hold (absent once removed). */
  entity?: SettingsEntity;
  failures: number;
  error?: string;
}

export interface PublicationChange {
  info: PublicationInfo;
  previous: PublicationState;
  /** What the PUBLISH that completed did: `publish` also when a 412 made a refresh or modify start afresh. */
  action?: PublishAction;
  /** The requests and responses of this step (challenges, 423, 412 included). */
  exchanges: Exchange[];
  /** True when a timer sent it (refresh before expiry, retry after failure), not a call. */
  byTimer: boolean;
}

/** Emits `change` (PublicationChange) on every state change and after every completed PUBLISH. */
export class SettingsPublisher extends EventEmitter {
  private readonly callId: string;
  private readonly fromTag: string;
  private cseq = 0;
  private readonly digest: DigestClient;
  private readonly scheduler: Scheduler;
  private expires: number;
  private routeSet: string[];
  private timer: unknown;
  /** The server must get the body of `info.entity` (a publish or modify is owed). */
  private bodyOwed = false;
  private refreshOwed = false;
  private byTimer = false;
  private running: Promise<void> | undefined;
  private rerun = false;
  private stopped = false;
  private waiters: Array<(c: PublicationChange) => void> = [];
  private info: PublicationInfo;

  constructor(
    private readonly ua: UserAgent,
    private readonly options: SettingsPublisherOptions,
  ) {
    super();
    this.scheduler = options.scheduler ?? realScheduler;
    // One Call-ID and CSeq space for all our PUBLISHes: the core's nonce counts stay in order.
    this.callId = ua.newCallId();
    this.fromTag = ua.newTag();
    this.digest = new DigestClient({ username: options.username, password: options.password });
    this.expires = options.expires ?? DEFAULT_PUBLISH_EXPIRES;
    this.routeSet = options.routeSet ?? [];
    this.info = { state: 'idle', aor: options.aor, failures: 0 };
  }

  get current(): PublicationInfo {
    return { ...this.info };
  }

  /** Route set and expiry of the registration these settings go with (seed 003 5.2.2). */
  follow(registration: { expires?: number; serviceRoute?: string[] }): void {
    if (registration.expires !== undefined && registration.expires > 0) this.expires = registration.expires;
    if (registration.serviceRoute) this.routeSet = [...registration.serviceRoute];
  }

  /**
   * Sends these settings: an initial PUBLISH when the server holds nothing of
   * ours, otherwise a modify with SIP-If-Match. Resolves with the outcome.
   */
  publish(entity: SettingsEntity): Promise<PublicationChange> {
    this.info.entity = entity;
    this.bodyOwed = true;
    return this.pursue(false);
  }

  /** Same as publish(): the wire says which it was. */
  modify(entity: SettingsEntity): Promise<PublicationChange> {
    return this.publish(entity);
  }

  /** Refreshes the publication now (RFC 3903 4.3: no body). */
  refresh(): Promise<PublicationChange> {
    if (!this.info.entity) return Promise.reject(new Error('nothing to refresh: no settings were published'));
    this.refreshOwed = true;
    return this.pursue(false);
  }

  /** Removes the publication (RFC 3903 4.5: Expires 0 with SIP-If-Match). */
  remove(): Promise<PublicationChange> {
    this.info.entity = undefined;
    this.bodyOwed = false;
    this.refreshOwed = false;
    return this.pursue(false);
  }

  /** Resolves when no PUBLISH is in progress. */
  whenIdle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Stops timers; with `remove`, removes the publication first (a failure there is reported, not thrown). */
  async close(remove = false): Promise<void> {
    if (remove && (this.info.etag || this.running)) await this.remove();
    this.stop();
  }

  /** Stops timers without sending anything (the publication stays until it expires). */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private pursue(byTimer: boolean): Promise<PublicationChange> {
    this.stopped = false;
    const outcome = new Promise<PublicationChange>((resolve) => this.waiters.push(resolve));
    this.clearTimer();
    if (this.running) {
      // RFC 3903 4.1: no new PUBLISH before the previous one has its final response.
      this.rerun = true;
      return outcome;
    }
    this.byTimer = byTimer;
    this.running = this.loop();
    return outcome;
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.rerun = false;
        const waiting = this.waiters.splice(0);
        const change = await this.attempt();
        this.byTimer = false;
        const answer = change ?? this.snapshot([]);
        for (const w of waiting) w(answer);
      } while (this.rerun && !this.stopped);
    } catch (e) {
      // A fault here (or in a listener) must not become an unhandled rejection in the host process.
      this.info = { ...this.info, state: 'failed', error: `internal error: ${(e as Error).message}` };
    }
    // Cleared here, not in a later .finally(): a caller woken by the last answer may start the next PUBLISH at once.
    this.running = undefined;
    for (const w of this.waiters.splice(0)) w(this.snapshot([]));
  }

  private nextAction(): PublishAction | undefined {
    if (!this.info.entity) return this.info.etag ? 'remove' : undefined;
    if (this.bodyOwed) return this.info.etag ? 'modify' : 'publish';
    if (this.refreshOwed) return this.info.etag ? 'refresh' : 'publish';
    return undefined;
  }

  private async attempt(): Promise<PublicationChange | undefined> {
    let action = this.nextAction();
    if (!action) {
      this.refreshOwed = false;
      return undefined;
    }
    const entity = this.info.entity;
    this.bodyOwed = false;
    this.refreshOwed = false;
    this.setState(IN_FLIGHT[action], [], action);
    let outcome = await this.transact(action, entity);
    let exchanges = outcome.exchanges;
    if (outcome.result.response.status === 412 && action !== 'publish') {
      // RFC 3903 4.4: the server lost our entity tag. Nothing left to remove; otherwise start afresh with the body.
      this.info.etag = undefined;
      if (action === 'remove') return this.onSuccess(action, outcome.result.response, exchanges);
      action = 'publish';
      outcome = await this.transact(action, entity);
      exchanges = [...exchanges, ...outcome.exchanges];
    }
    const res = outcome.result.response;
    if (res.status >= 200 && res.status < 300) return this.onSuccess(action, res, exchanges);
    if (action !== 'remove' && this.info.entity) {
      // Still owed: a retry sends it again (a failed modify keeps the new settings).
      if (action === 'refresh') this.refreshOwed = true;
      else this.bodyOwed = true;
    }
    return this.onFailure(action, res, exchanges, outcome.fatal);
  }

  /** One PUBLISH including its digest and 423 round trips. */
  private transact(action: PublishAction, entity: SettingsEntity | undefined): Promise<AuthLoopResult> {
    const body = (action === 'publish' || action === 'modify') && entity ? writeSettings({ entities: [entity] }) : undefined;
    return requestWithAuth({
      ua: this.ua,
      digest: this.digest,
      username: this.options.username,
      build: () => this.build(action, body),
      retryOn: (res) => {
        const min = res.status === 423 ? deltaSeconds(res, 'min-expires') : undefined;
        if (action === 'remove' || min === undefined || min <= this.expires) return false;
        this.expires = min; // RFC 3903 4.1, RFC 3261 10.2.8: at least Min-Expires, from now on
        return true;
      },
    });
  }

  private build(action: PublishAction, body: string | undefined): SipRequest {
    const o = this.options;
    const req: SipRequest = {
      method: 'PUBLISH',
      uri: o.aor,
      version: '2.0',
      headers: {
        via: [],
        to: { uri: o.aor, params: {} },
        from: { uri: o.aor, params: { tag: this.fromTag } },
        'call-id': this.callId,
        cseq: { seq: ++this.cseq, method: 'PUBLISH' },
        event: POC_SETTINGS_EVENT,
        'accept-contact': settingsAcceptContact(o.enabler),
        // The user as originator (seed 003 5.1, RFC 3325); the core replaces it with its assertion.
        'p-preferred-identity': `<${o.aor}>`,
        'user-agent': userAgentFor(o.enabler, o.release),
        expires: String(action === 'remove' ? 0 : this.expires),
      },
    };
    const route = this.routeSet.map(parseNameAddr).filter((r) => r !== undefined);
    if (route.length) req.headers.route = route;
    if (action !== 'publish' && this.info.etag) req.headers['sip-if-match'] = this.info.etag;
    if (body !== undefined) {
      req.headers['content-type'] = POC_SETTINGS_CONTENT_TYPE;
      req.content = body;
    }
    return req;
  }

  private onSuccess(action: PublishAction, res: SipResponse, exchanges: Exchange[]): PublicationChange {
    if (action === 'remove') {
      this.clearTimer();
      this.info = { ...this.info, etag: undefined, expires: 0, expiresAt: undefined, nextAttemptAt: undefined, failures: 0, error: undefined };
      return this.setState('removed', exchanges, action);
    }
    // RFC 3903 4.1: the 2xx carries the entity tag and the granted Expires (which may be shorter).
    const granted = deltaSeconds(res, 'expires') ?? this.expires;
    this.info = {
      ...this.info,
      etag: headerText(res, 'sip-etag')?.trim() || undefined,
      expires: granted,
      expiresAt: this.scheduler.now() + granted * 1000,
      failures: 0,
      error: undefined,
    };
    this.schedule(refreshDelaySeconds(granted), () => (this.refreshOwed = true));
    return this.setState('published', exchanges, action);
  }

  private onFailure(action: PublishAction, res: SipResponse, exchanges: Exchange[], fatal?: string): PublicationChange {
    const failures = this.info.failures + 1;
    const error = fatal ?? describePublishFailure(res);
    this.info = { ...this.info, failures, error, nextAttemptAt: undefined };
    if (action === 'remove') {
      // A failed removal still ends our interest; the publication expires on its own.
      this.info.etag = undefined;
      this.clearTimer();
    } else if (!fatal) {
      this.schedule(retryDelaySeconds(failures, this.options.backoff ?? DEFAULT_BACKOFF, deltaSeconds(res, 'retry-after')), () => undefined);
    } else this.clearTimer();
    return this.setState('failed', exchanges, action);
  }

  /** Runs `owe` and then the loop after `seconds`, unless stopped. */
  private schedule(seconds: number, owe: () => void): void {
    this.clearTimer();
    if (this.stopped) return;
    this.info.nextAttemptAt = this.scheduler.now() + seconds * 1000;
    this.timer = this.scheduler.set(() => {
      this.timer = undefined;
      if (this.stopped) return;
      owe();
      void this.pursue(true);
    }, seconds * 1000);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
  }

  private snapshot(exchanges: Exchange[], action?: PublishAction): PublicationChange {
    return { info: this.current, previous: this.info.state, action, exchanges, byTimer: this.byTimer };
  }

  private setState(state: PublicationState, exchanges: Exchange[], action: PublishAction): PublicationChange {
    const previous = this.info.state;
    this.info.state = state;
    const change: PublicationChange = { info: this.current, previous, action, exchanges, byTimer: this.byTimer };
    this.emit('change', change);
    return change;
  }
}

/** A failure in words a lab engineer acts on. */
export function describePublishFailure(res: SipResponse): string {
  switch (res.status) {
    case 403:
      return `the settings server or the core refused the publication (${res.status} ${res.reason})`.trim();
    case 489:
      return `the server does not support the poc-settings event (${res.status} ${res.reason})`.trim();
    case 415:
      return `the server does not accept ${POC_SETTINGS_CONTENT_TYPE} (${res.status} ${res.reason})`.trim();
    default:
      return describeFailure(res);
  }
}
