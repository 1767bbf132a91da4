// The last messages an endpoint sent and received, for the editor's ladder
// and for the trace node's history. Bounded by count and by bytes, so a
// load test of 10,000 registrations cannot make the runtime grow without end.
import { entryBytes, type TraceEntry } from './trace-entry';

export interface TraceBufferOptions {
  /** Most entries kept; 0 keeps none. */
  maxEntries: number;
  /** Most bytes kept (estimated); the oldest entries go first. */
  maxBytes?: number;
}

export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

export class TraceBuffer {
  readonly maxEntries: number;
  readonly maxBytes: number;
  // A ring: entries[(start + i) % capacity] is the i-th oldest.
  private readonly ring: (TraceEntry | undefined)[];
  private readonly sizes: number[];
  private start = 0;
  private count = 0;
  private bytesHeld = 0;

  constructor(opts: TraceBufferOptions) {
    this.maxEntries = Math.max(0, Math.floor(opts.maxEntries));
    this.maxBytes = Math.max(0, opts.maxBytes ?? DEFAULT_MAX_BYTES);
    this.ring = new Array<TraceEntry | undefined>(this.maxEntries);
    this.sizes = new Array<number>(this.maxEntries).fill(0);
  }

  get enabled(): boolean {
    return this.maxEntries > 0;
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  /** Keeps `e`, dropping the oldest entries to stay within bounds; an entry larger than the byte bound is not kept. */
  push(e: TraceEntry): void {
    if (!this.enabled) return;
    const b = entryBytes(e);
    if (b > this.maxBytes) return;
    if (this.count === this.maxEntries) this.dropOldest();
    while (this.count > 0 && this.bytesHeld + b > this.maxBytes) this.dropOldest();
    const i = (this.start + this.count) % this.maxEntries;
    this.ring[i] = e;
    this.sizes[i] = b;
    this.count++;
    this.bytesHeld += b;
  }

  private dropOldest(): void {
    this.ring[this.start] = undefined;
    this.bytesHeld -= this.sizes[this.start]!;
    this.sizes[this.start] = 0;
    this.start = (this.start + 1) % this.maxEntries;
    this.count--;
  }

  /** Oldest first; only entries with an id above `afterId` when given. */
  list(afterId = 0): TraceEntry[] {
    const out: TraceEntry[] = [];
    for (let k = 0; k < this.count; k++) {
      const e = this.ring[(this.start + k) % this.maxEntries]!;
      if (e.id > afterId) out.push(e);
    }
    return out;
  }

  clear(): void {
    this.ring.fill(undefined);
    this.sizes.fill(0);
    this.start = 0;
    this.count = 0;
    this.bytesHeld = 0;
  }
}
