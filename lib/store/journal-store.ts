// A key-value store as an append-only journal with group commit: each put or
// delete is one checksummed record (see journal-format.ts); the records that
// arrive while a flush is on the disk wait, and then all of them go out in one
// write and one fdatasync. Every put and delete resolves only after the sync
// that covers it, so a crash after a resolve loses nothing, and many writers
// share one sync instead of paying two each (the FileStore's temp file and
// directory flushes).
//
// The journal is folded into a snapshot now and then (compaction), so that it
// neither grows without end nor makes load slow. Files come in numbered
// generations: snapshot-N.json (the whole map, written to a temporary file,
// synced and renamed into place) and journal-N.log (the changes since). Load
// takes the highest N that has a snapshot (0 when none has), which is always a
// complete pair: journal-N+1 is written and synced before snapshot-N+1 is
// renamed into place, so before that rename generation N is whole, and after
// it generation N+1 is. The leftovers of the other generation are removed.
//
// Memory: the store keeps the live map, each value as its JSON text, because
// a snapshot must be written from it without reading the journal back. Expect
// about the size of the keys and values as JSON (twice that for values
// outside Latin-1, which JavaScript holds in UTF-16).
//
// One store per directory: two instances on one directory (in this process or
// another) would write over each other's journal.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { removeFile, syncDirectory, writeFileSynced, writeFully } from './durable-fs';
import {
  TEMP_SUFFIX,
  decodeBody,
  deleteBody,
  encodeRecord,
  endBody,
  fileName,
  headerBody,
  headerProblem,
  parseFileName,
  putBody,
  readFrames,
  type Entry,
  type FileKind,
} from './journal-format';
import type { KeyValueStore } from './store';

export interface JournalStoreOptions {
  /** Told about each damaged record or file that load() skips, and each compaction that fails. */
  onWarning?: (msg: string) => void;
  /**
   * Journal records after which the journal is folded into a new snapshot.
   * Default: 10,000 or four times the live entries, whichever is more.
   */
  compactAfter?: number;
}

export interface JournalStats {
  /** Writes to the journal, each followed by one fdatasync. */
  flushes: number;
  /** Put and delete records made durable. */
  records: number;
  compactions: number;
  generation: number;
  journalRecords: number;
  journalBytes: number;
  liveEntries: number;
}

const DEFAULT_COMPACT_AFTER = 10_000;
// A journal of a few large values can be big long before it holds many records.
const COMPACT_BYTES_FLOOR = 64 * 1024 * 1024;
const SNAPSHOT_CHUNK = 1024 * 1024;

interface Pending {
  /** The records, one line each. */
  line: Buffer;
  /** One key for a put; one or more for deletes, all in `line`, applied together. */
  keys: readonly string[];
  /** undefined: deletes. */
  valueJson: string | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Compaction {
  generation: number;
  temp: string;
  /** What was flushed to the old journal after the snapshot's moment. */
  tail: Buffer[];
  tailRecords: number;
  ready: boolean;
}

export class JournalStore<T> implements KeyValueStore<T> {
  onWarning?: (msg: string) => void;
  private readonly dir: string;
  private readonly compactAfter: number | undefined;
  // key -> value as JSON, exactly as far as the journal on disk goes.
  private readonly live = new Map<string, string>();
  private liveBytes = 0;
  private opened?: Promise<void>;
  private recovered = false;
  private handle?: fsp.FileHandle;
  private generation = 0;
  // Bytes and records of the journal known to be on disk.
  private journalBytes = 0;
  private journalRecords = 0;
  private queue: Pending[] = [];
  private draining?: Promise<void>;
  private compaction?: Compaction;
  private snapshotWrite?: Promise<void>;
  // After a failed compaction, wait for this many journal records.
  private compactionRetryAt = 0;
  private closed = false;
  private failure?: Error;
  private readonly counters = { flushes: 0, records: 0, compactions: 0 };

  constructor(dir: string, options: JournalStoreOptions = {}) {
    this.dir = path.resolve(dir);
    this.onWarning = options.onWarning;
    if (options.compactAfter !== undefined && !(Number.isSafeInteger(options.compactAfter) && options.compactAfter > 0)) {
      throw new RangeError(`compactAfter must be a positive integer, not ${options.compactAfter}`);
    }
    this.compactAfter = options.compactAfter;
  }

  get directory(): string {
    return this.dir;
  }

  get stats(): JournalStats {
    return {
      ...this.counters,
      generation: this.generation,
      journalRecords: this.journalRecords,
      journalBytes: this.journalBytes,
      liveEntries: this.live.size,
    };
  }

  /** Recovers the directory on the first call; every call gives the entries on disk now. */
  async load(): Promise<Map<string, T>> {
    await this.open();
    const out = new Map<string, T>();
    for (const [key, json] of this.live) {
      try {
        out.set(key, JSON.parse(json) as T);
      } catch (err) {
        this.warn(`skipping the value of ${JSON.stringify(key)}: ${(err as Error).message}`);
      }
    }
    return out;
  }

  put(key: string, value: T): Promise<void> {
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (err) {
      return Promise.reject(new TypeError(`cannot store ${JSON.stringify(key)}: ${(err as Error).message}`));
    }
    if (json === undefined) return Promise.reject(new TypeError(`cannot store ${JSON.stringify(key)}: the value has no JSON form`));
    return this.append([key], json);
  }

  delete(key: string): Promise<void> {
    return this.append([key], undefined);
  }

  /** One record per key, all in one flush and one sync. A crash during it keeps the whole records (those keys go) and drops a torn one (that key stays). */
  deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return Promise.resolve();
    return this.append(keys, undefined);
  }

  /** Waits for every queued write (and a compaction under way); later puts and deletes are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await this.opened?.catch(() => undefined);
    while (this.draining || this.snapshotWrite) {
      await this.draining;
      await this.snapshotWrite;
    }
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  private append(keys: readonly string[], valueJson: string | undefined): Promise<void> {
    if (this.closed) return Promise.reject(new Error('journal store is closed'));
    if (this.failure) return Promise.reject(this.failure);
    const line =
      valueJson !== undefined
        ? encodeRecord(putBody(keys[0]!, valueJson))
        : keys.length === 1
          ? encodeRecord(deleteBody(keys[0]!))
          : Buffer.concat(keys.map((key) => encodeRecord(deleteBody(key))));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, keys, valueJson, resolve, reject });
      this.startDraining();
    });
  }

  private startDraining(): void {
    if (this.draining) return;
    // A microtask later, so that the puts made in the same turn share the first flush.
    this.draining = Promise.resolve()
      .then(() => this.drain())
      .catch((err: Error) => this.rejectQueued(err));
  }

  private async drain(): Promise<void> {
    try {
      // Once open, the first batch is taken in this very microtask: no await before it.
      if (!this.recovered) await this.open();
      for (;;) {
        if (this.failure) {
          this.rejectQueued(this.failure);
          break;
        }
        if (this.compaction?.ready) await this.finishCompaction(this.compaction);
        else if (this.queue.length) {
          const batch = this.queue;
          this.queue = [];
          await this.flush(batch);
        } else break;
      }
    } finally {
      // Synchronous with the last look at the queue: a put after this starts a new drain.
      this.draining = undefined;
    }
  }

  private rejectQueued(err: Error): void {
    const batch = this.queue;
    this.queue = [];
    for (const p of batch) p.reject(err);
  }

  private async flush(batch: Pending[]): Promise<void> {
    const bytes = batch.length === 1 ? batch[0]!.line : Buffer.concat(batch.map((p) => p.line));
    const handle = this.handle!;
    try {
      await writeFully(handle, bytes, this.journalBytes);
      await handle.datasync();
    } catch (err) {
      const error = new Error(`journal store: cannot write ${this.journalPath()}: ${(err as Error).message}`);
      await this.undoPartialWrite(handle, error);
      for (const p of batch) p.reject(error);
      return;
    }
    let records = 0;
    for (const p of batch) records += p.keys.length;
    this.journalBytes += bytes.length;
    this.journalRecords += records;
    this.counters.flushes++;
    this.counters.records += records;
    if (this.compaction) {
      this.compaction.tail.push(bytes);
      this.compaction.tailRecords += records;
    }
    for (const p of batch) for (const key of p.keys) this.apply(key, p.valueJson);
    for (const p of batch) p.resolve();
    this.maybeStartCompaction();
  }

  // Whatever part of a failed batch reached the file must go before the next
  // append, or a later load would replay records whose callers were told they
  // failed. If even that fails, the journal cannot be trusted to take more.
  private async undoPartialWrite(handle: fsp.FileHandle, cause: Error): Promise<void> {
    try {
      await handle.truncate(this.journalBytes);
      await handle.datasync();
    } catch (err) {
      this.failure = new Error(`${cause.message}; the store takes no more writes (cannot cut the journal back: ${(err as Error).message})`);
    }
  }

  private apply(key: string, valueJson: string | undefined): void {
    const old = this.live.get(key);
    if (old !== undefined) this.liveBytes -= key.length + old.length;
    if (valueJson === undefined) this.live.delete(key);
    else {
      this.live.set(key, valueJson);
      this.liveBytes += key.length + valueJson.length;
    }
  }

  private compactionDue(): boolean {
    if (this.journalRecords < this.compactionRetryAt) return false;
    const limit = this.compactAfter ?? Math.max(DEFAULT_COMPACT_AFTER, 4 * this.live.size);
    return this.journalRecords > limit || this.journalBytes > Math.max(COMPACT_BYTES_FLOOR, 4 * this.liveBytes);
  }

  // Called between flushes, so the live map is exactly the journal so far: the
  // snapshot is taken of it now, and what is flushed while it is written goes
  // into the tail that starts the next journal.
  private maybeStartCompaction(): void {
    if (this.compaction || this.closed || this.failure || !this.compactionDue()) return;
    const generation = this.generation + 1;
    const compaction: Compaction = {
      generation,
      temp: path.join(this.dir, fileName('snapshot', generation) + TEMP_SUFFIX),
      tail: [],
      tailRecords: 0,
      ready: false,
    };
    this.compaction = compaction;
    const entries = [...this.live];
    this.snapshotWrite = writeFileSynced(compaction.temp, snapshotChunks(generation, entries), 'w')
      .then(
        () => {
          compaction.ready = true;
          this.startDraining();
        },
        (err: Error) => this.abandonCompaction(compaction, err),
      )
      .finally(() => {
        this.snapshotWrite = undefined;
      });
  }

  private async finishCompaction(c: Compaction): Promise<void> {
    const journal = path.join(this.dir, fileName('journal', c.generation));
    let fresh: { handle: fsp.FileHandle; bytes: number };
    try {
      fresh = await createJournal(journal, c.generation, c.tail);
    } catch (err) {
      await removeFile(journal);
      await this.abandonCompaction(c, err as Error);
      return;
    }
    try {
      await fsp.rename(c.temp, path.join(this.dir, fileName('snapshot', c.generation)));
    } catch (err) {
      await fresh.handle.close().catch(() => undefined);
      await removeFile(journal);
      await this.abandonCompaction(c, err as Error);
      return;
    }
    // From the rename on, a load would pick the new generation: every append
    // from now must go to its journal.
    await syncDirectory(this.dir);
    const old = { handle: this.handle!, generation: this.generation };
    this.handle = fresh.handle;
    this.generation = c.generation;
    this.journalBytes = fresh.bytes;
    this.journalRecords = c.tailRecords;
    this.compaction = undefined;
    this.counters.compactions++;
    await old.handle.close().catch(() => undefined);
    for (const kind of ['journal', 'snapshot'] as const) await this.removeStale(kind, old.generation);
  }

  private async abandonCompaction(c: Compaction, err: Error): Promise<void> {
    if (this.compaction === c) this.compaction = undefined;
    this.compactionRetryAt = this.journalRecords + (this.compactAfter ?? DEFAULT_COMPACT_AFTER);
    await removeFile(c.temp);
    this.warn(`compaction into generation ${c.generation} failed (the journal goes on and it is tried again later): ${err.message}`);
  }

  private open(): Promise<void> {
    return (this.opened ??= this.recover());
  }

  private async recover(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    const files = (await fsp.readdir(this.dir)).flatMap((name) => {
      const parsed = parseFileName(name);
      return parsed ? [{ name, ...parsed }] : [];
    });
    const snapshots = files.filter((f) => f.kind === 'snapshot' && !f.temp).map((f) => f.generation);
    this.generation = snapshots.reduce((a, b) => Math.max(a, b), 0);
    if (snapshots.includes(this.generation)) await this.readSnapshot();
    await this.replayJournal(files.some((f) => f.kind === 'journal' && !f.temp && f.generation === this.generation));
    // Temporary snapshots, journals of a compaction that did not finish, and
    // generations that a finished one replaced.
    for (const f of files) {
      if (f.temp || f.generation !== this.generation) await this.removeStale(f.kind, f.generation, f.temp);
    }
    this.recovered = true;
  }

  private async readSnapshot(): Promise<void> {
    const name = fileName('snapshot', this.generation);
    const data = await fsp.readFile(path.join(this.dir, name));
    let puts = 0;
    let end: number | undefined;
    // Each snapshot line is a whole entry on its own, so one damaged line
    // costs that entry alone; the rest are as good as ever.
    for (const frame of readFrames(data)) {
      const entry = this.decodeFrame(frame, name, frame.start === 0 ? 'snapshot' : undefined);
      if (typeof entry === 'string') {
        this.warn(`${name}: skipping a damaged record at byte ${frame.start}: ${entry}`);
      } else if (entry.kind === 'put') {
        this.apply(entry.key, entry.valueJson);
        puts++;
      } else if (entry.kind === 'end') end = entry.count;
    }
    if (end !== puts) this.warn(`${name}: ${puts} entries read, the snapshot says ${end ?? 'nothing (no end mark)'}: some entries are lost`);
  }

  private async replayJournal(exists: boolean): Promise<void> {
    const name = fileName('journal', this.generation);
    const file = path.join(this.dir, name);
    if (!exists) {
      if (this.generation > 0) this.warn(`${name} is missing: starting it empty after the snapshot`);
      const created = await createJournal(file, this.generation, []);
      this.handle = created.handle;
      this.journalBytes = created.bytes;
      return;
    }
    const data = await fsp.readFile(file);
    let good = 0;
    let stop: { at: number; why: string } | undefined;
    let wholeAfter = 0;
    for (const frame of readFrames(data)) {
      if (stop) {
        if (frame.body !== undefined) wholeAfter++;
        continue;
      }
      const entry = this.decodeFrame(frame, name, frame.start === 0 ? 'journal' : undefined);
      if (typeof entry === 'string' || entry.kind === 'end') {
        stop = { at: frame.start, why: typeof entry === 'string' ? entry : 'an end mark in a journal' };
        continue;
      }
      if (entry.kind !== 'header') {
        this.apply(entry.key, entry.kind === 'put' ? entry.valueJson : undefined);
        this.journalRecords++;
      }
      good = frame.end;
    }
    if (stop) await this.reportStop(name, data, stop, wholeAfter, good);
    this.handle = await fsp.open(file, 'r+');
    this.journalBytes = good;
    if (data.length > good) {
      await this.handle.truncate(good);
      await this.handle.datasync();
    }
    if (good === 0) {
      const header = encodeRecord(headerBody('journal', this.generation));
      await writeFully(this.handle, header, 0);
      await this.handle.datasync();
      this.journalBytes = header.length;
    }
  }

  // Replay stops at the first record that is not whole. When nothing whole
  // follows, it is the torn end of an append that a crash cut short: that
  // append was never synced, so no caller was told it succeeded, and it goes.
  // When whole records follow, something damaged the file in the middle. Going
  // on would apply later changes without the lost one (a put whose delete is
  // gone, a value that was replaced) and build a map that never existed;
  // stopping gives the map exactly as it was at one moment, the last one we
  // can prove. (A torn batch can also look like this: pages of one write may
  // reach the disk out of order.) The rest is kept beside the journal for a
  // person to look at, and cut from it, so that new appends are read again.
  private async reportStop(name: string, data: Buffer, stop: { at: number; why: string }, wholeAfter: number, good: number): Promise<void> {
    if (wholeAfter === 0) {
      this.warn(`${name}: ignoring a torn last record at byte ${stop.at} (${stop.why}), left by a crash during an append that was never acknowledged; the journal is cut back to ${good} bytes`);
      return;
    }
    const aside = `${name}.damaged-${Date.now()}`;
    let kept = `kept in ${aside}`;
    try {
      await writeFileSynced(path.join(this.dir, aside), [data.subarray(stop.at)]);
    } catch (err) {
      kept = `could not be kept aside: ${(err as Error).message}`;
    }
    this.warn(
      `${name}: damaged record at byte ${stop.at} (${stop.why}) with ${wholeAfter} whole records after it; replay stops there, ` +
        `because applying later changes without the damaged one could build a state that never existed; the rest of the journal is ${kept}`,
    );
  }

  /** A checked entry, or why the frame is not one. */
  private decodeFrame(frame: { body?: string; error?: string }, name: string, headerOf: FileKind | undefined): Entry | string {
    if (frame.body === undefined) return frame.error ?? 'not a record';
    let entry: Entry;
    try {
      entry = decodeBody(frame.body);
    } catch (err) {
      return (err as Error).message;
    }
    if (headerOf) return headerProblem(entry, headerOf, this.generation) ?? entry;
    if (entry.kind === 'header') return `a second header in ${name}`;
    return entry;
  }

  private async removeStale(kind: FileKind, generation: number, temp = false): Promise<void> {
    const name = fileName(kind, generation) + (temp ? TEMP_SUFFIX : '');
    const err = await removeFile(path.join(this.dir, name));
    if (err) this.warn(`cannot remove ${name}, which is no longer needed: ${err.message}`);
  }

  private journalPath(): string {
    return path.join(this.dir, fileName('journal', this.generation));
  }

  private warn(msg: string): void {
    try {
      this.onWarning?.(msg);
    } catch {
      // a failing warning sink must not fail the store
    }
  }
}

/** A new journal (replacing any orphan of that name), synced with its directory entry, open for appends. */
async function createJournal(file: string, generation: number, tail: Buffer[]): Promise<{ handle: fsp.FileHandle; bytes: number }> {
  const content = Buffer.concat([encodeRecord(headerBody('journal', generation)), ...tail]);
  const handle = await fsp.open(file, 'w', 0o600);
  try {
    await writeFully(handle, content, 0);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  await syncDirectory(path.dirname(file));
  return { handle, bytes: content.length };
}

/** The snapshot file in chunks of about a megabyte, encoded as they are written. */
function* snapshotChunks(generation: number, entries: Array<[string, string]>): Generator<Buffer> {
  let lines: Buffer[] = [encodeRecord(headerBody('snapshot', generation))];
  let size = lines[0]!.length;
  for (const [key, json] of entries) {
    const line = encodeRecord(putBody(key, json));
    lines.push(line);
    size += line.length;
    if (size >= SNAPSHOT_CHUNK) {
      yield Buffer.concat(lines);
      lines = [];
      size = 0;
    }
  }
  lines.push(encodeRecord(endBody(entries.length)));
  yield Buffer.concat(lines);
}
