// When the IM server starts a delivery session for a user, beyond the seed's
// own trigger (seed 003 12.2.2.2: registration and a new publication). A
// server that restarted (crash or redeploy) sees its users' settings again
// only as refreshes, and a message can be stored while its recipient's
// settings already allow delivery; both would otherwise wait for the user's
// next fresh publication. The rules, per user:
// - never two sessions at once: a trigger while one runs joins it;
// - a session that ended short (a failure response, a dropped connection)
//   holds back the triggers that are no fresh publication for the retry
//   interval, so an unreachable user does not get an INVITE per refresh or
//   per stored message;
// - a message stored while a session runs goes in that session when it is
//   still sending; when the session has finished its last batch the message
//   waits, and the clean end of that session is its trigger (the store's
//   order holds: one session at a time takes the messages in arrival order).
// Pure bookkeeping: the caller runs the sessions and reports their ends.
import { planDelivery, type DeliveryPlan } from './delivery-plan';
import type { SettingsDocument } from '../settings/settings-types';
import { addressOfRecord } from '../sip/uri';
import { realScheduler, type Scheduler } from '../util/scheduler';

/** Default retry interval after a session that ended short, seconds. */
export const DEFAULT_DELIVERY_RETRY_INTERVAL = 300;

/** The settings server's events, in the names of its output. */
export type SettingsEventName = 'published' | 'modified' | 'refreshed' | 'removed' | 'expired';

export type TriggerReason =
  /** deliver: a new publication with offline delivery active (the seed's trigger). */
  | 'new-settings'
  /** deliver: a refresh, and no session was tried for the user since the start. */
  | 'refresh-first'
  /** deliver: a refresh, and the last session ended short longer than the retry interval ago. */
  | 'refresh-retry'
  /** deliver: a refresh, and the last session ended clean (what waits came after it). */
  | 'refresh-after-clean'
  /** deliver: a message was stored while the user's settings have offline delivery active. */
  | 'stored-while-active'
  /** deliver: a message was stored while the session that just ended cleanly ran. */
  | 'stored-during-session'
  /** deliver: asked for by the flow. */
  | 'requested'
  /** no new session: one runs for the user and takes what waits (or its end does). */
  | 'session-running'
  /** no new session: the last one ended short less than the retry interval ago. */
  | 'backing-off'
  /** no new session: the node has not seen the user's settings, or they do not allow delivery. */
  | 'settings-unknown'
  /** no new session: the event is no trigger (removal, expiry; a session end without new messages). */
  | 'no-trigger'
  | DeliveryPlan['reason'];

export interface TriggerDecision {
  deliver: boolean;
  reason: TriggerReason;
  waiting: number;
}

export interface DeliveryTriggersOptions {
  /** Seconds a session that ended short holds back refresh and store triggers. Default 300; 0: none. */
  retryInterval?: number;
  scheduler?: Scheduler;
}

interface UserState {
  /** What the settings server last said of offline delivery; undefined when unknown or unset. */
  offlineDelivery?: boolean;
  running: boolean;
  /** A message was stored while the running session ran. */
  storedDuring: boolean;
  /** The end of the last session that ended short, ms; undefined after a clean one. */
  shortEndAt?: number;
  /** Whether any session was tried since the start. */
  tried: boolean;
}

/**
 * Decides, per user, which inputs start a delivery session. Call `started`
 * when a session for the user begins and `ended` when it ends; the other
 * methods only decide.
 */
export class DeliveryTriggers {
  private readonly users = new Map<string, UserState>();
  private readonly retryMs: number;
  private readonly scheduler: Scheduler;

  constructor(o: DeliveryTriggersOptions = {}) {
    const s = o.retryInterval ?? DEFAULT_DELIVERY_RETRY_INTERVAL;
    if (!Number.isFinite(s) || s < 0) throw new Error(`retry interval ${s} must be a number of seconds, 0 or more`);
    this.retryMs = s * 1000;
    this.scheduler = o.scheduler ?? realScheduler;
  }

  /** Whether a session for `aor` runs (as reported by started/ended). */
  running(aor: string): boolean {
    return this.users.get(keyOf(aor))?.running ?? false;
  }

  /** The settings server's output for `aor`: remembers the user's offline delivery and decides. */
  settings(aor: string, event: SettingsEventName, offlineDelivery: boolean | undefined, waiting: number): TriggerDecision {
    const u = this.user(aor);
    u.offlineDelivery = offlineDelivery;
    if (event === 'removed' || event === 'expired') return this.no('no-trigger', waiting);
    const plan = planDelivery({ registered: true, settings: settingsWith(offlineDelivery), waiting });
    if (plan.action !== 'deliver') return this.no(plan.reason, waiting);
    if (u.running) return this.no('session-running', waiting);
    if (event === 'published' || event === 'modified') return this.yes('new-settings', waiting);
    if (!u.tried) return this.yes('refresh-first', waiting);
    if (u.shortEndAt === undefined) return this.yes('refresh-after-clean', waiting);
    return this.backingOff(u) ? this.no('backing-off', waiting) : this.yes('refresh-retry', waiting);
  }

  /** A message for `aor` was stored; `waiting` counts it. */
  stored(aor: string, waiting: number): TriggerDecision {
    const u = this.user(aor);
    if (u.running) {
      u.storedDuring = true;
      return this.no('session-running', waiting);
    }
    if (u.offlineDelivery !== true) return this.no('settings-unknown', waiting);
    if (this.backingOff(u)) return this.no('backing-off', waiting);
    return this.yes('stored-while-active', waiting);
  }

  /** The flow asks for a delivery: it starts unless one runs (then it joins). */
  requested(aor: string, waiting: number): TriggerDecision {
    return this.running(aor) ? this.no('session-running', waiting) : this.yes('requested', waiting);
  }

  /** A session for `aor` begins. */
  started(aor: string): void {
    const u = this.user(aor);
    u.running = true;
    u.tried = true;
    u.storedDuring = false;
  }

  /**
   * A session for `aor` ended: `short` when it stopped before sending what
   * it took (a failure response, a dropped connection). Decides whether the
   * messages stored during it start the next one.
   */
  ended(aor: string, short: boolean, waiting: number): TriggerDecision {
    const u = this.user(aor);
    const storedDuring = u.storedDuring;
    u.running = false;
    u.storedDuring = false;
    u.shortEndAt = short ? this.scheduler.now() : undefined;
    if (short) return this.no('backing-off', waiting);
    if (!storedDuring) return this.no('no-trigger', waiting);
    if (waiting <= 0) return this.no('nothing-waiting', waiting);
    if (u.offlineDelivery !== true) return this.no('settings-unknown', waiting);
    return this.yes('stored-during-session', waiting);
  }

  private backingOff(u: UserState): boolean {
    return u.shortEndAt !== undefined && this.scheduler.now() - u.shortEndAt < this.retryMs;
  }

  private user(aor: string): UserState {
    const key = keyOf(aor);
    let u = this.users.get(key);
    if (!u) this.users.set(key, (u = { running: false, storedDuring: false, tried: false }));
    return u;
  }

  private yes(reason: TriggerReason, waiting: number): TriggerDecision {
    return { deliver: true, reason, waiting };
  }

  private no(reason: TriggerReason, waiting: number): TriggerDecision {
    return { deliver: false, reason, waiting };
  }
}

/** One user however their address is written (as DeferredDelivery keys its sessions). */
function keyOf(aor: string): string {
  return addressOfRecord(aor) ?? aor;
}

/** A settings document that says what the settings server reported of offline delivery. */
export function settingsWith(offlineDelivery: boolean | undefined): SettingsDocument {
  return { entities: [{ id: 'reported', im: offlineDelivery === undefined ? {} : { offlineDelivery }, extensions: [] }] };
}
