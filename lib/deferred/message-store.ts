// Deferred messages (seed 003 12.2.2.2, SPEC "Deferred messages"): what was
// sent to a user who could not take it, kept until the user's side confirms
// delivery. One store entry per message, under its id, so that adding or
// deleting one message is one atomic write and a crash can neither lose an
// accepted message nor half-delete one.
//
// Order of effects: the store is written first; memory and the events follow
// only once the write succeeded, so a failed write changes nothing that a
// caller could see, and add() resolves only when the message is durable (a
// sender is answered only after that, so a refused or failed add is the
// sender's to retry: nothing is lost in between).
//
// Arrival order is a sequence number given when add() is called and kept in
// the entry, so it survives restarts and does not depend on which of two
// concurrent writes finished first.
import { EventEmitter } from 'node:events';
import type { KeyValueStore } from '../store/store';
import { randomHex } from '../util/random';
import { realScheduler, type Scheduler } from '../util/scheduler';
import { addressOfRecord } from '../sip/uri';

/** One deferred message as stored (plain JSON). */
export interface DeferredMessage {
  /** Stable and unique; the key in the store and the history-reference of the metadata. */
  id: string;
  /** The recipient's address of record. */
  recipient: string;
  /** The original sender's URI (asserted identity or From). */
  sender: string;
  /** The sender's display name, when known. */
  senderName?: string;
  /** The content's media type with its parameters, e.g. `text/plain;charset=utf-8`. */
  contentType: string;
  /** `text`: body is the content itself; `base64`: body is the content's bytes in base64. */
  encoding: 'text' | 'base64';
  body: string;
  /** Bytes of the content (UTF-8 for text). */
  size: number;
  subject?: string;
  /** When the message was first received, ms since the epoch: the original time. */
  receivedAt: number;
  /** When the message is dropped undelivered, ms since the epoch. */
  expiresAt: number;
  /** Arrival order, growing. */
  seq: number;
}

/** What add() takes. */
export interface DeferredMessageInput {
  recipient: string;
  sender: string;
  senderName?: string;
  contentType: string;
  /** Text (kept as text) or bytes (kept in base64). */
  body: string | Buffer;
  subject?: string;
  /** Original time: a Date, ms since the epoch, or an RFC 3339 string; default now. */
  time?: Date | number | string;
  /** Seconds the message may wait, capped by the store's maxAgeSeconds; default that maximum. */
  expires?: number;
  /** A caller's own id (letters, digits, `.`, `_`, `-`; up to 128): adding an id again stores nothing and gives the first. */
  id?: string;
}

export type DeferredStoreErrorCode = 'invalid' | 'too-large' | 'user-full' | 'store-full' | 'store-failed' | 'closed';

/** Why add() refused a message; `status` is the SIP answer to whoever sent it. */
export class DeferredStoreError extends Error {
  constructor(
    readonly code: DeferredStoreErrorCode,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'DeferredStoreError';
  }
}

export interface DeferredChange {
  aor: string;
  kind: 'added' | 'delivered' | 'expired' | 'removed';
  message: DeferredMessage;
}

export interface DeferredMessageStoreOptions {
  store: KeyValueStore<DeferredMessage>;
  scheduler?: Scheduler;
  /** Largest content accepted, bytes. Default 1 MiB. */
  maxMessageBytes?: number;
  /** Messages waiting for one user. Default 10,000. */
  maxPerUser?: number;
  /** Messages waiting in total. Default 100,000. */
  maxTotal?: number;
  /** Content bytes waiting in total (what memory holds). Default 256 MiB. */
  maxTotalBytes?: number;
  /** Longest wait, seconds; older messages are dropped. Default 7 days. */
  maxAgeSeconds?: number;
  /** How often expired messages are swept out, seconds. Default 60. */
  sweepSeconds?: number;
}

const ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
// type/subtype with optional parameters (RFC 2045 5.1, loosely: the parameters are kept as given).
const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+\s*(;.*)?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Events: 'arrived' (DeferredMessage) when a message is stored for a user;
 * 'change' (DeferredChange) for every change of a user's list (the metadata
 * subscriptions follow it); 'store-error' (Error) when the store fails in a
 * way no caller is told of (a sweep, a malformed entry at load).
 */
export class DeferredMessageStore extends EventEmitter {
  private readonly store: KeyValueStore<DeferredMessage>;
  private readonly scheduler: Scheduler;
  private readonly maxMessageBytes: number;
  private readonly maxPerUser: number;
  private readonly maxTotal: number;
  private readonly maxTotalBytes: number;
  private readonly maxAgeMs: number;
  private readonly sweepMs: number;
  private readonly byId = new Map<string, DeferredMessage>();
  // Each user's messages by id, in arrival order (a Map keeps insertion order
  // and deletes in constant time, which delivering 10,000 in a row needs).
  private readonly byAor = new Map<string, Map<string, DeferredMessage>>();
  // The highest seq in each user's map, to notice an insertion out of order.
  private readonly lastSeq = new Map<string, number>();
  // Admitted adds whose write is under way, so that concurrent adds cannot overshoot the caps.
  private readonly reservedPerUser = new Map<string, number>();
  private reserved = 0;
  private reservedBytes = 0;
  private totalBytes = 0;
  private readonly adding = new Map<string, Promise<DeferredMessage>>();
  private readonly deleting = new Map<string, Promise<boolean>>();
  private nextSeq = 1;
  private sweepTimer: unknown;
  private closed = false;

  constructor(o: DeferredMessageStoreOptions) {
    super();
    this.store = o.store;
    this.scheduler = o.scheduler ?? realScheduler;
    this.maxMessageBytes = positive(o.maxMessageBytes, 1024 * 1024, 'maxMessageBytes');
    this.maxPerUser = positive(o.maxPerUser, 10_000, 'maxPerUser');
    this.maxTotal = positive(o.maxTotal, 100_000, 'maxTotal');
    this.maxTotalBytes = positive(o.maxTotalBytes, 256 * 1024 * 1024, 'maxTotalBytes');
    this.maxAgeMs = positive(o.maxAgeSeconds, 7 * 86400, 'maxAgeSeconds') * 1000;
    this.sweepMs = positive(o.sweepSeconds, 60, 'sweepSeconds') * 1000;
  }

  /** Messages waiting in total. */
  get size(): number {
    return this.byId.size;
  }

  /** Content bytes waiting in total. */
  get bytes(): number {
    return this.totalBytes;
  }

  /**
   * Reads the store once at start: expired messages are deleted from it, the
   * others wait again in their arrival order. Emits no event. A store that
   * cannot be read rejects; an entry that cannot be used is reported as
   * 'store-error' and left in the store untouched.
   */
  async load(): Promise<void> {
    const entries = await this.store.load();
    this.byId.clear();
    this.byAor.clear();
    this.lastSeq.clear();
    this.totalBytes = 0;
    const now = this.scheduler.now();
    const stale: string[] = [];
    const live: DeferredMessage[] = [];
    for (const [key, value] of entries) {
      if (!isDeferredMessage(value) || value.id !== key) {
        this.storeError(new Error(`stored deferred message ${JSON.stringify(key)} is malformed; ignored`));
        continue;
      }
      if (value.expiresAt <= now) stale.push(key);
      else live.push(value);
    }
    live.sort((a, b) => a.seq - b.seq);
    for (const m of live) this.insert(m);
    this.nextSeq = live.reduce((max, m) => Math.max(max, m.seq), 0) + 1;
    await Promise.all(stale.map((key) => this.store.delete(key).catch((err: unknown) => this.storeError(errorOf(err)))));
    this.armSweep();
  }

  /**
   * Stores one message durably and resolves with it as stored. Rejects with
   * a DeferredStoreError: 'invalid' (400), 'too-large' (413), 'user-full'
   * (480), 'store-full' (503), 'store-failed' (500, nothing kept), 'closed'.
   */
  add(input: DeferredMessageInput): Promise<DeferredMessage> {
    let message: DeferredMessage;
    try {
      if (this.closed) throw new DeferredStoreError('closed', 'the deferred message store is closed', 503);
      message = this.build(input);
    } catch (err) {
      return Promise.reject(err);
    }
    const existing = this.byId.get(message.id) ?? this.adding.get(message.id);
    if (existing) return Promise.resolve(existing);
    try {
      this.admit(message);
    } catch (err) {
      return Promise.reject(err);
    }
    const write = this.write(message).finally(() => {
      this.adding.delete(message.id);
      this.release(message);
    });
    this.adding.set(message.id, write);
    return write;
  }

  /** A user's waiting messages in arrival order (a copy; the messages are frozen). */
  list(aor: string): DeferredMessage[] {
    const key = addressOfRecord(aor) ?? aor;
    const now = this.scheduler.now();
    const out: DeferredMessage[] = [];
    for (const m of this.byAor.get(key)?.values() ?? []) if (m.expiresAt > now) out.push(m);
    return out;
  }

  /** Messages waiting for a user. */
  count(aor: string): number {
    return this.list(aor).length;
  }

  /** Users with messages waiting. */
  users(): string[] {
    return [...this.byAor.keys()];
  }

  get(id: string): DeferredMessage | undefined {
    return this.byId.get(id);
  }

  /**
   * The user's side confirmed this message (its MSRP SEND got 200): it is
   * deleted. Resolves true when it was deleted, false when it was not there
   * (already delivered). Rejects when the store cannot delete it; the
   * message then stays listed, as it stays on disk: it will be delivered
   * again rather than lost.
   */
  markDelivered(id: string): Promise<boolean> {
    return this.remove(id, 'delivered');
  }

  /**
   * As markDelivered for several messages, in one store write where the store
   * can (a journal's single group commit) instead of one each. Resolves once
   * every one of them is gone; rejects when the store fails, and then every
   * message of that write stays listed, as it stays on disk.
   */
  markDeliveredMany(ids: readonly string[]): Promise<void> {
    const deleteMany = this.store.deleteMany?.bind(this.store);
    if (!deleteMany) return settleAll(ids.map((id) => this.remove(id, 'delivered')));
    const others: Promise<boolean>[] = [];
    const found: DeferredMessage[] = [];
    for (const id of ids) {
      const running = this.deleting.get(id);
      const m = running ? undefined : this.byId.get(id);
      if (running) others.push(running);
      else if (m) found.push(m);
    }
    if (found.length === 0) return settleAll(others);
    const keys = found.map((m) => m.id);
    const work = deleteMany(keys)
      .then(
        () => {
          for (const m of found) this.deleted(m, 'delivered');
          return true;
        },
        (err: unknown) => {
          throw new Error(`cannot delete ${keys.length} deferred messages of ${found[0]!.recipient} (they stay stored): ${errorOf(err).message}`);
        },
      )
      .finally(() => {
        for (const key of keys) this.deleting.delete(key);
      });
    for (const key of keys) this.deleting.set(key, work);
    others.push(work);
    return settleAll(others);
  }

  /** Deletes a message without delivery (a flow's decision); as markDelivered otherwise. */
  discard(id: string): Promise<boolean> {
    return this.remove(id, 'removed');
  }

  /** Deletes every expired message; resolves with how many went. Store failures are reported as 'store-error'. */
  async purgeExpired(): Promise<number> {
    const now = this.scheduler.now();
    const due = [...this.byId.values()].filter((m) => m.expiresAt <= now);
    const results = await Promise.all(
      due.map((m) =>
        this.remove(m.id, 'expired').catch((err: unknown) => {
          this.storeError(errorOf(err));
          return false;
        }),
      ),
    );
    return results.filter(Boolean).length;
  }

  /** Stops the sweep; later adds are refused. The KeyValueStore is the caller's to close. */
  close(): void {
    this.closed = true;
    if (this.sweepTimer !== undefined) this.scheduler.clear(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private build(input: DeferredMessageInput): DeferredMessage {
    if (typeof input !== 'object' || input === null) throw invalid('the message must be an object');
    const recipient = typeof input.recipient === 'string' ? addressOfRecord(input.recipient.trim()) : undefined;
    if (!recipient) throw invalid(`recipient ${describe(input.recipient)} is not a SIP or tel URI`);
    if (typeof input.sender !== 'string' || input.sender.trim() === '' || /[\r\n]/.test(input.sender)) {
      throw invalid(`sender ${describe(input.sender)} is not a URI`);
    }
    if (typeof input.contentType !== 'string' || !MEDIA_TYPE.test(input.contentType.trim()) || /[\r\n]/.test(input.contentType)) {
      throw invalid(`content type ${describe(input.contentType)} is not type/subtype`);
    }
    let encoding: DeferredMessage['encoding'];
    let body: string;
    let size: number;
    if (typeof input.body === 'string') {
      encoding = 'text';
      body = input.body;
      size = Buffer.byteLength(body, 'utf8');
    } else if (Buffer.isBuffer(input.body)) {
      encoding = 'base64';
      body = input.body.toString('base64');
      size = input.body.length;
    } else {
      throw invalid(`body must be text or a Buffer, got ${describe(input.body)}`);
    }
    if (size > this.maxMessageBytes) {
      throw new DeferredStoreError('too-large', `message of ${size} bytes is over the limit of ${this.maxMessageBytes} bytes`, 413);
    }
    const now = this.scheduler.now();
    const receivedAt = timeOf(input.time, now);
    let waitMs = this.maxAgeMs;
    if (input.expires !== undefined) {
      if (typeof input.expires !== 'number' || !Number.isFinite(input.expires) || input.expires <= 0) {
        throw invalid(`expires ${describe(input.expires)} is not a positive number of seconds`);
      }
      waitMs = Math.min(waitMs, input.expires * 1000);
    }
    let id: string;
    if (input.id !== undefined) {
      if (typeof input.id !== 'string' || !ID_PATTERN.test(input.id)) throw invalid(`id ${describe(input.id)} is not 1-128 letters, digits, '.', '_' or '-'`);
      id = input.id;
    } else {
      id = `${now.toString(36)}-${randomHex(10)}`;
    }
    const message: DeferredMessage = {
      id,
      recipient,
      sender: input.sender.trim(),
      contentType: input.contentType.trim(),
      encoding,
      body,
      size,
      receivedAt,
      expiresAt: now + waitMs,
      seq: 0,
    };
    if (typeof input.senderName === 'string' && input.senderName !== '') message.senderName = input.senderName;
    if (typeof input.subject === 'string' && input.subject !== '') message.subject = input.subject;
    return message;
  }

  private admit(m: DeferredMessage): void {
    const forUser = (this.byAor.get(m.recipient)?.size ?? 0) + (this.reservedPerUser.get(m.recipient) ?? 0);
    if (forUser >= this.maxPerUser) {
      throw new DeferredStoreError('user-full', `${m.recipient} has ${forUser} messages waiting, the most one user may have`, 480);
    }
    if (this.byId.size + this.reserved >= this.maxTotal) {
      throw new DeferredStoreError('store-full', `the store holds ${this.maxTotal} messages, its limit`, 503);
    }
    if (this.totalBytes + this.reservedBytes + m.size > this.maxTotalBytes) {
      throw new DeferredStoreError('store-full', `the store holds ${this.totalBytes} bytes of messages; this one would pass its limit of ${this.maxTotalBytes}`, 503);
    }
    m.seq = this.nextSeq++;
    this.reserved++;
    this.reservedBytes += m.size;
    this.reservedPerUser.set(m.recipient, (this.reservedPerUser.get(m.recipient) ?? 0) + 1);
  }

  private release(m: DeferredMessage): void {
    this.reserved--;
    this.reservedBytes -= m.size;
    const n = (this.reservedPerUser.get(m.recipient) ?? 1) - 1;
    if (n > 0) this.reservedPerUser.set(m.recipient, n);
    else this.reservedPerUser.delete(m.recipient);
  }

  private async write(m: DeferredMessage): Promise<DeferredMessage> {
    try {
      await this.store.put(m.id, m);
    } catch (err) {
      throw new DeferredStoreError('store-failed', `cannot store the message for ${m.recipient}: ${errorOf(err).message}`, 500);
    }
    this.insert(m);
    this.emitSafely('arrived', m);
    this.emitSafely('change', { aor: m.recipient, kind: 'added', message: m } satisfies DeferredChange);
    return m;
  }

  private insert(m: DeferredMessage): void {
    Object.freeze(m);
    this.byId.set(m.id, m);
    this.totalBytes += m.size;
    let list = this.byAor.get(m.recipient);
    if (!list) this.byAor.set(m.recipient, (list = new Map()));
    const last = this.lastSeq.get(m.recipient) ?? 0;
    list.set(m.id, m);
    // Writes may finish out of order (rarely): then the user's map is rebuilt in arrival order.
    if (last > m.seq) {
      const ordered = [...list.values()].sort((a, b) => a.seq - b.seq);
      list.clear();
      for (const x of ordered) list.set(x.id, x);
    } else this.lastSeq.set(m.recipient, m.seq);
  }

  private remove(id: string, kind: 'delivered' | 'removed' | 'expired'): Promise<boolean> {
    const running = this.deleting.get(id);
    if (running) return running;
    const m = this.byId.get(id);
    if (!m) return Promise.resolve(false);
    const work = this.store
      .delete(id)
      .then(
        () => {
          this.deleted(m, kind);
          return true;
        },
        (err: unknown) => {
          throw new Error(`cannot delete deferred message ${id} of ${m.recipient} (it stays stored): ${errorOf(err).message}`);
        },
      )
      .finally(() => this.deleting.delete(id));
    this.deleting.set(id, work);
    return work;
  }

  private deleted(m: DeferredMessage, kind: DeferredChange['kind']): void {
    this.unlink(m);
    this.emitSafely('change', { aor: m.recipient, kind, message: m } satisfies DeferredChange);
  }

  private unlink(m: DeferredMessage): void {
    if (!this.byId.delete(m.id)) return;
    this.totalBytes -= m.size;
    const list = this.byAor.get(m.recipient);
    if (!list) return;
    list.delete(m.id);
    if (list.size === 0) {
      this.byAor.delete(m.recipient);
      this.lastSeq.delete(m.recipient);
    }
  }

  private armSweep(): void {
    if (this.closed || this.sweepTimer !== undefined) return;
    this.sweepTimer = this.scheduler.set(() => {
      this.sweepTimer = undefined;
      this.armSweep();
      // Sweeps may overlap on a slow store: remove() shares a delete under way.
      this.purgeExpired().catch((err: unknown) => this.storeError(errorOf(err)));
    }, this.sweepMs);
  }

  // A listener's mistake must not turn a stored message into a failed add.
  private emitSafely(event: string, arg: unknown): void {
    try {
      this.emit(event, arg);
    } catch (err) {
      this.storeError(new Error(`a '${event}' listener failed: ${errorOf(err).message}`));
    }
  }

  private storeError(err: Error): void {
    if (this.listenerCount('store-error') > 0) this.emit('store-error', err);
  }
}

/** The content of a stored message as bytes. */
export function messageContent(m: DeferredMessage): Buffer {
  return m.encoding === 'base64' ? Buffer.from(m.body, 'base64') : Buffer.from(m.body, 'utf8');
}

/** Waits for all; rejects with the first failure once none is still under way. */
async function settleAll(work: Array<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function isDeferredMessage(v: unknown): v is DeferredMessage {
  const m = v as DeferredMessage;
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.id === 'string' &&
    typeof m.recipient === 'string' &&
    typeof m.sender === 'string' &&
    typeof m.contentType === 'string' &&
    (m.encoding === 'text' || m.encoding === 'base64') &&
    typeof m.body === 'string' &&
    typeof m.size === 'number' &&
    typeof m.receivedAt === 'number' &&
    typeof m.expiresAt === 'number' &&
    typeof m.seq === 'number'
  );
}

function timeOf(time: DeferredMessageInput['time'], now: number): number {
  if (time === undefined) return now;
  let ms: number;
  if (time instanceof Date) ms = time.getTime();
  else if (typeof time === 'number') ms = time;
  else if (typeof time === 'string' && RFC3339.test(time.trim())) ms = Date.parse(time.trim());
  else throw invalid(`time ${describe(time)} is not a Date, ms since the epoch or an RFC 3339 time`);
  if (!Number.isFinite(ms)) throw invalid(`time ${describe(time)} is not a valid time`);
  return ms;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, not ${value}`);
  return value;
}

function invalid(why: string): DeferredStoreError {
  return new DeferredStoreError('invalid', `deferred message: ${why}`, 400);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : String(value);
}

function errorOf(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
