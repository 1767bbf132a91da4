// One MSRP listener shared by every passive session of a service, bound on
// first use (a service that is always active never opens a port) and closed
// with the service.
import { MsrpListener, type MsrpListenerOptions } from './listener';

export class LazyMsrpListener {
  private listener?: MsrpListener;
  private listening?: Promise<MsrpListener>;

  /** `opts` is read at the first bind (an endpoint's address is known only once it started). */
  constructor(private readonly opts: () => MsrpListenerOptions) {}

  /** The listener, listening; a failed bind is tried again on the next call. */
  get(): Promise<MsrpListener> {
    if (!this.listening) {
      const l = new MsrpListener(this.opts());
      const p = l.listen().then(() => (this.listener = l));
      p.catch(() => {
        if (this.listening === p) this.listening = undefined;
      });
      this.listening = p;
    }
    return this.listening;
  }

  /** The listener when bound, for unregistering a session. */
  get current(): MsrpListener | undefined {
    return this.listener;
  }

  async close(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    this.listening = undefined;
    if (l) await l.close();
  }
}
