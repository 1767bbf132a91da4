// A core and settings server in one, small enough to read in a test: REGISTER
// 200 with a Service-Route, PUBLISH poc-settings per RFC 3903 (entity tags,
// 412, Expires 0), SUBSCRIBE poc-settings with an immediate NOTIFY and one on
// every change. It stands in for the lab core and the settings server node
// in client node tests; it checks nothing it does not need to.
import { readSettings } from '../../lib/settings/settings-reader';
import type { SettingsEntity } from '../../lib/settings/settings-types';
import { writeSettings } from '../../lib/settings/settings-writer';
import { dialogAsUas, type Dialog } from '../../lib/sip/dialog';
import { SipEndpoint, type IncomingRequest } from '../../lib/sip/endpoint';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { sendNotify } from './loopback';

interface Publication {
  etag: string;
  entities: SettingsEntity[];
}

export class MiniSettingsCore {
  readonly endpoint: SipEndpoint;
  /** Every PUBLISH and SUBSCRIBE that arrived, in order. */
  readonly requests: SipRequest[] = [];
  private readonly publications = new Map<string, Publication>();
  private readonly watchers: Dialog[] = [];
  private n = 0;

  constructor(port: number) {
    this.endpoint = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port });
  }

  get port(): number {
    return this.endpoint.port;
  }

  publishes(): SipRequest[] {
    return this.requests.filter((r) => r.method === 'PUBLISH');
  }

  get held(): number {
    return this.publications.size;
  }

  async start(): Promise<void> {
    await this.endpoint.start();
    this.endpoint.addHandler((req) => this.onRequest(req));
  }

  close(): Promise<void> {
    return this.endpoint.close();
  }

  private onRequest(req: IncomingRequest): boolean {
    const m = req.message;
    switch (m.method) {
      case 'REGISTER': {
        const contacts = Array.isArray(m.headers.contact) ? m.headers.contact : [];
        const expires = headerText(m, 'expires') ?? '3600';
        req.respond(200, {
          headers: {
            contact: contacts.map((c) => ({ uri: c.uri, params: { ...c.params, expires } })),
            'service-route': `<sip:orig@127.0.0.1:${this.port};lr>`,
          },
        });
        return true;
      }
      case 'PUBLISH':
        this.requests.push(m);
        this.onPublish(req);
        return true;
      case 'SUBSCRIBE':
        this.requests.push(m);
        this.onSubscribe(req);
        return true;
      default:
        return false;
    }
  }

  private onPublish(req: IncomingRequest): void {
    const m = req.message;
    const ifMatch = headerText(m, 'sip-if-match');
    const expires = Number(headerText(m, 'expires') ?? '3600');
    const old = ifMatch !== undefined ? this.publications.get(ifMatch) : undefined;
    if (ifMatch !== undefined && !old) return req.respond(412);
    let entities = old?.entities ?? [];
    if (m.content) {
      const read = readSettings(m.content);
      if (!read.ok) return req.respond(400, { reason: `Bad Request (${read.error})` });
      entities = read.document.entities;
    } else if (!old) return req.respond(400, { reason: 'Bad Request (initial PUBLISH without a body)' });
    if (ifMatch !== undefined) this.publications.delete(ifMatch);
    if (expires === 0) {
      req.respond(200, { headers: { 'sip-etag': ifMatch ?? 'none', expires: '0' } });
    } else {
      const etag = `e${++this.n}`;
      this.publications.set(etag, { etag, entities });
      req.respond(200, { headers: { 'sip-etag': etag, expires: String(expires) } });
    }
    if (m.content || expires === 0) for (const d of this.watchers) void this.notify(d);
  }

  private onSubscribe(req: IncomingRequest): void {
    const expires = headerText(req.message, 'expires') ?? '3600';
    // RFC 3261 12.1.1: the Record-Route of a core goes back in the 2xx, so the dialog runs through the core.
    const recordRoute = req.message.headers['record-route'];
    req.respond(200, { headers: { expires, contact: [{ uri: this.endpoint.contactUri(), params: {} }], ...(recordRoute ? { 'record-route': recordRoute } : {}) } });
    const d = dialogAsUas(req.message, req.toTag)!;
    this.watchers.push(d);
    this.endpoint.dialogs.register(d.callId, d.localTag, (r) => {
      this.requests.push(r.message);
      const ex = headerText(r.message, 'expires') ?? '3600';
      r.respond(200, { headers: { expires: ex } });
      if (ex === '0') {
        this.watchers.splice(this.watchers.indexOf(d), 1);
        void this.notify(d, 'terminated;reason=timeout');
      } else void this.notify(d);
    });
    void this.notify(d);
  }

  /** A NOTIFY with this body to every watcher (a test's broken or hostile document); their answers. */
  notifyAll(body: string, type = 'application/poc-settings+xml'): Promise<number[]> {
    return Promise.all(this.watchers.map((d) => sendNotify(this.endpoint, d, { event: 'poc-settings', state: 'active;expires=3600', body, type })));
  }

  /** The whole document: the entities of every live publication (RFC 3903 composition). */
  private async notify(d: Dialog, state = 'active;expires=3600'): Promise<void> {
    const body = writeSettings({ entities: [...this.publications.values()].flatMap((p) => p.entities) });
    await sendNotify(this.endpoint, d, { event: 'poc-settings', state, body, type: 'application/poc-settings+xml' });
  }
}
