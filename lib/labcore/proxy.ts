// The lab core as a stateful proxy (RFC 3261 16) for what it routes: the
// settings event packages to the settings server, in-dialog requests by their
// route set, and requests for a registered user to that user's contact. Like
// an IMS core it asserts the originator (RFC 3325): clients are authenticated
// by digest (407) and get the core's P-Asserted-Identity instead of their own;
// the configured server is trusted and its requests pass as they are.
//
// Not done: strict-routing upstream hops (RFC 3261 16.4, a Request-URI that
// is our Record-Route value), forking to several contacts, INVITE/CANCEL/ACK.
import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DigestServer } from '../auth/digest-server';
import type { IncomingRequest, SipEndpoint } from '../sip/endpoint';
import { newBranch } from '../sip/ids';
import { headerText, parseValueWithParams, type NameAddr, type SipRequest, type SipResponse } from '../sip/message';
import { parseUri, type SipUri } from '../sip/uri';
import type { Scheduler } from '../util/scheduler';
import type { Binding, LocationService } from './location';

export interface ProxyOptions {
  domain: string;
  /** Password of a user name, undefined for unknown users (the registrar's users). */
  lookup: (user: string) => string | undefined;
  location: LocationService;
  scheduler: Scheduler;
  /** Where SUBSCRIBE and PUBLISH of the settings events go; none: they are not proxied. */
  settingsServerUri?: string;
  /** Event packages routed to the settings server. Default `poc-settings`. */
  settingsEvents?: string[];
}

export interface ProxyReport {
  method: string;
  /** Request-URI as received. */
  uri: string;
  /** Authenticated user, or `trusted` for the server's requests. */
  originator?: string;
  /** Where it went (next hop URI); absent when the core answered itself. */
  target?: string;
  status: number;
  reason: string;
}

export const DEFAULT_SETTINGS_EVENTS = ['poc-settings'];

/** Methods this proxy leaves to the rest of the core (or to a later slice: INVITE needs CANCEL and ACK). */
const NOT_PROXIED = new Set(['REGISTER', 'INVITE', 'ACK', 'CANCEL']);
/** Requests that create a dialog when sent outside one: they get our Record-Route (RFC 3261 16.6 step 4). */
const DIALOG_CREATING = new Set(['SUBSCRIBE', 'REFER']);

type Route = { kind: 'settings' } | { kind: 'next-hop'; uri: string } | { kind: 'user'; aor: string; user: string } | { kind: 'foreign' };

export class LabProxy {
  readonly digest: DigestServer;
  private readonly settingsEvents: Set<string>;
  private server?: { uri: SipUri; address?: string };
  onReport?: (r: ProxyReport) => void;

  constructor(
    private readonly endpoint: SipEndpoint,
    private readonly o: ProxyOptions,
  ) {
    this.settingsEvents = new Set((o.settingsEvents ?? DEFAULT_SETTINGS_EVENTS).map((e) => e.toLowerCase()));
    // Same realm and users as the registrar, but a proxy challenges with 407 (RFC 3261 22.3).
    this.digest = new DigestServer({
      realm: o.domain,
      lookup: o.lookup,
      kind: 'proxy',
      algorithms: ['MD5', 'SHA-256'],
      qop: ['auth'],
      now: () => o.scheduler.now(),
    });
    const uri = o.settingsServerUri ? parseUri(o.settingsServerUri) : undefined;
    if (o.settingsServerUri && (!uri || uri.scheme === 'tel')) throw new Error(`settings server URI is not a SIP URI: ${o.settingsServerUri}`);
    if (uri) this.server = { uri, address: isIP(uri.host) ? uri.host : undefined };
  }

  /** Resolves the server's name once, so that its requests can be recognised by source address. */
  async start(): Promise<void> {
    const s = this.server;
    if (!s || s.address) return;
    const { address } = await dnsLookup(s.uri.host, { family: 4 }).catch(() => dnsLookup(s.uri.host));
    s.address = address;
  }

  /** An endpoint request handler: returns true when the proxy takes (and will answer) the request. */
  readonly handle = (req: IncomingRequest): boolean => {
    const m = req.message;
    if (NOT_PROXIED.has(m.method.toUpperCase())) return false;
    const routes = this.withoutOwnRoutes(m.headers.route);
    const route = this.routeOf(m, routes);
    if (!route) return false;
    this.forward(req, routes, route).catch((e: Error) => {
      if (!req.responded) req.respond(500, { reason: `Server Internal Error (${e.message})` });
    });
    return true;
  };

  private routeOf(m: SipRequest, routes: NameAddr[]): Route | undefined {
    const inDialog = Boolean(m.headers.to.params.tag);
    const method = m.method.toUpperCase();
    if (!inDialog && this.server && (method === 'SUBSCRIBE' || method === 'PUBLISH')) {
      const event = parseValueWithParams(headerText(m, 'event') ?? '').value.toLowerCase();
      if (this.settingsEvents.has(event)) return { kind: 'settings' };
    }
    // Loose routing (16.4): the next Route entry decides, the Request-URI stays.
    if (routes[0]) return { kind: 'next-hop', uri: routes[0].uri };
    const ruri = parseUri(m.uri);
    if (!ruri || ruri.scheme === 'tel') return undefined;
    if (this.isDomain(ruri.host) || this.isUs(ruri)) {
      if (!ruri.user) return undefined; // for the core itself: the core's own handlers answer
      // Out of dialog, SUBSCRIBE and PUBLISH of reg belong to the core's reg notifier.
      if (!inDialog && (method === 'SUBSCRIBE' || method === 'PUBLISH')) {
        const event = parseValueWithParams(headerText(m, 'event') ?? '').value.toLowerCase();
        if (event === 'reg') return undefined;
      }
      return { kind: 'user', aor: `sip:${ruri.user}@${this.o.domain.toLowerCase()}`, user: ruri.user };
    }
    // A Request-URI elsewhere: in a dialog that is the peer's contact; outside one we relay for nobody.
    return inDialog ? { kind: 'next-hop', uri: m.uri } : { kind: 'foreign' };
  }

  private async forward(req: IncomingRequest, routes: NameAddr[], route: Route): Promise<void> {
    const m = req.message;
    const report = (status: number, reason: string, extra: Partial<ProxyReport> = {}) =>
      this.onReport?.({ method: m.method, uri: m.uri, status, reason, ...extra });
    const refuse = (status: number, reason: string, originator?: string) => {
      req.respond(status, { reason });
      report(status, reason, { originator });
    };

    // Request validation (16.3).
    const maxForwards = Number.parseInt(headerText(m, 'max-forwards') ?? '70', 10);
    if (!Number.isFinite(maxForwards) || maxForwards <= 0) return refuse(483, 'Too Many Hops');
    const loopHash = this.loopHash(m);
    if (m.headers.via.some((v) => this.isOurVia(v.host, v.port) && String(v.params.branch ?? '').endsWith('.' + loopHash))) {
      return refuse(482, 'Loop Detected');
    }
    if (route.kind === 'foreign') return refuse(403, 'Forbidden (relaying to other domains)');

    // Originator: the server is believed, anybody else proves who they are.
    await this.start().catch(() => undefined);
    const trusted = this.fromServer(req);
    let originator = 'trusted';
    if (!trusted) {
      const verdict = this.digest.verify(m.headers['proxy-authorization'] as Record<string, string>[] | undefined, { method: m.method, uri: m.uri });
      if (!verdict.ok) {
        const c = this.digest.challenge({ stale: verdict.stale });
        req.respond(407, { headers: { [c.header]: c.split.map((s) => ({ ...s })) } });
        report(407, verdict.reason);
        return;
      }
      originator = verdict.username;
    }

    // The copy that goes on (16.6 step 1): the received request stays as its server transaction knows it.
    const fwd: SipRequest = { ...m, headers: { ...m.headers, via: [...m.headers.via] } };
    fwd.headers['max-forwards'] = String(maxForwards - 1);
    if (routes.length) fwd.headers.route = routes;
    else delete fwd.headers.route;
    if (!trusted) {
      // RFC 3325 9.1: identities the client claims itself are not passed on; ours replaces them.
      delete fwd.headers['p-asserted-identity'];
      delete fwd.headers['p-preferred-identity'];
      // Our own credentials end here (RFC 3261 22.3); no other proxy of this realm follows.
      delete fwd.headers['proxy-authorization'];
      fwd.headers['p-asserted-identity'] = `<sip:${originator}@${this.o.domain}>`;
    }
    if (!m.headers.to.params.tag && DIALOG_CREATING.has(m.method.toUpperCase())) {
      fwd.headers['record-route'] = [{ uri: this.endpoint.contactUri() + ';lr', params: {} }, ...(m.headers['record-route'] ?? [])];
    }

    let destination: string;
    if (route.kind === 'settings') destination = this.o.settingsServerUri!;
    else if (route.kind === 'next-hop') destination = route.uri;
    else {
      if (this.o.lookup(route.user) === undefined) return refuse(404, 'Not Found', originator);
      const binding = newest(this.o.location.lookup(route.aor));
      if (!binding) return refuse(480, 'Temporarily Unavailable (not registered)', originator);
      fwd.uri = binding.uri; // 16.5: the target replaces the Request-URI
      destination = binding.uri;
    }

    const pop = (res: SipResponse): SipResponse => ({ ...res, headers: { ...res.headers, via: res.headers.via.slice(1) } });
    const result = await this.endpoint.request(fwd, {
      pushVia: true,
      branch: `${newBranch()}.${loopHash}`,
      destination,
      // 16.7 step 5: provisional responses other than 100 go upstream at once.
      onProvisional: (res) => {
        if (res.status > 100) req.relay(pop(res));
      },
    });
    const res = result.response;
    if (result.responseWire === undefined) {
      // No response from downstream (timeout, transport failure): the core answers itself (16.7 step 6, 16.8).
      req.respond(res.status, { reason: res.reason });
    } else req.relay(pop(res));
    report(res.status, res.reason, { originator, target: destination });
  }

  /** The Route list without its leading entries that name this core (16.4). */
  private withoutOwnRoutes(list: NameAddr[] | undefined): NameAddr[] {
    const routes = [...(list ?? [])];
    while (routes[0]) {
      const u = parseUri(routes[0].uri);
      if (!u || !(this.isUs(u) || (!u.user && this.isDomain(u.host)))) break;
      routes.shift();
    }
    return routes;
  }

  private isDomain(host: string): boolean {
    return host.toLowerCase() === this.o.domain.toLowerCase();
  }

  private isUs(u: SipUri): boolean {
    return this.isOurVia(u.host, u.port);
  }

  private isOurVia(host: string, port: number | undefined): boolean {
    return host.toLowerCase() === this.endpoint.host.toLowerCase() && (port ?? 5060) === this.endpoint.port;
  }

  /**
   * The configured server, known by source address and port. Over TCP its
   * requests come from a fresh port, so there the sent-by of its Via stands in
   * for the port (a weaker check: a client on the server's own host could forge it).
   */
  private fromServer(req: IncomingRequest): boolean {
    const s = this.server;
    if (!s?.address) return false;
    const port = s.uri.port ?? 5060;
    if (req.peer.address !== s.address) return false;
    if (req.peer.port === port) return true;
    const via = req.message.headers.via[0];
    return req.peer.protocol === 'tcp' && via !== undefined && (via.port ?? 5060) === port;
  }

  /** The part of our branch that finds loops (16.6 step 8): what a looping request keeps unchanged. */
  private loopHash(m: SipRequest): string {
    const h = createHash('sha1');
    for (const part of [m.uri, m.headers.from.params.tag, m.headers.to.params.tag, m.headers['call-id'], m.headers.cseq.seq, JSON.stringify(m.headers.route ?? [])]) {
      h.update(String(part ?? '')).update('\u0000');
    }
    return h.digest('hex').slice(0, 12);
  }
}

/** The binding registered last: the device the user took up most recently (no forking in the lab core). */
function newest(bindings: Binding[]): Binding | undefined {
  let best: Binding | undefined;
  for (const b of bindings) if (!best || b.registeredAt >= best.registeredAt) best = b;
  return best;
}
