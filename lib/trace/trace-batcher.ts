// Live trace entries go to the editor in batches: at most one batch per
// interval and a bounded number of entries in it, so a load test of 10,000
// messages a second costs the browser a few redraws, not 10,000. What does
// not fit is counted; the ladder says so and the history still has it.
import type { Scheduler } from '../util/scheduler';

export interface TraceBatch<T> {
  entries: T[];
  /** Entries left out of this batch (older ones) because it was full. */
  dropped: number;
}

export interface TraceBatcherOptions {
  intervalMs?: number;
  maxBatch?: number;
}

export class TraceBatcher<T> {
  private pending: T[] = [];
  private dropped = 0;
  private timer: unknown;
  private readonly intervalMs: number;
  private readonly maxBatch: number;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly flushTo: (batch: TraceBatch<T>) => void,
    opts: TraceBatcherOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 100;
    this.maxBatch = Math.max(1, opts.maxBatch ?? 250);
  }

  add(entry: T): void {
    this.pending.push(entry);
    // Keep the newest: amortised trimming so a flood costs O(1) per entry.
    if (this.pending.length >= 2 * this.maxBatch) {
      const cut = this.pending.length - this.maxBatch;
      this.dropped += cut;
      this.pending = this.pending.slice(cut);
    }
    this.timer ??= this.scheduler.set(() => this.flush(), this.intervalMs);
  }

  /** Sends what is pending now. */
  flush(): void {
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const cut = Math.max(0, this.pending.length - this.maxBatch);
    const batch: TraceBatch<T> = { entries: this.pending.slice(cut), dropped: this.dropped + cut };
    this.pending = [];
    this.dropped = 0;
    this.flushTo(batch);
  }

  /** Forgets what is pending (shutdown). */
  cancel(): void {
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
    this.pending = [];
    this.dropped = 0;
  }
}
