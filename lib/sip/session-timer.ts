// RFC 4028 session timers: the negotiation of Session-Expires, Min-SE and the
// refresher in INVITE / UPDATE and their 2xx, and the clock that makes the
// refresher refresh at half the interval and the other side give up (BYE)
// shortly before the interval ends.
import { headerText, parseValueWithParams, tokenList, type SipMessage } from './message';
import type { Scheduler } from '../util/scheduler';

export type Refresher = 'uac' | 'uas';

export interface SessionTimerConfig {
  /** Session interval asked for (UAC) or accepted at most (UAS), seconds. Default 1800 (RFC 4028 4). */
  expires?: number;
  /** Smallest interval this side accepts, seconds; never below 90 (RFC 4028 4). Default 90. */
  minSE?: number;
  /** Who refreshes, in the terms of the request that sets it: `uac` (the sender). Default `uac`. */
  refresher?: Refresher;
  /** The refresh request. Default UPDATE (RFC 4028 9 prefers it: no new offer needed). */
  method?: 'INVITE' | 'UPDATE';
}

/** The outcome of a negotiation: the interval and who refreshes, in the terms of that transaction. */
export interface Negotiated {
  interval: number;
  refresher: Refresher;
}

export const DEFAULT_SESSION_EXPIRES = 1800;
/** RFC 4028 4: no interval may be below 90 seconds. */
export const MIN_MIN_SE = 90;

export function minSEOf(cfg: SessionTimerConfig): number {
  return Math.max(MIN_MIN_SE, cfg.minSE ?? MIN_MIN_SE);
}

function expiresOf(cfg: SessionTimerConfig): number {
  return Math.max(minSEOf(cfg), cfg.expires ?? DEFAULT_SESSION_EXPIRES);
}

/** Session-Expires of a message: delta-seconds and the refresher parameter. */
export function parseSessionExpires(m: SipMessage): { interval: number; refresher?: Refresher } | undefined {
  const text = headerText(m, 'session-expires') ?? headerText(m, 'x');
  if (!text) return undefined;
  const v = parseValueWithParams(text);
  const interval = Number.parseInt(v.value, 10);
  if (!Number.isFinite(interval) || interval <= 0) return undefined;
  const r = v.params.refresher?.toLowerCase();
  return { interval, refresher: r === 'uac' || r === 'uas' ? r : undefined };
}

function minSEHeader(m: SipMessage): number | undefined {
  const n = Number.parseInt(headerText(m, 'min-se') ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * Headers of a request that asks for a session timer (RFC 4028 7.1, 7.4):
 * `interval` replaces the configured one (a refresh, the retry after a 422),
 * `minSE` is the largest Min-SE heard in the session (a 422 raises it).
 */
export function timerRequestHeaders(
  cfg: SessionTimerConfig,
  o: { interval?: number; minSE?: number; refresher?: Refresher } = {},
): Record<string, string> {
  const minSE = Math.max(minSEOf(cfg), o.minSE ?? 0);
  const se = Math.max(o.interval ?? expiresOf(cfg), minSE);
  return {
    supported: 'timer',
    'session-expires': `${se};refresher=${o.refresher ?? cfg.refresher ?? 'uac'}`,
    'min-se': String(minSE),
  };
}

/** After a 422 (RFC 4028 7.4): the Min-SE to ask with next, or undefined when the 422 gives none larger than `asked`. */
export function minSEAfter422(res: SipMessage, asked: number): number | undefined {
  const min = minSEHeader(res);
  return min !== undefined && min > asked ? min : undefined;
}

export type UasDecision =
  | { kind: 'reject'; minSE: number }
  | { kind: 'accept'; negotiated?: Negotiated; headers: Record<string, string> };

/**
 * The UAS side of a session refresh or initial INVITE (RFC 4028 9): refuse an
 * interval below our Min-SE with 422, else take the interval (lowered to
 * ours, never below the request's Min-SE) and the refresher the request asks,
 * choosing the UAC when it supports timers and did not say.
 */
export function negotiateAsUas(req: SipMessage, cfg: SessionTimerConfig): UasDecision {
  const asked = parseSessionExpires(req);
  const uacSupports = tokenList(req, 'supported').includes('timer') || tokenList(req, 'require').includes('timer');
  const ourMin = minSEOf(cfg);
  if (asked && asked.interval < ourMin) return { kind: 'reject', minSE: ourMin };
  if (!asked && !uacSupports) return { kind: 'accept', headers: {} };
  const floor = Math.max(minSEHeader(req) ?? MIN_MIN_SE, ourMin);
  const interval = asked ? Math.max(Math.min(asked.interval, expiresOf(cfg)), floor) : expiresOf(cfg);
  const refresher: Refresher = asked?.refresher ?? (uacSupports ? 'uac' : 'uas');
  const headers: Record<string, string> = { 'session-expires': `${interval};refresher=${refresher}` };
  if (uacSupports) headers.require = 'timer';
  return { kind: 'accept', negotiated: { interval, refresher }, headers };
}

/** The UAC side from the 2xx (RFC 4028 7.2): no Session-Expires there means no session timer. */
export function negotiatedByResponse(res: SipMessage): Negotiated | undefined {
  const se = parseSessionExpires(res);
  if (!se) return undefined;
  return { interval: se.interval, refresher: se.refresher ?? 'uac' };
}

/** RFC 4028 10: the side that does not refresh ends the session this long before the interval is over. */
export function expiryMarginSeconds(interval: number): number {
  return Math.min(32, interval / 3);
}

/** The running clock of one session: refresh at half the interval (refresher), BYE before its end (both). */
export class SessionTimer {
  private refreshAt?: unknown;
  private expireAt?: unknown;
  private state?: { interval: number; weRefresh: boolean };

  constructor(
    private readonly scheduler: Scheduler,
    private readonly on: { refresh: () => void; expire: () => void },
  ) {}

  /** The interval in force and whether this side refreshes; undefined when no timer runs. */
  get current(): { interval: number; weRefresh: boolean } | undefined {
    return this.state;
  }

  /** (Re)starts the interval, after the 2xx of the session or of a refresh. */
  arm(interval: number, weRefresh: boolean): void {
    this.stop();
    this.state = { interval, weRefresh };
    if (weRefresh) this.refreshAt = this.scheduler.set(() => this.on.refresh(), (interval * 1000) / 2);
    this.expireAt = this.scheduler.set(() => this.on.expire(), (interval - expiryMarginSeconds(interval)) * 1000);
  }

  stop(): void {
    if (this.refreshAt !== undefined) this.scheduler.clear(this.refreshAt);
    if (this.expireAt !== undefined) this.scheduler.clear(this.expireAt);
    this.refreshAt = this.expireAt = undefined;
    this.state = undefined;
  }
}
