// Loopback endpoints for tests, everything a test opened closed after it
// (last first), and the notifier's side of a subscription played by a test.
import { inDialogRequest, type Dialog } from '../../lib/sip/dialog';
import { SipEndpoint } from '../../lib/sip/endpoint';

export function useClosers() {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });
  return {
    closers,
    /** A started endpoint on a free loopback port, closed after the test. */
    async endpoint(transport: 'udp' | 'tcp' = 'udp'): Promise<SipEndpoint> {
      const e = new SipEndpoint({ transport, address: '127.0.0.1', port: 0 });
      await e.start();
      closers.push(() => e.close());
      return e;
    },
  };
}

/** A NOTIFY in a dialog the test plays the notifier of; resolves with the subscriber's answer. */
export async function sendNotify(ep: SipEndpoint, d: Dialog, n: { event: string; state: string; body?: string; type: string }): Promise<number> {
  const req = inDialogRequest(d, 'NOTIFY');
  req.headers.event = n.event;
  req.headers['subscription-state'] = n.state;
  req.headers.contact = [{ uri: ep.contactUri(), params: {} }];
  if (n.body) {
    req.headers['content-type'] = n.type;
    req.content = n.body;
  }
  return (await ep.request(req)).response.status;
}
