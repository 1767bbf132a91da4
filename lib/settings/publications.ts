// The server side of RFC 3903 for the `poc-settings` event (seed 003 6.1.1.5
// step 4 and 5): each client's publication is a piece of event state under an
// entity tag, the user's settings are the composition of the live pieces, and
// every piece lives in a KeyValueStore so that it outlives a restart.
//
// Entity tags: RFC 3903 section 6 step 7 has the ESC assign a new tag for
// every successful publication, so initial, refresh and modify each answer
// with a fresh tag and the old one stops matching (a 412 tells a client that
// lost track to publish afresh). A remove answers with the tag it removed.
//
// Each publication is stored under a key of its own that never changes
// (the tag does), so a refresh or modify is one atomic put of one file; a
// crash can never leave two copies of one client's state.
//
// Ordering: requests and expiries of one address of record run one after
// the other, so two PUBLISH of one user in the same tick cannot both match
// the same tag. The store is written first; memory and the 'change' event
// follow only once the write succeeded, so a failed write changes nothing.
import { EventEmitter } from 'node:events';
import type { KeyValueStore } from '../store/store';
import { randomHex } from '../util/random';
import { realScheduler } from '../util/scheduler';
import type { Scheduler } from '../util/scheduler';
import { composeDocuments, copyDocument } from './settings-input';
import type { SettingsDocument } from './settings-types';

export interface StoredPublication {
  /** The resource: the user's address of record, normalised by the caller. */
  aor: string;
  etag: string;
  /** The poc-settings XML as published (what watchers are composed from). */
  body: string;
  document: SettingsDocument;
  /** ms since epoch (scheduler clock). */
  expiresAt: number;
  /** First publication. */
  publishedAt: number;
  /** Last initial or modify. */
  updatedAt: number;
  /** Who published (asserted identity), for conflict resolution between clients. */
  by?: string;
  userAgent?: string;
}

export type PublishKind = 'initial' | 'refresh' | 'modify' | 'remove';

export interface PublishRequest {
  aor: string;
  /** SIP-If-Match. */
  ifMatch?: string;
  /** Expires in seconds; absent means the default. */
  expires?: number;
  body?: { text: string; document: SettingsDocument };
  by?: string;
  userAgent?: string;
}

export type PublishOutcome =
  | {
      ok: true;
      kind: PublishKind;
      etag: string;
      expires: number;
      publication: StoredPublication;
      /** The composed current state of the aor after this publication (as in its 'change' event). */
      document: SettingsDocument;
    }
  | {
      ok: false;
      status: number;
      reason: string;
      /** With 423: the Min-Expires header value. */
      minExpires?: number;
      /** With 503: seconds after which a retry may succeed (Retry-After), when known. */
      retryAfter?: number;
    };

export interface PublicationChange {
  aor: string;
  kind: 'initial' | 'modify' | 'remove' | 'expired' | 'refresh';
  publication: StoredPublication;
  /** The composed current state of the aor after the change. */
  document: SettingsDocument;
}

export interface PublicationsOptions {
  store: KeyValueStore<StoredPublication>;
  scheduler?: Scheduler;
  /** Seconds; shorter non-zero requests get 423 (default 60). */
  minExpires?: number;
  /** Seconds; longer requests are granted this (default 86400). */
  maxExpires?: number;
  /** Seconds, when a request has no Expires (default 3600). */
  defaultExpires?: number;
  /** Live publications in total; an initial publication above it gets 503 (default 100000). */
  maxPublications?: number;
  /** Live publications of one address of record; above it 503 (default 16). */
  maxPerAor?: number;
}

interface Entry {
  /** The store key: fixed for the publication's life. */
  key: string;
  pub: StoredPublication;
  timer?: unknown;
}

type Failure = Extract<PublishOutcome, { ok: false }>;

function fail(status: number, reason: string, extra: Partial<Failure> = {}): Failure {
  return { ok: false, status, reason, ...extra };
}

function errorOf(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

// Published state is shared with listeners and callers: freezing it makes
// an accidental mutation fail loudly instead of changing stored state.
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function isPublication(v: unknown): v is StoredPublication {
  const p = v as StoredPublication;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.aor === 'string' &&
    typeof p.etag === 'string' &&
    typeof p.body === 'string' &&
    typeof p.expiresAt === 'number' &&
    typeof p.publishedAt === 'number' &&
    typeof p.updatedAt === 'number' &&
    typeof p.document === 'object' &&
    p.document !== null &&
    Array.isArray(p.document.entities)
  );
}

/**
 * Emits 'change' (PublicationChange) once a change is stored and visible,
 * before the publish() that caused it resolves; 'store-error' (Error) when
 * the store fails (the request that hit it answers 500); 'listener-error'
 * (Error) when a 'change' listener throws (the publication stands).
 */
export class Publications extends EventEmitter {
  private readonly store: KeyValueStore<StoredPublication>;
  private readonly scheduler: Scheduler;
  private readonly minExpires: number;
  private readonly maxExpires: number;
  private readonly defaultExpires: number;
  private readonly maxPublications: number;
  private readonly maxPerAor: number;
  private readonly byEtag = new Map<string, Entry>();
  private readonly byAor = new Map<string, Set<Entry>>();
  // The last queued task per aor, and every tail still running (for idle()).
  private readonly tails = new Map<string, Promise<void>>();
  // Initial publications admitted but not stored yet, so that concurrent
  // initials for different users cannot overshoot maxPublications.
  private reserved = 0;
  private closed = false;

  constructor(o: PublicationsOptions) {
    super();
    this.store = o.store;
    this.scheduler = o.scheduler ?? realScheduler;
    this.minExpires = Math.max(1, o.minExpires ?? 60);
    this.maxExpires = Math.max(this.minExpires, o.maxExpires ?? 86400);
    this.defaultExpires = Math.min(this.maxExpires, Math.max(this.minExpires, o.defaultExpires ?? 3600));
    this.maxPublications = o.maxPublications ?? 100000;
    this.maxPerAor = o.maxPerAor ?? 16;
  }

  /**
   * Reads the store once at start: expired publications are deleted from it,
   * the others become live with their expiry armed. Emits no 'change'. A
   * store that cannot be read rejects; an entry that cannot be used or
   * deleted is reported as 'store-error' and skipped.
   */
  async load(): Promise<void> {
    const entries = await this.store.load();
    for (const e of this.byEtag.values()) this.disarm(e);
    this.byEtag.clear();
    this.byAor.clear();
    const now = this.scheduler.now();
    const stale: string[] = [];
    for (const [key, pub] of entries) {
      if (!isPublication(pub)) {
        this.storeError(new Error(`stored publication ${key} is malformed; ignored`));
        continue;
      }
      if (pub.expiresAt <= now || this.byEtag.has(pub.etag)) {
        stale.push(key);
        continue;
      }
      this.insert({ key, pub: deepFreeze(pub) });
    }
    await Promise.all(stale.map((key) => this.store.delete(key).catch((err) => this.storeError(errorOf(err)))));
  }

  /** RFC 3903 section 6 steps 4-7 for one PUBLISH; never rejects. */
  async publish(p: PublishRequest): Promise<PublishOutcome> {
    try {
      const checked = this.check(p);
      if (typeof checked !== 'number') return checked;
      return await this.serially(p.aor, () => this.apply(p, checked));
    } catch (err) {
      return fail(500, `publication failed: ${errorOf(err).message}`);
    }
  }

  /**
   * The composed settings of the user's live publications (an empty document
   * when none): oldest first, so for each entity id the entity of the newest
   * publication (last initial or modify) wins whole.
   */
  current(aor: string): SettingsDocument {
    return composeDocuments(this.list(aor).map((p) => p.document));
  }

  /** The user's live publications, oldest first (by last initial or modify). */
  list(aor: string): StoredPublication[] {
    const now = this.scheduler.now();
    return [...(this.byAor.get(aor) ?? [])]
      .map((e) => e.pub)
      .filter((p) => p.expiresAt > now)
      .sort((a, b) => a.updatedAt - b.updatedAt || a.publishedAt - b.publishedAt);
  }

  /** Addresses of record with at least one publication. */
  aors(): string[] {
    return [...this.byAor.keys()];
  }

  get size(): number {
    return this.byEtag.size;
  }

  /** Addresses of record with at least one publication (aors().length without the copy). */
  get aorCount(): number {
    return this.byAor.size;
  }

  /** Resolves once every queued publish and expiry has finished. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  /** Timers off, later publishes refused (503); the state stays in the store, which the caller closes. */
  close(): void {
    this.closed = true;
    for (const e of this.byEtag.values()) this.disarm(e);
  }

  // Checks that need no state: the granted expiry in seconds, or the answer.
  private check(p: PublishRequest): number | Failure {
    if (this.closed) return fail(503, 'publications closed');
    if (typeof p.aor !== 'string' || p.aor === '') return fail(400, 'no resource to publish for');
    if (p.ifMatch !== undefined && (typeof p.ifMatch !== 'string' || p.ifMatch === '')) {
      return fail(400, 'empty SIP-If-Match');
    }
    if (p.body !== undefined && (typeof p.body.text !== 'string' || !Array.isArray(p.body.document?.entities))) {
      return fail(400, 'malformed body');
    }
    if (p.expires !== undefined && !(Number.isInteger(p.expires) && p.expires >= 0)) {
      return fail(400, 'Expires is not a non-negative integer');
    }
    if (p.ifMatch === undefined) {
      // RFC 3903 section 6 step 4: neither a tag nor a body is no publication at all.
      if (p.body === undefined) return fail(400, 'no SIP-If-Match and no body');
      if (p.expires === 0) return fail(400, 'an initial publication with Expires 0');
    }
    const expires = p.expires ?? this.defaultExpires;
    if (expires === 0) return 0;
    if (expires < this.minExpires) return fail(423, 'Interval Too Brief', { minExpires: this.minExpires });
    return Math.min(expires, this.maxExpires);
  }

  private async apply(p: PublishRequest, expires: number): Promise<PublishOutcome> {
    if (this.closed) return fail(503, 'publications closed');
    if (p.ifMatch === undefined) return this.initial(p, expires);
    const entry = this.byEtag.get(p.ifMatch);
    if (!entry || entry.pub.aor !== p.aor) return fail(412, 'Conditional Request Failed');
    if (entry.pub.expiresAt <= this.scheduler.now()) {
      // The timer has not fired yet, but the state is gone by definition.
      await this.expire(entry);
      return fail(412, 'Conditional Request Failed');
    }
    if (expires === 0) return this.remove(entry);
    return this.update(entry, p, expires);
  }

  private async initial(p: PublishRequest, expires: number): Promise<PublishOutcome> {
    const body = p.body!;
    const mine = this.list(p.aor);
    if (mine.length >= this.maxPerAor) {
      const soonest = Math.min(...mine.map((x) => x.expiresAt));
      return fail(503, 'too many publications for this resource', {
        retryAfter: Math.max(1, Math.ceil((soonest - this.scheduler.now()) / 1000)),
      });
    }
    if (this.byEtag.size + this.reserved >= this.maxPublications) return fail(503, 'too many publications');
    const now = this.scheduler.now();
    const pub = deepFreeze<StoredPublication>({
      aor: p.aor,
      etag: this.newTag(),
      body: body.text,
      document: copyDocument(body.document),
      expiresAt: now + expires * 1000,
      publishedAt: now,
      updatedAt: now,
      ...(p.by !== undefined ? { by: p.by } : {}),
      ...(p.userAgent !== undefined ? { userAgent: p.userAgent } : {}),
    });
    const entry: Entry = { key: randomHex(16), pub };
    this.reserved++;
    try {
      await this.store.put(entry.key, pub);
    } catch (err) {
      return this.writeFailed(err);
    } finally {
      this.reserved--;
    }
    this.insert(entry);
    const document = this.announce('initial', pub);
    return { ok: true, kind: 'initial', etag: pub.etag, expires, publication: pub, document };
  }

  private async update(entry: Entry, p: PublishRequest, expires: number): Promise<PublishOutcome> {
    const now = this.scheduler.now();
    const old = entry.pub;
    const kind = p.body ? 'modify' : 'refresh';
    const pub = deepFreeze<StoredPublication>({
      ...old,
      etag: this.newTag(),
      expiresAt: now + expires * 1000,
      ...(p.body ? { body: p.body.text, document: copyDocument(p.body.document), updatedAt: now } : {}),
      ...(p.by !== undefined ? { by: p.by } : {}),
      ...(p.userAgent !== undefined ? { userAgent: p.userAgent } : {}),
    });
    try {
      await this.store.put(entry.key, pub);
    } catch (err) {
      return this.writeFailed(err);
    }
    this.disarm(entry);
    this.byEtag.delete(old.etag);
    entry.pub = pub;
    this.byEtag.set(pub.etag, entry);
    this.arm(entry);
    const document = this.announce(kind, pub);
    return { ok: true, kind, etag: pub.etag, expires, publication: pub, document };
  }

  private async remove(entry: Entry): Promise<PublishOutcome> {
    try {
      await this.store.delete(entry.key);
    } catch (err) {
      return this.writeFailed(err);
    }
    this.drop(entry);
    const document = this.announce('remove', entry.pub);
    return { ok: true, kind: 'remove', etag: entry.pub.etag, expires: 0, publication: entry.pub, document };
  }

  // Expired state leaves memory even when the store cannot delete it: a
  // later load drops it anyway, as it is past its expiry.
  private async expire(entry: Entry): Promise<void> {
    if (this.byEtag.get(entry.pub.etag) !== entry) return;
    this.drop(entry);
    this.announce('expired', entry.pub);
    try {
      await this.store.delete(entry.key);
    } catch (err) {
      this.storeError(errorOf(err));
    }
  }

  private writeFailed(err: unknown): Failure {
    const e = errorOf(err);
    this.storeError(e);
    return fail(500, `settings could not be stored: ${e.message}`);
  }

  private insert(entry: Entry): void {
    this.byEtag.set(entry.pub.etag, entry);
    let set = this.byAor.get(entry.pub.aor);
    if (!set) this.byAor.set(entry.pub.aor, (set = new Set()));
    set.add(entry);
    this.arm(entry);
  }

  private drop(entry: Entry): void {
    this.disarm(entry);
    this.byEtag.delete(entry.pub.etag);
    const set = this.byAor.get(entry.pub.aor);
    set?.delete(entry);
    if (set?.size === 0) this.byAor.delete(entry.pub.aor);
  }

  private arm(entry: Entry): void {
    if (this.closed) return;
    const delay = entry.pub.expiresAt - this.scheduler.now();
    entry.timer = this.scheduler.set(() => {
      entry.timer = undefined;
      // A real timer may fire early (long delays are clamped): look again.
      this.serially(entry.pub.aor, async () => {
        if (this.byEtag.get(entry.pub.etag) !== entry || entry.timer !== undefined) return;
        if (entry.pub.expiresAt > this.scheduler.now()) this.arm(entry);
        else await this.expire(entry);
      }).catch((err) => this.storeError(errorOf(err)));
    }, Math.max(0, delay));
  }

  private disarm(entry: Entry): void {
    if (entry.timer !== undefined) this.scheduler.clear(entry.timer);
    entry.timer = undefined;
  }

  private newTag(): string {
    let tag: string;
    do tag = randomHex(12);
    while (this.byEtag.has(tag));
    return tag;
  }

  private serially<R>(aor: string, task: () => Promise<R>): Promise<R> {
    const before = this.tails.get(aor) ?? Promise.resolve();
    const result = before.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(aor, tail);
    void tail.then(() => {
      if (this.tails.get(aor) === tail) this.tails.delete(aor);
    });
    return result;
  }

  // A listener that throws must not turn a stored publication into a failed
  // request: the state has changed and the client must hear so. Returns the
  // composed state for the caller's outcome: a copy of its own, so that a
  // listener that changes the event's document cannot change the outcome's.
  private announce(kind: PublicationChange['kind'], publication: StoredPublication): SettingsDocument {
    const document = this.current(publication.aor);
    if (this.listenerCount('change') === 0) return document;
    const change: PublicationChange = { aor: publication.aor, kind, publication, document };
    try {
      this.emit('change', change);
    } catch (err) {
      this.report('listener-error', errorOf(err));
    }
    return copyDocument(document);
  }

  private storeError(err: Error): void {
    this.report('store-error', err);
  }

  // These events are advisory: without a listener they must not throw as 'error' would.
  private report(event: 'store-error' | 'listener-error', err: Error): void {
    if (this.listenerCount(event) > 0) this.emit(event, err);
  }
}
