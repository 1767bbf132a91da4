// Failed logins, reported once per user and interval: a client retrying with a
// wrong password, or a stranger guessing, must not write one log line per
// request. The table is bounded: a guesser who invents a new name every time
// pushes out the oldest entries, never memory.

export interface LoginFailure {
  user: string;
  reason: string;
  /** Failures of this user since the last report, this one included. */
  count: number;
}

export interface LoginFailureLogOptions {
  now: () => number;
  /** Default 60 s. */
  intervalMs?: number;
  /** Users remembered at once; default 1000. */
  maxUsers?: number;
}

export class LoginFailureLog {
  private readonly recent = new Map<string, { reportedAt: number; since: number }>();
  private readonly interval: number;
  private readonly max: number;

  constructor(private readonly o: LoginFailureLogOptions) {
    this.interval = o.intervalMs ?? 60_000;
    this.max = Math.max(1, o.maxUsers ?? 1000);
  }

  /** Records a failure; returns what to report now, or undefined while the user's interval runs. */
  record(user: string, reason: string): LoginFailure | undefined {
    const now = this.o.now();
    const entry = this.recent.get(user);
    if (entry && now - entry.reportedAt < this.interval) {
      entry.since++;
      return undefined;
    }
    const count = (entry?.since ?? 0) + 1;
    // Re-inserted so that the map's order is the order of reports: the first entry is the oldest.
    this.recent.delete(user);
    this.recent.set(user, { reportedAt: now, since: 0 });
    while (this.recent.size > this.max) this.recent.delete(this.recent.keys().next().value as string);
    return { user, reason, count };
  }
}
