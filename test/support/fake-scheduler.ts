// A clock for tests: time moves only when the test says so.
import type { Scheduler } from '../../lib/util/scheduler';

interface Entry {
  at: number;
  fn: () => void;
  id: number;
}

export class FakeScheduler implements Scheduler {
  private t = 1_700_000_000_000;
  private entries: Entry[] = [];
  private seq = 0;

  now(): number {
    return this.t;
  }

  set(fn: () => void, ms: number): unknown {
    const e = { at: this.t + ms, fn, id: ++this.seq };
    this.entries.push(e);
    return e.id;
  }

  clear(handle: unknown): void {
    this.entries = this.entries.filter((e) => e.id !== handle);
  }

  /** The delay of the earliest pending timer, in ms from now. */
  nextDelay(): number | undefined {
    const first = [...this.entries].sort((a, b) => a.at - b.at)[0];
    return first ? first.at - this.t : undefined;
  }

  get pending(): number {
    return this.entries.length;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = this.entries.filter((e) => e.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.entries = this.entries.filter((e) => e !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = until;
  }
}
