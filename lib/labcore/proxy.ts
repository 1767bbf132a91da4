// The lab core as a stateful proxy (RFC 3261 16) for what it routes: the
// settings event packages to the settings server, in-dialog requests by their
// route set, and requests for a registered user to that user's contact. Like
// an IMS core it asserts the originator (RFC 3325): clients are authenticated
// by digest (407) and get the core's P-Asserted-Identity instead of their own;
// the configured server is trusted and its requests pass as they are.
//
// INVITE is forwarded statefully too: provisional responses go upstream, a
// CANCEL from upstream cancels the forwarded INVITE, Timer C ends a branch
// that rings for ever, an ACK for a non-2xx stays in the transactions of each
// hop and an ACK for a 2xx is loose-routed end to end without a transaction.
// A MESSAGE for a provisioned user who is not registered goes to the IM
// server (an IMS core's terminating-unregistered trigger).
//
// Not done: strict-routing upstream hops (RFC 3261 16.4, a Request-URI that
// is our Record-Route value), forking to several contacts.
import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { DigestAlgorithm } from '../auth/digest-hash';
import { DigestServer } from '../auth/digest-server';
import type { IncomingRequest, SipEndpoint } from '../sip/endpoint';
import type { Peer } from '../sip/transport';
import { newBranch } from '../sip/ids';
import { headerText, parseValueWithParams, type NameAddr, type SipRequest, type SipResponse } from '../sip/message';
import { parseUri, type SipUri } from '../sip/uri';
import type { Scheduler } from '../util/scheduler';
import type { Binding, LocationService } from './location';
import { LAB_CORE_ALGORITHMS } from './registrar';

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
  /** Digest algorithms offered in 407 challenges, as the registrar offers them. */
  algorithms?: readonly DigestAlgorithm[];
  /** Where a MESSAGE for a provisioned but unregistered user goes; none: 480. */
  imServerUri?: string;
  /** Timer C (RFC 3261 16.6 step 11): a forwarded INVITE ringing longer is cancelled. Default 180 s. */
  timerCMs?: number;
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

export const DEFAULT_SETTINGS_EVENTS = ['poc-settings', 'deferred-messages'];

/** Methods this proxy leaves to the rest of the core (CANCEL: the endpoint matches it to its INVITE, see onCancel). */
const NOT_PROXIED = new Set(['REGISTER', 'CANCEL']);
/** Requests that create a dialog when sent outside one: they get our Record-Route (RFC 3261 16.6 step 4). */
const DIALOG_CREATING = new Set(['SUBSCRIBE', 'REFER', 'INVITE']);
const DEFAULT_TIMER_C_MS = 180_000;

type Route =
  | { kind: 'settings' }
  /** `recorded`: an in-dialog request that came along a route set we Record-Routed (it named us in Route). */
  | { kind: 'next-hop'; uri: string; recorded?: boolean }
  | { kind: 'user'; aor: string; user: string }
  | { kind: 'foreign' };

/** A forwarded INVITE still without final response: where a CANCEL must follow it. */
interface PendingInvite {
  fwd: SipRequest;
  branch: string;
  peer?: Peer;
  /** A provisional came back: a CANCEL may be sent (RFC 3261 9.1); before that it waits. */
  provisional: boolean;
  cancelWanted: boolean;
  cancelled: boolean;
}

export class LabProxy {
  readonly digest: DigestServer;
  private readonly settingsEvents: Set<string>;
  private server?: { uri: SipUri; address?: string };
  /** Forwarded INVITEs by the upstream request object the endpoint hands to `cancel`. */
  private readonly invites = new Map<SipRequest, PendingInvite>();
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
      algorithms: o.algorithms ?? LAB_CORE_ALGORITHMS,
      qop: ['auth'],
      now: () => o.scheduler.now(),
    });
    const uri = o.settingsServerUri ? parseUri(o.settingsServerUri) : undefined;
    if (o.settingsServerUri && (!uri || uri.scheme === 'tel')) throw new Error(`settings server URI is not a SIP URI: ${o.settingsServerUri}`);
    if (uri) this.server = { uri, address: isIP(uri.host) ? uri.host : undefined };
    // The endpoint has answered the CANCEL (200) and the INVITE (487) upstream; downstream follows (16.10).
    endpoint.on('cancel', (req: SipRequest) => {
      const p = this.invites.get(req);
      if (p) this.cancelDownstream(p);
    });
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
    if (m.method === 'ACK') {
      // ACK for a 2xx (one for a non-2xx never gets here: the transaction absorbed it). It cannot be
      // challenged, so only one that follows a route set of ours goes on; any other ends here.
      if (route.kind === 'next-hop' && route.recorded) this.forwardAck(m, routes, route.uri).catch(() => undefined);
      return true;
    }
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
    const recorded = inDialog && (m.headers.route?.length ?? 0) > routes.length;
    // Loose routing (16.4): the next Route entry decides, the Request-URI stays.
    if (routes[0]) return { kind: 'next-hop', uri: routes[0].uri, recorded };
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
    // A Request-URI elsewhere: in a dialog that is the peer's contact; the server is reachable; otherwise we relay for nobody.
    if (inDialog) return { kind: 'next-hop', uri: m.uri, recorded };
    if (this.server && sameHost(ruri, this.server.uri)) return { kind: 'next-hop', uri: m.uri };
    return { kind: 'foreign' };
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
    // In a dialog we Record-Routed (BYE, re-INVITE, UPDATE...) the peers proved themselves when it
    // began, as Kamailio's loose_route branch has it; only settings refreshes are asserted anew.
    const unauthenticated = route.kind === 'next-hop' && route.recorded === true && !this.isSettingsEvent(m);
    if (unauthenticated && !trusted) originator = 'in-dialog';
    if (!trusted && !unauthenticated) {
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
      if (!unauthenticated) fwd.headers['p-asserted-identity'] = `<sip:${originator}@${this.o.domain}>`;
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
      if (binding) {
        fwd.uri = binding.uri; // 16.5: the target replaces the Request-URI
        destination = binding.uri;
      } else if (m.method === 'MESSAGE' && this.o.imServerUri) {
        destination = this.o.imServerUri; // terminating unregistered: the Request-URI stays the user's identity
      } else return refuse(480, 'Temporarily Unavailable (not registered)', originator);
    }

    const pop = (res: SipResponse): SipResponse => ({ ...res, headers: { ...res.headers, via: res.headers.via.slice(1) } });
    const branch = `${newBranch()}.${loopHash}`;
    const pending: PendingInvite | undefined = m.method === 'INVITE' ? { fwd, branch, provisional: false, cancelWanted: false, cancelled: false } : undefined;
    let timerC: unknown;
    const armTimerC = () => {
      if (!pending) return;
      if (timerC !== undefined) this.o.scheduler.clear(timerC);
      timerC = this.o.scheduler.set(() => this.cancelDownstream(pending), this.o.timerCMs ?? DEFAULT_TIMER_C_MS);
    };
    if (pending) this.invites.set(m, pending);
    const result = await this.endpoint
      .request(fwd, {
        pushVia: true,
        branch,
        destination,
        onSent: (peer) => {
          if (pending) pending.peer = peer;
          armTimerC();
        },
        // 16.7 step 5: provisional responses other than 100 go upstream at once; each restarts Timer C.
        onProvisional: (res) => {
          armTimerC();
          if (pending) {
            pending.provisional = true;
            if (pending.cancelWanted) this.cancelDownstream(pending);
          }
          if (res.status > 100) req.relay(pop(res));
        },
        // RFC 6026 7.2: copies of the 2xx go upstream too; the UAC ACKs each.
        onRetransmittedFinal: (res) => req.relay(pop(res)),
      })
      .finally(() => {
        if (timerC !== undefined) this.o.scheduler.clear(timerC);
        if (pending) this.invites.delete(m);
      });
    const res = result.response;
    if (result.responseWire === undefined) {
      // No response from downstream (timeout, transport failure): the core answers itself (16.7 step 6, 16.8).
      req.respond(res.status, { reason: res.reason });
    } else req.relay(pop(res));
    report(res.status, res.reason, { originator, target: destination });
  }

  /** CANCEL on the branch of a forwarded INVITE (16.10): after the upstream CANCEL, or at Timer C. */
  private cancelDownstream(p: PendingInvite): void {
    p.cancelWanted = true;
    if (p.cancelled || !p.provisional) return;
    p.cancelled = true;
    const r = p.fwd;
    const to = { ...r.headers.to, params: { ...r.headers.to.params } };
    const cancel: SipRequest = {
      method: 'CANCEL',
      uri: r.uri,
      version: '2.0',
      headers: { via: [], to, from: r.headers.from, 'call-id': r.headers['call-id'], cseq: { seq: r.headers.cseq.seq, method: 'CANCEL' }, 'max-forwards': '70' },
    };
    if (r.headers.route) cancel.headers.route = r.headers.route;
    // Our Via only, with the INVITE's branch: the next hop matches it to the INVITE it has from us.
    void this.endpoint.request(cancel, { branch: p.branch, target: p.peer, destination: p.peer ? undefined : r.uri });
  }

  /** An ACK for a 2xx, loose-routed without a transaction (RFC 3261 16.11 forwards it statelessly). */
  private async forwardAck(m: SipRequest, routes: NameAddr[], destination: string): Promise<void> {
    const fwd: SipRequest = { ...m, headers: { ...m.headers, via: [...m.headers.via] } };
    const maxForwards = Number.parseInt(headerText(m, 'max-forwards') ?? '70', 10);
    if (!Number.isFinite(maxForwards) || maxForwards <= 0) return;
    fwd.headers['max-forwards'] = String(maxForwards - 1);
    if (routes.length) fwd.headers.route = routes;
    else delete fwd.headers.route;
    await this.endpoint.sendStateless(fwd, { pushVia: true, destination });
  }

  private isSettingsEvent(m: SipRequest): boolean {
    if (!this.server || (m.method !== 'SUBSCRIBE' && m.method !== 'PUBLISH')) return false;
    return this.settingsEvents.has(parseValueWithParams(headerText(m, 'event') ?? '').value.toLowerCase());
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

function sameHost(a: SipUri, b: SipUri): boolean {
  return a.host.toLowerCase() === b.host.toLowerCase() && (a.port ?? 5060) === (b.port ?? 5060);
}

/** The binding registered last: the device the user took up most recently (no forking in the lab core). */
function newest(bindings: Binding[]): Binding | undefined {
  let best: Binding | undefined;
  for (const b of bindings) if (!best || b.registeredAt >= best.registeredAt) best = b;
  return best;
}
