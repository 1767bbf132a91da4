// One SIP user agent stack: the sockets, the transactions, where requests go
// (outbound proxy, route set, Request-URI) and who answers incoming requests.
// It knows nothing of Node-RED; the endpoint config node wraps one of these.
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { Admission } from './admission';
import { decode, encode } from './codec';
import { DialogRouter } from './dialog-router';
import { newBranch, newCallId, newTag } from './ids';
import { isRequest, type SipRequest, type SipResponse } from './message';
import { makeResponse, type ResponseOptions } from './responses';
import { ClientTransaction, clientKey, ServerTransaction, serverKey, type TransactionWire } from './transaction';
import { DEFAULT_TIMERS, type TimerValues } from './timers';
import { Transport, type InboundFrame, type Peer, type Protocol } from './transport';
import { parseUri } from './uri';
import { Fifo } from '../util/fifo';
import type { Scheduler } from '../util/scheduler';

export interface HostPort {
  host: string;
  port?: number;
  transport?: Protocol;
}

export interface EndpointOptions {
  /** Protocol for requests whose target names none. */
  transport: Protocol;
  /** Local address to bind, e.g. 127.0.0.1. */
  address: string;
  /** Local port; 0 lets the system choose. */
  port: number;
  /** Address put in Via and Contact when binding a wildcard address. */
  publicAddress?: string;
  /** The SIP/IP core every request is sent to (the outbound proxy). */
  outboundProxy?: HostPort;
  timers?: Partial<TimerValues>;
  /** Clock of the transaction timers (A to M); tests pass a fake one. Default the real clock. */
  scheduler?: Scheduler;
  /** Cap on client transactions in flight; further requests wait their turn. */
  maxInFlight?: number;
  maxBodyBytes?: number;
  /** Largest head (start line and headers) accepted; larger messages get 513. Default 16 KiB. */
  maxHeaderBytes?: number;
  /** Server transactions alive at once; above it requests get 503 + Retry-After. Default 50,000. */
  maxServerTransactions?: number;
  /** Bytes held for unanswered requests and partial TCP messages together; above it load is shed. Default 16 MiB. */
  maxBufferedBytes?: number;
  /** A TCP connection that stalls in the middle of a message is closed after this. Default 10 s. */
  partialMessageTimeoutMs?: number;
}

export interface RequestResult {
  response: SipResponse;
  /** Wire text of the response; absent when the response was generated locally (timeout, transport failure). */
  responseWire?: string;
  requestWire: string;
  peer: Peer;
}

export interface SendOptions {
  /** Overrides target resolution (used for responses' Contact, tests). */
  target?: Peer;
  onProvisional?: (res: SipResponse, wire: string) => void;
  /**
   * Proxy forwarding (RFC 3261 16.6 step 8): our Via goes on top of the
   * request's Via list instead of replacing it. Responses come back with our
   * Via still on top; the proxy pops it.
   */
  pushVia?: boolean;
  /** Branch of our Via (a proxy puts its loop-detection hash in it); default a new one. */
  branch?: string;
  /** Next hop as a SIP URI, before outbound proxy, Route and Request-URI (Kamailio's `$du`). */
  destination?: string;
  /** Called when the request leaves, with where it went (a CANCEL must follow the INVITE there, RFC 3261 9.1). */
  onSent?: (peer: Peer, wire: string) => void;
  /**
   * A 2xx to INVITE arriving again after the first (RFC 3261 13.2.2.4, RFC 6026
   * Accepted): the UAC must ACK it again, a proxy forwards it. Without this the
   * endpoint emits `stray-response`.
   */
  onRetransmittedFinal?: (res: SipResponse, wire: string) => void;
}

/** A request sent outside any transaction (ACK for 2xx). */
export interface StatelessResult {
  requestWire: string;
  peer: Peer;
}

export interface IncomingRequest {
  readonly message: SipRequest;
  readonly wire: string;
  readonly peer: Peer;
  /** The To tag this endpoint uses in responses to this request. */
  readonly toTag: string;
  readonly responded: boolean;
  respond(status: number, opts?: ResponseOptions): void;
  /**
   * A UAS core's 2xx to INVITE: sent again at T1 doubling up to T2 until the
   * ACK arrives; after 64*T1 without it `onNoAck` runs (send BYE, RFC 3261 13.3.1.4).
   */
  respondUntilAck(status: number, opts: ResponseOptions, onNoAck: () => void): void;
  /** Sends a response from downstream (a proxy's, our Via already popped) as it is, in this request's transaction. */
  relay(res: SipResponse): void;
}

/** A handler returns true when it takes the request (and will respond). */
export type RequestHandler = (req: IncomingRequest) => boolean;

export interface WireEvent {
  direction: 'in' | 'out';
  peer: Peer;
  wire: string;
}

const KNOWN_METHODS = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH',
  'MESSAGE', 'INFO', 'PRACK', 'UPDATE', 'REFER',
]);

/**
 * Events: `wire` (WireEvent) for every message in and out, `error` (Error) for
 * socket failures after start, `stray-response` (SipResponse) for responses no
 * transaction claims (2xx retransmissions that a dialog must ACK again).
 */
export class SipEndpoint extends EventEmitter {
  readonly timers: TimerValues;
  /** In-dialog requests go to their dialog's owner before any other handler. */
  readonly dialogs = new DialogRouter();
  private readonly transport: Transport;
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerTransaction>();
  /** INVITE server transactions whose 2xx waits for its ACK, by ackKey. */
  private readonly awaitingAck = new Map<string, ServerTransaction>();
  private readonly handlers: RequestHandler[] = [];
  private readonly waiting = new Fifo<() => void>();
  /** startWaiting() is running: an inner call leaves the work to its loop. */
  private starting = false;
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly dnsCache = new Map<string, { address: string; until: number }>();
  private started = false;
  private closed = false;
  private readonly admission: Admission;
  // One for all transactions: answered UDP ones live 32 s each, and a copy per
  // transaction (an object and a closure) was that much more for the GC to keep.
  private readonly txWire: TransactionWire;

  constructor(readonly options: EndpointOptions) {
    super();
    this.timers = { ...DEFAULT_TIMERS, ...options.timers };
    this.txWire = { send: (p, w) => this.sendWire(p, w), timers: this.timers, scheduler: options.scheduler };
    this.maxInFlight = options.maxInFlight ?? 200;
    this.admission = new Admission({
      maxServerTransactions: options.maxServerTransactions,
      maxBufferedBytes: options.maxBufferedBytes,
    });
    this.transport = new Transport({
      address: options.address,
      port: options.port,
      maxBodyBytes: options.maxBodyBytes,
      maxHeaderBytes: options.maxHeaderBytes,
      budget: this.admission.budget,
      partialMessageTimeoutMs: options.partialMessageTimeoutMs,
      udpReceiveBufferBytes: 4 * 1024 * 1024,
    });
    this.transport.on('frame', (f: InboundFrame) => this.onFrame(f));
    this.transport.on('send-error', (peer: Peer, err: Error) => this.onSendError(peer, err));
    this.transport.on('shed', () => this.admission.shedConnections++);
    this.transport.on('refused', (peer: Peer, head: string, status: number, reason: string) =>
      this.answerMalformed(head + '\r\n', peer, status, reason),
    );
    this.transport.on('error', (err: Error) => this.emit('error', err));
    // An EventEmitter without an 'error' listener throws; an endpoint must never take the process down.
    this.on('error', () => undefined);
    this.handlers.push(this.dialogs.handle);
  }

  async start(): Promise<void> {
    if (this.started) return;
    await this.transport.listen();
    this.started = true;
  }

  get port(): number {
    return this.transport.port;
  }

  /** The host that peers reach us at (Via sent-by, Contact host). */
  get host(): string {
    const a = this.options.publicAddress || this.options.address;
    return a === '0.0.0.0' || a === '::' ? '127.0.0.1' : a;
  }

  get protocol(): Protocol {
    return this.options.transport;
  }

  get isRunning(): boolean {
    return this.started && !this.closed;
  }

  /** What incoming traffic holds now, against the limits in EndpointOptions. */
  get inputLoad(): { serverTransactions: number; bufferedBytes: number; shed: number; shedConnections: number } {
    const a = this.admission;
    return { serverTransactions: this.servers.size, bufferedBytes: a.budget.bytes, shed: a.shed, shedConnections: a.shedConnections };
  }

  /** `host:port` of this endpoint, bracketing IPv6. */
  get hostPort(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${h}:${this.port}`;
  }

  /** A Contact URI for `user` on this endpoint (with `;transport=tcp` over TCP, as cores need it). */
  contactUri(user?: string): string {
    const t = this.protocol === 'tcp' ? ';transport=tcp' : '';
    return `sip:${user ? user + '@' : ''}${this.hostPort}${t}`;
  }

  newCallId(): string {
    return newCallId(this.host);
  }

  newTag(): string {
    return newTag();
  }

  addHandler(handler: RequestHandler): () => void {
    this.handlers.push(handler);
    return () => {
      const i = this.handlers.indexOf(handler);
      if (i >= 0) this.handlers.splice(i, 1);
    };
  }

  /** Sends a request in a client transaction; resolves with the final response (never rejects). */
  request(req: SipRequest, opts: SendOptions = {}): Promise<RequestResult> {
    return new Promise((resolve) => {
      this.waiting.push(() => {
        this.inFlight++;
        let released = false;
        this.dispatch(req, opts, (result) => {
          if (!released) {
            released = true;
            this.inFlight--;
            this.startWaiting();
          }
          resolve(result);
        });
      });
      this.startWaiting();
    });
  }

  /**
   * Starts waiting requests while there is room in flight, in a loop: a
   * request that ends at once (the endpoint closing, a send that fails)
   * makes room inside the loop's own call, and calling on from there would
   * nest one stack frame set per waiting request until the stack overflows.
   */
  private startWaiting(): void {
    if (this.starting) return;
    this.starting = true;
    try {
      while (this.inFlight < this.maxInFlight) {
        const next = this.waiting.shift();
        if (!next) break;
        next();
      }
    } finally {
      this.starting = false;
    }
  }

  private dispatch(req: SipRequest, opts: SendOptions, done: (r: RequestResult) => void): void {
    const local = (status: number, reason: string, peer: Peer): void =>
      done({ response: makeResponse(req, status, { reason }), requestWire: '', peer });
    if (!this.isRunning) {
      local(503, 'Endpoint Not Running', { protocol: this.protocol, address: '', port: 0 });
      return;
    }
    const go = (peer: Peer): void => {
      try {
        send(peer);
      } catch (e) {
        local(500, `Cannot Send (${(e as Error).message})`, peer);
      }
    };
    const send = (peer: Peer): void => {
      if (!this.isRunning) return local(503, 'Endpoint Not Running', peer);
      this.stampVia(req, peer, opts);
      let requestWire = '';
      let finalSeen = false;
      const tx = new ClientTransaction(
        this.txWire,
        req,
        peer,
        (res, wire) => {
          if (res.status < 200) {
            if (wire) opts.onProvisional?.(res, wire);
          } else if (finalSeen) {
            // A retransmitted 2xx to INVITE: the dialog must ACK it again (RFC 3261 13.2.2.4).
            if (opts.onRetransmittedFinal && wire) opts.onRetransmittedFinal(res, wire);
            else this.emit('stray-response', res, wire);
          } else {
            finalSeen = true;
            done({ response: res, responseWire: wire, requestWire, peer });
          }
        },
        () => this.clients.delete(tx.key),
      );
      requestWire = tx.requestWire;
      this.clients.set(tx.key, tx);
      tx.start();
      opts.onSent?.(peer, requestWire);
    };
    // Most targets are IP addresses or cached names: no promise on that path.
    const known = opts.target ?? this.knownTarget(req, opts.destination);
    if (known) {
      go(known);
      return;
    }
    this.resolveTarget(req, opts.destination).then(go, (err: Error) =>
      local(503, `Cannot Resolve Target (${err.message})`, { protocol: this.protocol, address: '', port: 0 }),
    );
  }

  /**
   * Ends a client transaction that still waits for its final response with a
   * local one (RFC 3261 9.1: an INVITE still unanswered 64*T1 after its
   * CANCEL is given up). `req` is the request as sent (its Via has our branch).
   */
  abandon(req: SipRequest, status: number, reason: string): void {
    const branch = req.headers.via?.[0]?.params.branch;
    if (branch) this.clients.get(clientKey(String(branch), req.method))?.fail(status, reason);
  }

  /**
   * Sends a request without a transaction: an ACK for a 2xx, which is its own
   * transaction-less request end to end (RFC 3261 13.2.2.4, 17.1.1.3). Rejects
   * when the next hop cannot be resolved or the endpoint is not running.
   */
  async sendStateless(req: SipRequest, opts: Pick<SendOptions, 'target' | 'destination' | 'pushVia' | 'branch'> = {}): Promise<StatelessResult> {
    if (!this.isRunning) throw new Error('endpoint not running');
    const peer = opts.target ?? this.knownTarget(req, opts.destination) ?? (await this.resolveTarget(req, opts.destination));
    this.stampVia(req, peer, { ...opts, branch: opts.branch ?? newBranch() });
    const requestWire = encode(req);
    this.sendWire(peer, requestWire);
    return { requestWire, peer };
  }

  private stampVia(req: SipRequest, peer: Peer, opts: SendOptions): void {
    const branch = opts.branch ?? (req.method === 'ACK' && !opts.pushVia && req.headers.via?.[0]?.params.branch ? req.headers.via[0].params.branch : newBranch());
    const params: Record<string, string | null> = { branch };
    if (peer.protocol === 'udp') params.rport = null; // RFC 3581: answer us where we sent from
    const ours = { version: '2.0', protocol: peer.protocol.toUpperCase(), host: this.host, port: this.port, params };
    req.headers.via = opts.pushVia ? [ours, ...(req.headers.via ?? [])] : [ours];
    if (req.headers['max-forwards'] === undefined) req.headers['max-forwards'] = '70';
  }

  /**
   * The next hop's name: the destination given, else the outbound proxy, else
   * the first loose route, else the Request-URI (RFC 3261 8.1.2).
   */
  private nextHop(req: SipRequest, destination?: string): HostPort {
    if (!destination && this.options.outboundProxy) return this.options.outboundProxy;
    const route = destination ?? req.headers.route?.[0]?.uri;
    const u = parseUri(route ?? req.uri);
    if (!u || u.scheme === 'tel') throw new Error(`no SIP host in ${route ?? req.uri}`);
    const t = u.params.transport?.toLowerCase();
    return { host: u.host, port: u.port, transport: t === 'tcp' || t === 'udp' ? t : undefined };
  }

  private peerOf(hop: HostPort, address: string): Peer {
    return { protocol: hop.transport ?? this.protocol, address, port: hop.port ?? 5060 };
  }

  /** The target when it needs no name lookup (an IP address, or a name resolved recently). */
  private knownTarget(req: SipRequest, destination?: string): Peer | undefined {
    let hop: HostPort;
    try {
      hop = this.nextHop(req, destination);
    } catch {
      return undefined; // resolveTarget reports it
    }
    if (isIP(hop.host)) return this.peerOf(hop, hop.host);
    const cached = this.dnsCache.get(hop.host);
    return cached && cached.until > Date.now() ? this.peerOf(hop, cached.address) : undefined;
  }

  async resolveTarget(req: SipRequest, destination?: string): Promise<Peer> {
    const hop = this.nextHop(req, destination);
    return this.peerOf(hop, await this.resolveHost(hop.host));
  }

  private async resolveHost(host: string): Promise<string> {
    if (isIP(host)) return host;
    const cached = this.dnsCache.get(host);
    const now = Date.now();
    if (cached && cached.until > now) return cached.address;
    // dns.lookup honours /etc/hosts, which labs rely on (`localhost`, lab names).
    const { address } = await lookup(host, { family: 4 }).catch(() => lookup(host));
    this.dnsCache.set(host, { address, until: now + 60_000 });
    return address;
  }

  private sendWire(peer: Peer, wire: string): void {
    if (this.listenerCount('wire')) this.emit('wire', { direction: 'out', peer, wire } satisfies WireEvent);
    this.transport.send(peer, wire);
  }

  private onSendError(peer: Peer, err: Error): void {
    // Every transaction towards that peer fails now rather than after Timer B/F.
    for (const tx of [...this.clients.values()]) {
      if (tx.peer.protocol === peer.protocol && tx.peer.address === peer.address && tx.peer.port === peer.port) {
        tx.fail(503, `Service Unavailable (${err.message})`);
      }
    }
  }

  private onFrame(frame: InboundFrame): void {
    try {
      this.receive(frame);
    } catch (e) {
      this.emit('error', e as Error);
    }
  }

  private receive({ wire, peer }: InboundFrame): void {
    if (this.listenerCount('wire')) this.emit('wire', { direction: 'in', peer, wire } satisfies WireEvent);
    const msg = decode(wire);
    if (!msg) {
      this.answerMalformed(wire, peer, 400, 'Bad Request');
      return;
    }
    const h = msg.headers;
    if (!Array.isArray(h.via) || !h.via.length || !h['call-id'] || !h.cseq || !h.from || !h.to) {
      this.answerMalformed(wire, peer, 400, 'Bad Request (Missing Mandatory Header)');
      return;
    }
    if (isRequest(msg)) this.onRequest(msg, wire, peer);
    else this.onResponse(msg as SipResponse, wire);
  }

  private onResponse(res: SipResponse, wire: string): void {
    const branch = res.headers.via[0]?.params.branch;
    const tx = branch ? this.clients.get(clientKey(String(branch), res.headers.cseq.method)) : undefined;
    if (tx) tx.receive(res, wire);
    else this.emit('stray-response', res, wire);
  }

  private onRequest(req: SipRequest, wire: string, peer: Peer): void {
    if (req.method === 'ACK') {
      const st = this.servers.get(serverKey(req));
      if (st && st.ack()) return;
      // An ACK for a 2xx of ours has a branch of its own: found by dialog and CSeq. Its dialog still gets it.
      this.awaitingAck.get(ackKey(req, String(req.headers.to.params.tag ?? '')))?.ackFor2xx();
      this.runHandlers(this.incoming(req, wire, peer, undefined));
      return;
    }
    const key = serverKey(req);
    const existing = this.servers.get(key);
    if (existing) {
      existing.retransmission();
      return;
    }
    if (peer.protocol === 'udp') markReceived(req, peer);
    const replyPeer = responsePeer(req, peer);
    const release = this.admission.admit(wire.length, this.servers.size);
    if (!release) {
      this.shed(req, replyPeer);
      return;
    }
    const st = new ServerTransaction(
      this.txWire,
      req,
      replyPeer,
      newTag(),
      () => {
        this.servers.delete(key);
        // Only a 2xx sent with respondUntilAck is in awaitingAck; the request itself is not held here.
        for (const [k, v] of this.awaitingAck) if (v === st) this.awaitingAck.delete(k);
      },
      release,
    );
    this.servers.set(key, st);
    const incoming = this.incoming(req, wire, peer, st);
    if (req.headers.cseq.method.toUpperCase() !== req.method.toUpperCase()) {
      incoming.respond(400, { reason: 'Bad Request (CSeq Method Mismatch)' });
      return;
    }
    if (req.method === 'CANCEL') {
      this.onCancel(incoming);
      return;
    }
    if (req.method === 'INVITE') incoming.respond(100);
    this.runHandlers(incoming);
    if (!incoming.responded) this.armWatchdog(st);
  }

  /** Over the admission limits: a stateless 503 with Retry-After, nothing kept. */
  private shed(req: SipRequest, replyPeer: Peer): void {
    const res = this.admission.refusal(req, newTag());
    if (res) this.sendWire(replyPeer, encode(res));
  }

  private incoming(req: SipRequest, wire: string, peer: Peer, st: ServerTransaction | undefined): IncomingRequest {
    return new Incoming(req, wire, peer, st, this.awaitingAck);
  }

  private runHandlers(req: IncomingRequest): void {
    for (const h of this.handlers) {
      try {
        if (h(req)) return;
      } catch (e) {
        this.emit('error', e as Error);
        req.respond(500, { reason: 'Server Internal Error' });
        return;
      }
    }
    if (req.message.method === 'ACK') return;
    const m = req.message.method.toUpperCase();
    if (!KNOWN_METHODS.has(m)) req.respond(501);
    else if (req.message.headers.to.params.tag) req.respond(481); // in-dialog request for no dialog we know
    else req.respond(405, { headers: { allow: this.allowed() } });
  }

  /** Methods that some handler here can take; for Allow in 405 responses. */
  private allowed(): string {
    return 'INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, MESSAGE';
  }

  private armWatchdog(st: ServerTransaction): void {
    // A taken request that is never answered would pin its transaction forever.
    // The transaction stops the timer at its final response.
    const ms = st.invite ? 180_000 : 64 * this.timers.t1;
    st.watchdog(ms, () => {
      const req = st.request;
      if (req && !st.finished) {
        st.respond(makeResponse(req, st.invite ? 408 : 500, { toTag: st.toTag, reason: 'No Answer From Application' }));
      }
    });
  }


  private onCancel(cancel: IncomingRequest): void {
    const inviteKey = serverKey({ ...cancel.message, method: 'INVITE' } as SipRequest);
    const invite = this.servers.get(inviteKey);
    if (!invite) {
      cancel.respond(481);
      return;
    }
    cancel.respond(200);
    const req = invite.request; // gone once the INVITE has its final response: nothing left to cancel
    if (req && !invite.finished) {
      this.emit('cancel', req);
      invite.respond(makeResponse(req, 487, { toTag: invite.toTag }));
    }
  }

  /** Best effort 400 for a request we could not parse: only when its mandatory headers can be read. */
  private answerMalformed(wire: string, peer: Peer, status: number, reason: string): void {
    const lines = wire.split('\r\n');
    if (!/^[A-Za-z]+ \S+ SIP\/\S+$/.test(lines[0] ?? '')) return; // not a request: drop
    const keep = lines.filter((l) => /^(via|v|from|f|to|t|call-id|i|cseq)\s*:/i.test(l));
    const names = new Set(keep.map((l) => l.split(':')[0]!.trim().toLowerCase()));
    const has = (a: string, b: string) => names.has(a) || names.has(b);
    if (!(has('via', 'v') && has('from', 'f') && has('to', 't') && has('call-id', 'i') && names.has('cseq'))) return;
    const text = `SIP/2.0 ${status} ${reason}\r\n${keep.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
    this.sendWire(peer, text);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const tx of [...this.clients.values()]) tx.fail(503, 'Endpoint Closed');
    for (const st of [...this.servers.values()]) st.terminate(true);
    for (const w of this.waiting.drain()) w();
    await this.transport.close();
  }
}

/** Finds the INVITE whose 2xx an ACK acknowledges: dialog (Call-ID, both tags) and CSeq number. */
function ackKey(req: SipRequest, toTag: string): string {
  return [req.headers['call-id'], req.headers.from.params.tag ?? '', toTag, req.headers.cseq.seq].join('\u0000');
}

/** Where responses to a request go (RFC 3261 18.2.2 with RFC 3581 rport). */
function responsePeer(req: SipRequest, source: Peer): Peer {
  if (source.protocol !== 'udp') return source;
  const via = req.headers.via[0]!;
  if ('rport' in via.params) return source;
  return { protocol: 'udp', address: source.address, port: via.port ?? 5060 };
}

/** RFC 3261 18.2.1 `received` and RFC 3581 `rport`, echoed in our responses' Via. */
function markReceived(req: SipRequest, source: Peer): void {
  const via = req.headers.via[0]!;
  if (via.host !== source.address) via.params.received = source.address;
  if ('rport' in via.params) via.params.rport = String(source.port);
}

/**
 * A request as handlers see it. A class rather than an object literal with a
 * getter and closures: one is made per request, and the literal cost more
 * than parsing the request's Via.
 */
class Incoming implements IncomingRequest {
  private finalSent = false;
  private relayed2xx = false;
  readonly toTag: string;

  constructor(
    readonly message: SipRequest,
    readonly wire: string,
    readonly peer: Peer,
    private readonly st: ServerTransaction | undefined,
    private readonly awaitingAck: Map<string, ServerTransaction>,
  ) {
    this.toTag = st?.toTag ?? '';
  }

  get responded(): boolean {
    return this.finalSent;
  }

  respond(status: number, opts: ResponseOptions = {}): void {
    if (!this.st || this.finalSent) return;
    if (status >= 200) this.finalSent = true;
    this.st.respond(makeResponse(this.message, status, { toTag: this.toTag, ...opts }));
  }

  respondUntilAck(status: number, opts: ResponseOptions, onNoAck: () => void): void {
    const st = this.st;
    if (!st || this.finalSent) return;
    this.finalSent = true;
    const req = this.message;
    const untilAck = st.invite && status >= 200 && status < 300;
    // A re-INVITE already names our tag in its To; the response keeps it, and so does its ACK.
    if (untilAck) this.awaitingAck.set(ackKey(req, String(req.headers.to.params.tag ?? this.toTag)), st);
    st.respond(makeResponse(req, status, { toTag: this.toTag, ...opts }), untilAck ? { onGiveUp: onNoAck } : undefined);
  }

  relay(res: SipResponse): void {
    // After a relayed 2xx to INVITE, its retransmissions from downstream pass too (RFC 6026 7.2).
    if (!this.st || (this.finalSent && !(this.relayed2xx && res.status >= 200 && res.status < 300))) return;
    if (res.status >= 200) this.finalSent = true;
    if (res.status >= 200 && res.status < 300) this.relayed2xx = true;
    this.st.respond(res);
  }
}
