// One total for the bytes an endpoint holds on behalf of senders: TCP
// messages still arriving and requests received but not yet answered. Above
// it the endpoint sheds load instead of growing towards the heap limit, so no
// sender can take the process (all of Node-RED) down by sending faster than
// it is answered or by declaring bodies it never sends.
export class InputBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get bytes(): number {
    return this.used;
  }

  /** Takes `n` bytes if they fit; false when the budget is spent (shed the load). */
  take(n: number): boolean {
    if (n > 0 && this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  /** Takes `n` bytes and returns the one call that gives them back, or undefined when they do not fit. */
  hold(n: number): (() => void) | undefined {
    if (!this.take(n)) return undefined;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.give(n);
    };
  }
}
