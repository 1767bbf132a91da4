// A settings server stand-in for proxy tests: answers PUBLISH 200 with an
// entity tag, SUBSCRIBE 200 (copying Record-Route, as a UAS must, RFC 3261
// 12.1.1), keeps the dialog and sends NOTIFYs inside it along its route set.
import { dialogAsUas, inDialogRequest, type Dialog } from '../../lib/sip/dialog';
import type { IncomingRequest, SipEndpoint } from '../../lib/sip/endpoint';
import type { SipRequest } from '../../lib/sip/message';

/** Items in arrival order; `next` waits for the first one that matches. */
export class Queue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ match: (t: T) => boolean; resolve: (t: T) => void }> = [];

  push = (t: T): void => {
    const i = this.waiters.findIndex((w) => w.match(t));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(t);
    else this.items.push(t);
  };

  get size(): number {
    return this.items.length;
  }

  next(match: (t: T) => boolean = () => true, ms = 15000): Promise<T> {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (v: T) => (clearTimeout(t), resolve(v)) };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error('timed out waiting'));
      }, ms);
      this.waiters.push(w);
    });
  }
}

export interface ServerDialog extends Dialog {
  /** The Contact the server gave: the Request-URI of the client's in-dialog requests. */
  localContact: string;
}

export interface SettingsServerFake {
  readonly etag: string;
  /** Every request the server received, as parsed. */
  readonly requests: Queue<SipRequest>;
  /** The dialog of the first SUBSCRIBE. */
  dialog(): Promise<ServerDialog>;
  /** Sends a NOTIFY in the dialog; resolves with the status of its final response. */
  notify(d: ServerDialog, body: string): Promise<number>;
}

export function settingsServer(ep: SipEndpoint): SettingsServerFake {
  const requests = new Queue<SipRequest>();
  const dialogs = new Queue<ServerDialog>();
  const etag = 'etag-' + ep.newTag();
  const contact = ep.contactUri('settings');
  const answerSubscribe = (req: IncomingRequest, extra: Record<string, unknown> = {}) =>
    req.respond(200, { headers: { contact: [{ uri: contact, params: {} }], expires: '600', ...extra } });

  ep.addHandler((req) => {
    const m = req.message;
    requests.push(m);
    if (m.method === 'PUBLISH') {
      req.respond(200, { headers: { 'sip-etag': etag, expires: '3600' } });
      return true;
    }
    if (m.method !== 'SUBSCRIBE' || m.headers.to.params.tag) return false;
    const d = dialogAsUas(m, req.toTag);
    if (!d) {
      req.respond(400);
      return true;
    }
    const dialog: ServerDialog = { ...d, localContact: contact };
    ep.dialogs.register(d.callId, d.localTag, (r) => {
      requests.push(r.message);
      if (r.message.method === 'SUBSCRIBE') answerSubscribe(r);
      else r.respond(405);
    });
    answerSubscribe(req, m.headers['record-route'] ? { 'record-route': m.headers['record-route'] } : {});
    dialogs.push(dialog);
    return true;
  });

  return {
    etag,
    requests,
    dialog: () => dialogs.next(),
    notify: async (d, body) => {
      const n = inDialogRequest(d, 'NOTIFY');
      n.headers.contact = [{ uri: contact, params: {} }];
      n.headers.event = 'poc-settings';
      n.headers['subscription-state'] = 'active;expires=600';
      n.headers['content-type'] = 'application/poc-settings+xml';
      n.content = body;
      return (await ep.request(n)).response.status;
    },
  };
}
