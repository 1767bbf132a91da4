// The location service of the lab core: bindings of each address of record,
// updated by REGISTER per RFC 3261 10.3 and expired by time. Its events use
// the RFC 3680 contact event names, since the reg-event notifier reports them.
import { EventEmitter } from 'node:events';
import type { Params } from '../sip/message';
import type { Peer } from '../sip/transport';
import { sameContactUri } from '../sip/uri';
import type { Scheduler } from '../util/scheduler';

export interface Binding {
  aor: string;
  /** Contact URI as registered. */
  uri: string;
  displayName?: string;
  /** Contact header parameters other than expires (feature tags, +sip.instance, q). */
  params: Params;
  expiresAt: number;
  /** Granted seconds at the last update. */
  expires: number;
  callId: string;
  cseq: number;
  /** Where the REGISTER came from; used when the Contact is not reachable as written. */
  source?: Peer;
  registeredAt: number;
  /** Stable id for reginfo `<contact id>`. */
  id: string;
  instance?: string;
  tempGruu?: string;
}

export type BindingEventName = 'registered' | 'refreshed' | 'shortened' | 'unregistered' | 'expired';

export interface BindingEvent {
  event: BindingEventName;
  binding: Binding;
}

export interface ContactUpdate {
  uri: string;
  displayName?: string;
  params: Params;
  /** Seconds requested for this contact. */
  expires: number;
}

export interface BindingUpdate {
  aor: string;
  callId: string;
  cseq: number;
  /** `Contact: *` with Expires 0: remove every binding (RFC 3261 10.3 step 6). */
  wildcard: boolean;
  contacts: ContactUpdate[];
  source?: Peer;
}

export type UpdateOutcome = { ok: true; events: BindingEvent[] } | { ok: false; status: number; reason: string };

let bindingIds = 0;

/** Emits `change` (aor, BindingEvent[]) whenever bindings of an AOR change, including expiry. */
export class LocationService extends EventEmitter {
  private readonly table = new Map<string, Binding[]>();
  private sweeper: unknown;
  private sweepAt = Infinity;

  constructor(private readonly scheduler: Scheduler) {
    super();
  }

  lookup(aor: string): Binding[] {
    this.expire(aor);
    return [...(this.table.get(aor) ?? [])];
  }

  aors(): string[] {
    return [...this.table.keys()];
  }

  apply(u: BindingUpdate): UpdateOutcome {
    this.expire(u.aor);
    const now = this.scheduler.now();
    const list = [...(this.table.get(u.aor) ?? [])];
    const events: BindingEvent[] = [];

    if (u.wildcard) {
      // Step 6: a wildcard only removes bindings not newer than this request.
      const keep: Binding[] = [];
      for (const b of list) {
        if (b.callId === u.callId && b.cseq >= u.cseq) keep.push(b);
        else events.push({ event: 'unregistered', binding: { ...b, expires: 0, expiresAt: now } });
      }
      this.store(u.aor, keep);
      return this.done(u.aor, events);
    }

    for (const c of u.contacts) {
      const instance = typeof c.params['+sip.instance'] === 'string' ? String(c.params['+sip.instance']) : undefined;
      // RFC 5626 6: the same instance replaces its binding even from a new address.
      const i = list.findIndex((b) => (instance && b.instance === instance) || sameContactUri(b.uri, c.uri));
      const existing = i >= 0 ? list[i] : undefined;
      if (existing && existing.callId === u.callId && existing.cseq >= u.cseq) {
        return { ok: false, status: 500, reason: 'Server Internal Error (out-of-order REGISTER)' };
      }
      if (c.expires === 0) {
        if (existing) {
          list.splice(i, 1);
          events.push({ event: 'unregistered', binding: { ...existing, expires: 0, expiresAt: now } });
        }
        continue;
      }
      const binding: Binding = {
        aor: u.aor,
        uri: c.uri,
        displayName: c.displayName,
        params: c.params,
        expires: c.expires,
        expiresAt: now + c.expires * 1000,
        callId: u.callId,
        cseq: u.cseq,
        source: u.source,
        registeredAt: existing?.registeredAt ?? now,
        id: existing?.id ?? String(++bindingIds),
        instance,
        tempGruu: existing?.tempGruu,
      };
      if (existing) {
        list[i] = binding;
        const remaining = (existing.expiresAt - now) / 1000;
        events.push({ event: c.expires < remaining ? 'shortened' : 'refreshed', binding });
      } else {
        list.push(binding);
        events.push({ event: 'registered', binding });
      }
    }
    this.store(u.aor, list);
    return this.done(u.aor, events);
  }

  /** Sets a binding's temp GRUU once minted (RFC 5627 3.2). */
  setTempGruu(aor: string, id: string, gruu: string): void {
    const b = this.table.get(aor)?.find((x) => x.id === id);
    if (b) b.tempGruu = gruu;
  }

  private done(aor: string, events: BindingEvent[]): UpdateOutcome {
    if (events.length) this.emit('change', aor, events);
    for (const e of events) if (e.event !== 'unregistered') this.armSweeper(e.binding.expiresAt);
    return { ok: true, events };
  }

  private store(aor: string, list: Binding[]): void {
    if (list.length) this.table.set(aor, list);
    else this.table.delete(aor);
  }

  /** Removes bindings whose time ran out, reporting them as `expired`. */
  expire(aor?: string): void {
    const now = this.scheduler.now();
    for (const key of aor ? [aor] : [...this.table.keys()]) {
      const list = this.table.get(key);
      if (!list) continue;
      const gone = list.filter((b) => b.expiresAt <= now);
      if (!gone.length) continue;
      this.store(key, list.filter((b) => b.expiresAt > now));
      this.emit('change', key, gone.map((b) => ({ event: 'expired', binding: b }) satisfies BindingEvent));
    }
  }

  /** One timer at the earliest expiry; a full scan happens only when it fires. */
  private armSweeper(at: number): void {
    if (this.sweeper !== undefined && this.sweepAt <= at) return;
    if (this.sweeper !== undefined) this.scheduler.clear(this.sweeper);
    this.sweepAt = at;
    this.sweeper = this.scheduler.set(() => {
      this.sweeper = undefined;
      this.sweepAt = Infinity;
      this.expire();
      let next = Infinity;
      for (const list of this.table.values()) for (const b of list) next = Math.min(next, b.expiresAt);
      if (next !== Infinity) this.armSweeper(next);
    }, Math.max(0, at - this.scheduler.now()) + 10);
  }

  close(): void {
    if (this.sweeper !== undefined) this.scheduler.clear(this.sweeper);
    this.sweeper = undefined;
  }
}
