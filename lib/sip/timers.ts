// RFC 3261 17.1.1.1 timer values. Tests shorten T1 to see timeouts quickly;
// every other timer is derived from these as the RFC defines.
export interface TimerValues {
  t1: number;
  t2: number;
  t4: number;
}

export const DEFAULT_TIMERS: TimerValues = { t1: 500, t2: 4000, t4: 5000 };

/** Timer B / F / H / J: 64*T1. */
export function transactionTimeout(t: TimerValues): number {
  return 64 * t.t1;
}
