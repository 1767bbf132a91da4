// Time as a dependency: procedures schedule refreshes hours ahead, and tests
// drive them with a fake clock instead of waiting.
export interface Scheduler {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realScheduler: Scheduler = {
  now: () => Date.now(),
  set: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};
