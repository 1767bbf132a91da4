// Waiting for events of an emitter in unit tests, without sleeping.

/** Collects events of an emitter and waits for the next matching one. */
export class Events<T> {
  private readonly items: T[] = [];
  private waiter: { match: (t: T) => boolean; resolve: (t: T) => void } | undefined;
  push = (t: T): void => {
    if (this.waiter?.match(t)) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(t);
    } else this.items.push(t);
  };
  next(match: (t: T) => boolean = () => true, ms = 5000): Promise<T> {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for an event')), ms);
      this.waiter = { match, resolve: (v) => (clearTimeout(t), resolve(v)) };
    });
  }
}
