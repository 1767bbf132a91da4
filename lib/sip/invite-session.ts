// One INVITE session (RFC 3261 13-15, RFC 6026, RFC 3311, RFC 4028) on either
// side: the UAC sends the INVITE, ACKs the 2xx end to end (again for each
// retransmitted 2xx), may CANCEL; the UAS answers with provisional and final
// responses and retransmits its 2xx until the ACK (the endpoint does that for
// it). Both send and answer re-INVITE, UPDATE and BYE in the dialog and run
// the session timer. Knows nothing of Node-RED or of SDP's content.
import { EventEmitter } from 'node:events';
import type { DigestClient } from '../auth/digest-client';
import { acceptRemoteSeq, dialogAsUac, dialogAsUas, inDialogRequest, refreshTarget, type Dialog } from './dialog';
import { encode } from './codec';
import type { IncomingRequest, SipEndpoint } from './endpoint';
import type { Exchange } from './exchange';
import { newTag } from './ids';
import type { SipHeaders, SipRequest, SipResponse } from './message';
import { makeResponse, type ResponseOptions } from './responses';
import {
  minSEAfter422,
  negotiateAsUas,
  negotiatedByResponse,
  parseSessionExpires,
  SessionTimer,
  timerRequestHeaders,
  type Negotiated,
  type SessionTimerConfig,
} from './session-timer';
import type { Peer } from './transport';
import { realScheduler, type Scheduler } from '../util/scheduler';

export type SessionState = 'idle' | 'calling' | 'early' | 'accepted' | 'confirmed' | 'terminated';

/** Why a session moved. */
export type SessionCause =
  | 'invite' // UAC sent, or UAS received, the INVITE
  | 'provisional' // a 1xx (with a To tag: early dialog)
  | 'answered' // 2xx sent (UAS) / received and ACKed (UAC)
  | 'acknowledged' // UAS: the ACK for the 2xx arrived
  | 'rejected' // a non-2xx final response to the INVITE
  | 'cancelled' // CANCEL sent (UAC, 487 came back) or received (UAS)
  | 'local-bye'
  | 'remote-bye'
  | 'refresh-failed' // 481 or 408 to an in-dialog request (RFC 3261 12.2.1.2)
  | 'session-expired' // no refresh before the end of the interval (RFC 4028 10)
  | 'no-ack' // UAS: 2xx not acknowledged within 64*T1 (RFC 3261 13.3.1.4)
  | 'closed'; // close() without BYE

export interface SessionEvent {
  state: SessionState;
  cause: SessionCause;
  /** Status of the response behind it, when there is one. */
  status?: number;
  /** The request / response pair behind it, with their wire text (for msg.sip). */
  exchange?: Exchange;
  /** The ACK for a 2xx, as sent or received. */
  ackWire?: string;
}

export interface RefreshEvent {
  /** `us`: we sent the refresh; `peer`: we answered one. */
  by: 'us' | 'peer';
  method: string;
  exchange: Exchange;
  /** The interval in force afterwards, seconds; undefined when no timer runs. */
  interval?: number;
}

export interface SessionOptions {
  /** RFC 4028 session timer; UAC: asked for when given; UAS: offered to a UAC that supports it. `false`: not supported. */
  sessionTimer?: SessionTimerConfig | false;
  /** Answers an offer in a re-INVITE / UPDATE / the initial INVITE; default: our last SDP again. */
  answerOffer?: (offer: string, method: string) => string | undefined;
  scheduler?: Scheduler;
  /** Credentials for a core that challenges the INVITE (401 / 407). */
  digest?: DigestClient;
  /** Contact user part. */
  contactUser?: string;
  /** Extra headers of our 2xx and in-dialog requests (Allow, User-Agent...). */
  headers?: SipHeaders;
}

export interface InviteOptions {
  onProvisional?: (res: SipResponse, wire: string) => void;
}

export interface InviteOutcome {
  /** True when the session is up (2xx, ACK sent). */
  established: boolean;
  response: SipResponse;
  exchange: Exchange;
  /** Every INVITE exchange, e.g. a 422 and the retry. */
  exchanges: Exchange[];
}

export interface InDialogOptions {
  body?: string;
  contentType?: string;
  headers?: SipHeaders;
}

const SDP = 'application/sdp';

/**
 * Events: `state` (SessionEvent) at every state change; `refresh`
 * (RefreshEvent) for each session refresh or re-offer, sent or answered;
 * `request` (IncomingRequest) for in-dialog requests other than INVITE,
 * UPDATE, BYE and ACK (without a listener they get 405); `error` is never emitted.
 */
export class InviteSession extends EventEmitter {
  private _state: SessionState = 'idle';
  private dialog?: Dialog;
  private role: 'uac' | 'uas' = 'uac';
  private unregister?: () => void;
  private readonly scheduler: Scheduler;
  private readonly timer: SessionTimer;
  private readonly timerCfg?: SessionTimerConfig;
  private minSE = 0;
  /** Our last SDP, offered or answered. */
  localSdp?: string;
  /** The peer's last SDP. */
  remoteSdp?: string;
  // UAC: the INVITE in progress and where it went, for CANCEL.
  private pending?: { req: SipRequest; peer?: Peer; provisional: boolean; cancelWanted: boolean; cancelled: boolean; giveUp?: unknown };
  /** UAC: the ACK per CSeq number of an INVITE, sent again for each retransmitted 2xx. */
  private readonly acks = new Map<number, { req: SipRequest; branch?: string; peer?: Peer }>();
  // UAS: the initial INVITE while unanswered.
  private incoming?: IncomingRequest;
  private offCancel?: () => void;
  private refreshing = false;

  constructor(
    private readonly ua: SipEndpoint,
    private readonly o: SessionOptions = {},
  ) {
    super();
    this.on('error', () => undefined);
    this.scheduler = o.scheduler ?? realScheduler;
    this.timerCfg = o.sessionTimer === false ? undefined : o.sessionTimer;
    this.timer = new SessionTimer(this.scheduler, {
      refresh: () => void this.refresh().catch(() => undefined),
      expire: () => void this.expire().catch(() => undefined),
    });
  }

  get state(): SessionState {
    return this._state;
  }

  /** A getter, so that checks after an await read the state anew. */
  private get ended(): boolean {
    return this._state === 'terminated';
  }

  /** The dialog (its ids, remote tag, route set) once there is one. */
  get dialogState(): Readonly<Dialog> | undefined {
    return this.dialog;
  }

  /** The session timer in force: interval (s) and whether we refresh. */
  get sessionTimer(): { interval: number; weRefresh: boolean } | undefined {
    return this.timer.current;
  }

  // ------------------------------------------------------------------ UAC

  /**
   * Sends the INVITE (with a From tag, Call-ID, CSeq and Contact added when
   * missing, and the session timer headers when configured) and resolves at
   * its final response: a 2xx is ACKed and the session confirmed; a 422 is
   * retried once with the Min-SE it asks (RFC 4028 7.4), a 401 / 407 answered
   * with `digest` (at most twice). Rejects only when called on a used session.
   */
  async invite(req: SipRequest, opts: InviteOptions = {}): Promise<InviteOutcome> {
    if (this._state !== 'idle') throw new Error(`invite() in state ${this._state}`);
    this.role = 'uac';
    this.prepareInvite(req);
    const callId = req.headers['call-id'];
    const localTag = String(req.headers.from.params.tag);
    this.unregister = this.ua.dialogs.register(callId, localTag, (r) => this.onInDialog(r));
    if (req.content && /application\/sdp/i.test(String(req.headers['content-type'] ?? ''))) this.localSdp = req.content;
    const exchanges: Exchange[] = [];
    let current = req;
    let timerRetried = false;
    let authRounds = 0;
    for (;;) {
      const exchange = await this.sendInvite(current, opts, exchanges.length === 0);
      exchanges.push(exchange);
      const res = exchange.response;
      if (this.ended || this.pending?.cancelled) break;
      const asked = parseSessionExpires(current)?.interval ?? 0;
      const raised = res.status === 422 && this.timerCfg && !timerRetried ? minSEAfter422(res, asked) : undefined;
      if (raised !== undefined) {
        timerRetried = true;
        this.minSE = raised;
        current = this.nextInvite(current, timerRequestHeaders(this.timerCfg!, { interval: raised, minSE: raised }));
        continue;
      }
      const credentials = (res.status === 401 || res.status === 407) && authRounds++ < 2 ? this.answerChallenge(current, res) : undefined;
      if (!credentials) break;
      current = this.nextInvite(current, credentials);
    }
    const exchange = exchanges[exchanges.length - 1]!;
    const res = exchange.response;
    if (res.status >= 200 && res.status < 300 && !this.ended) {
      const established = await this.onInviteAnswered(current, res, exchange);
      return { established, response: res, exchange, exchanges };
    }
    if (!this.ended) {
      const cause: SessionCause = this.pending?.cancelled && res.status === 487 ? 'cancelled' : 'rejected';
      this.end(cause, { status: res.status, exchange });
    }
    return { established: false, response: res, exchange, exchanges };
  }

  /** CANCEL the INVITE (RFC 3261 9.1): sent at once after a provisional, else when the first one arrives. */
  cancel(): void {
    const inv = this.pending;
    if (!inv || this.role !== 'uac' || (this._state !== 'calling' && this._state !== 'early')) return;
    inv.cancelWanted = true;
    if (inv.provisional) this.sendCancel();
  }

  private prepareInvite(req: SipRequest): void {
    const h = req.headers;
    if (!h.from.params.tag) h.from = { ...h.from, params: { ...h.from.params, tag: newTag() } };
    if (!h['call-id']) h['call-id'] = this.ua.newCallId();
    if (!h.cseq) h.cseq = { seq: 1, method: 'INVITE' };
    if (!h.contact) h.contact = [{ uri: this.ua.contactUri(this.o.contactUser), params: {} }];
    if (this.timerCfg && h['session-expires'] === undefined) Object.assign(h, timerRequestHeaders(this.timerCfg));
    if (!h.via) h.via = [];
  }

  /** The INVITE again after a 422 or a challenge: next CSeq, same Call-ID and From tag (RFC 4028 7.4, RFC 3261 22.2). */
  private nextInvite(prev: SipRequest, headers: SipHeaders): SipRequest {
    const h: SipRequest['headers'] = { ...prev.headers, via: [], cseq: { seq: prev.headers.cseq.seq + 1, method: 'INVITE' } };
    Object.assign(h, headers);
    return { ...prev, headers: h };
  }

  /** Credentials for a 401 / 407 to the INVITE, when the session has a DigestClient. */
  private answerChallenge(req: SipRequest, res: SipResponse): SipHeaders | undefined {
    const digest = this.o.digest;
    if (!digest) return undefined;
    const kind = res.status === 401 ? 'www' : 'proxy';
    const challenges = res.headers[kind === 'www' ? 'www-authenticate' : 'proxy-authenticate'];
    if (!Array.isArray(challenges) || !challenges.length) return undefined;
    const answer = digest.answer(challenges, kind, { method: 'INVITE', uri: req.uri, body: req.content });
    if ('error' in answer) return undefined;
    return { [answer.header]: answer.authorizations.map((a) => ({ ...a.split })) };
  }

  private async sendInvite(req: SipRequest, opts: InviteOptions, first: boolean): Promise<Exchange> {
    const inv = { req, provisional: false, cancelWanted: this.pending?.cancelWanted ?? false, cancelled: false } as NonNullable<typeof this.pending>;
    this.pending = inv;
    if (first) this.setState('calling', 'invite');
    const result = await this.ua.request(req, {
      onSent: (peer) => {
        inv.peer = peer;
      },
      onProvisional: (res, wire) => {
        inv.provisional = true;
        if (res.headers.to.params.tag && !this.dialog) {
          const early = dialogAsUac(req, res);
          if (early) this.dialog = early;
        }
        if (this._state === 'calling' && this.dialog) this.setState('early', 'provisional', { status: res.status, exchange: { request: req, requestWire: '', response: res, responseWire: wire } });
        if (inv.cancelWanted && !inv.cancelled) this.sendCancel();
        try {
          opts.onProvisional?.(res, wire);
        } catch {
          // the caller's callback must not break the transaction
        }
      },
      onRetransmittedFinal: (res) => this.reAck(res),
    });
    if (inv.giveUp !== undefined) this.scheduler.clear(inv.giveUp);
    return { request: req, requestWire: result.requestWire, response: result.response, responseWire: result.responseWire };
  }

  private sendCancel(): void {
    const inv = this.pending;
    if (!inv || inv.cancelled) return;
    inv.cancelled = true;
    const r = inv.req;
    const cancel: SipRequest = {
      method: 'CANCEL',
      uri: r.uri,
      version: '2.0',
      headers: {
        via: [],
        to: { ...r.headers.to, params: { ...r.headers.to.params } },
        from: r.headers.from,
        'call-id': r.headers['call-id'],
        cseq: { seq: r.headers.cseq.seq, method: 'CANCEL' },
        'max-forwards': '70',
      },
    };
    delete cancel.headers.to.params.tag;
    if (r.headers.route) cancel.headers.route = r.headers.route;
    // Same branch and next hop as the INVITE: the CANCEL must meet its transaction at every hop.
    const branch = r.headers.via[0]?.params.branch ?? undefined;
    void this.ua.request(cancel, { target: inv.peer, branch: branch ?? undefined });
    // 9.1: a callee that answers neither CANCEL nor INVITE must not hold the INVITE for ever.
    const giveUp = this.scheduler.set(() => {
      if (this.pending === inv) this.ua.abandon(r, 487, 'Request Terminated (no final response after CANCEL)');
    }, 64 * this.ua.timers.t1);
    inv.giveUp = giveUp;
  }

  private async onInviteAnswered(req: SipRequest, res: SipResponse, exchange: Exchange): Promise<boolean> {
    const d = dialogAsUac(req, res);
    if (!d) {
      // No Contact or To tag: no dialog to ACK or BYE in. Nothing more can be done on our side.
      this.end('rejected', { status: res.status, exchange });
      return false;
    }
    this.dialog = d;
    if (res.content) this.remoteSdp = res.content;
    const ackWire = await this.sendAck(req.headers.cseq.seq);
    if (this.timerCfg !== undefined || parseSessionExpires(res)) this.armFrom(negotiatedByResponse(res), 'uac');
    this.setState('confirmed', 'answered', { status: res.status, exchange, ackWire });
    if (this.pending?.cancelled) {
      // CANCEL lost the race with the 2xx (RFC 3261 9.1): the session is up, so it ends with BYE.
      await this.bye();
    }
    return this._state === 'confirmed';
  }

  /** ACK for the 2xx of the INVITE with CSeq `seq`: a request of its own, through the route set (13.2.2.4). */
  private async sendAck(seq: number): Promise<string | undefined> {
    const d = this.dialog!;
    const ack = inDialogRequest({ ...d, localSeq: seq - 1 }, 'ACK');
    ack.headers['max-forwards'] = '70';
    const entry: { req: SipRequest; branch?: string; peer?: Peer } = { req: ack };
    this.acks.set(seq, entry);
    try {
      const sent = await this.ua.sendStateless(ack);
      entry.branch = String(ack.headers.via[0]?.params.branch ?? '');
      entry.peer = sent.peer;
      return sent.requestWire;
    } catch {
      return undefined; // next hop unreachable: the peer's 2xx retransmissions will find us again
    }
  }

  /** A 2xx arrived again: its ACK was lost, send the same ACK again (13.2.2.4). */
  private reAck(res: SipResponse): void {
    if (res.status < 200 || res.status >= 300) return;
    const a = this.acks.get(res.headers.cseq.seq);
    if (!a) return;
    this.ua.sendStateless(a.req, { target: a.peer, branch: a.branch }).catch(() => undefined);
  }

  // ------------------------------------------------------------------ UAS

  /**
   * Takes an incoming INVITE: the dialog is set up with the endpoint's To tag,
   * a session interval below our Min-SE is refused with 422 at once (the
   * session then ends 'rejected'). Answer with `progress()`, `accept()` or `reject()`.
   */
  static answering(ua: SipEndpoint, req: IncomingRequest, o: SessionOptions = {}): InviteSession {
    const s = new InviteSession(ua, o);
    s.takeInvite(req);
    return s;
  }

  private takeInvite(req: IncomingRequest): void {
    this.role = 'uas';
    this.incoming = req;
    const m = req.message;
    if (m.content) this.remoteSdp = m.content;
    this.dialog = dialogAsUas(m, req.toTag);
    this.setState('calling', 'invite', { exchange: { request: m, requestWire: req.wire, response: makeResponse(m, 100) } });
    if (!this.dialog) {
      // Without a Contact (or From tag) there is nowhere to send BYE or a refresh: no session (RFC 3261 8.1.1.8).
      this.reject(400, { reason: 'Bad Request (INVITE without Contact)' });
      return;
    }
    this.unregister = this.ua.dialogs.register(this.dialog.callId, req.toTag, (r) => this.onInDialog(r));
    const onCancel = (cancelled: SipRequest) => {
      if (cancelled !== m) return;
      this.end('cancelled', { status: 487 });
    };
    this.ua.on('cancel', onCancel);
    this.offCancel = () => this.ua.off('cancel', onCancel);
    if (this.o.sessionTimer !== false) {
      const d = negotiateAsUas(m, this.timerCfg ?? {});
      if (d.kind === 'reject') this.reject(422, { headers: { 'min-se': String(d.minSE) } });
    }
  }

  /** A provisional response (180, 183) to the INVITE; with a To tag, so the dialog is early. */
  progress(status = 180, opts: ResponseOptions = {}): void {
    const r = this.incoming;
    if (!r || r.responded || status < 101 || status > 199) return;
    const full = this.responseOptions(opts, r.message);
    r.respond(status, full);
    this.setState('early', 'provisional', { status, exchange: this.uasExchange(r, status, full) });
  }

  /** The 2xx to the INVITE, with our SDP answer; retransmitted until the ACK, BYE after 64*T1 without it. */
  accept(opts: ResponseOptions & { sdp?: string } = {}): void {
    const r = this.incoming;
    if (!r || r.responded) return;
    const sdp = opts.sdp ?? opts.body;
    if (sdp !== undefined) this.localSdp = sdp;
    const timerHeaders = this.negotiateIncoming(r.message);
    if (timerHeaders === undefined) return; // answered 422
    const full = this.responseOptions({ ...opts, body: sdp, contentType: sdp !== undefined ? (opts.contentType ?? SDP) : opts.contentType, headers: { ...timerHeaders.headers, ...opts.headers } }, r.message);
    r.respondUntilAck(200, full, () => {
      if (this._state === 'accepted') void this.byeAfter('no-ack').catch(() => undefined);
    });
    this.incoming = undefined;
    this.offCancel?.();
    this.setState('accepted', 'answered', { status: 200, exchange: this.uasExchange(r, 200, full) });
    this.armFrom(timerHeaders.negotiated, 'uas');
  }

  /** A final failure response to the INVITE (486, 480, 603, 488...). */
  reject(status: number, opts: ResponseOptions = {}): void {
    const r = this.incoming;
    if (!r || r.responded || status < 300) return;
    r.respond(status, opts);
    this.incoming = undefined;
    this.end('rejected', { status, exchange: this.uasExchange(r, status, opts) });
  }

  /** RFC 4028 for an INVITE or UPDATE we answer: the headers of our 2xx, or undefined after answering 422. */
  private negotiateIncoming(m: SipRequest, r: IncomingRequest | undefined = this.incoming): { headers: Record<string, string>; negotiated?: Negotiated } | undefined {
    if (this.o.sessionTimer === false) return { headers: {} };
    const d = negotiateAsUas(m, this.timerCfg ?? {});
    if (d.kind === 'reject') {
      r?.respond(422, { headers: { 'min-se': String(d.minSE) } });
      return undefined;
    }
    return { headers: { supported: 'timer', ...d.headers }, negotiated: d.negotiated };
  }

  /** Our Contact and headers; for the dialog-creating INVITE also its Record-Route (RFC 3261 12.1.1), so the caller learns the route set. */
  private responseOptions(opts: ResponseOptions, creating?: SipRequest): ResponseOptions {
    const rr = creating?.headers['record-route'];
    return {
      ...opts,
      headers: {
        contact: [{ uri: this.ua.contactUri(this.o.contactUser), params: {} }],
        ...(rr?.length ? { 'record-route': rr } : {}),
        ...this.o.headers,
        ...opts.headers,
      },
    };
  }

  /** The exchange of a response we sent, rebuilt as the endpoint built it (for msg.sip). */
  private uasExchange(r: IncomingRequest, status: number, opts: ResponseOptions): Exchange {
    const response = makeResponse(r.message, status, { toTag: r.toTag, ...opts });
    return { request: r.message, requestWire: r.wire, response, responseWire: encode(response) };
  }

  // ------------------------------------------------------------------ in the dialog

  /** A re-INVITE with a new offer (default our last SDP); the session timer restarts from its 2xx. */
  async reInvite(sdp?: string, opts: InDialogOptions = {}): Promise<Exchange> {
    const body = sdp ?? this.localSdp;
    if (sdp !== undefined) this.localSdp = sdp;
    return this.refreshWith('INVITE', { ...opts, body, contentType: body !== undefined ? SDP : undefined });
  }

  /** An UPDATE (RFC 3311), with an offer when `sdp` is given; the session timer restarts from its 2xx. */
  async update(sdp?: string, opts: InDialogOptions = {}): Promise<Exchange> {
    if (sdp !== undefined) this.localSdp = sdp;
    return this.refreshWith('UPDATE', { ...opts, body: sdp, contentType: sdp !== undefined ? SDP : undefined });
  }

  /** Ends the session with BYE (or CANCEL while the INVITE is pending). */
  async bye(): Promise<Exchange | undefined> {
    if (this._state === 'calling' || this._state === 'early') {
      if (this.role === 'uac') this.cancel();
      else this.reject(480);
      return undefined;
    }
    return this.byeAfter('local-bye');
  }

  /** Any other request in the dialog (INFO, MESSAGE...). A 481 or 408 ends the session. */
  async request(method: string, opts: InDialogOptions = {}): Promise<Exchange> {
    const d = this.dialog;
    if (!d || this.ended) throw new Error(`no dialog for ${method} (state ${this._state})`);
    const req = inDialogRequest(d, method);
    Object.assign(req.headers, this.o.headers, opts.headers);
    if (method === 'INVITE' || method === 'UPDATE') req.headers.contact = [{ uri: this.ua.contactUri(this.o.contactUser), params: {} }];
    if (opts.body !== undefined) {
      req.content = opts.body;
      req.headers['content-type'] = opts.contentType ?? 'text/plain';
    }
    const result = await this.ua.request(req, method === 'INVITE' ? { onRetransmittedFinal: (res) => this.reAck(res) } : {});
    const exchange: Exchange = { request: req, requestWire: result.requestWire, response: result.response, responseWire: result.responseWire };
    const status = result.response.status;
    if (method === 'INVITE' && status >= 200 && status < 300) await this.sendAck(req.headers.cseq.seq);
    if (status >= 200 && status < 300 && (method === 'INVITE' || method === 'UPDATE')) refreshTarget(d, result.response);
    if ((status === 481 || status === 408) && method !== 'BYE' && !this.ended) {
      // RFC 4028 10: a refresh answered 408 or 481 (or timed out) ends the session with BYE, as
      // RFC 3261 12.2.1.2 ends the dialog; a proxy on the path lets go of its state too.
      if (status === 408 || method === 'INVITE' || method === 'UPDATE') await this.sendBye().catch(() => undefined);
      this.end('refresh-failed', { status, exchange });
    }
    return exchange;
  }

  /** Stops the timers and leaves the dialog without sending anything (the endpoint is closing). */
  close(): void {
    if (!this.ended) this.end('closed', {});
  }

  private async refreshWith(method: 'INVITE' | 'UPDATE', opts: InDialogOptions): Promise<Exchange> {
    const interval = this.timer.current?.interval;
    const timerHeaders = this.timerCfg || interval ? timerRequestHeaders(this.timerCfg ?? {}, { interval, minSE: this.minSE, refresher: 'uac' }) : {};
    let exchange = await this.request(method, { ...opts, headers: { ...timerHeaders, ...opts.headers } });
    const raised = exchange.response.status === 422 ? minSEAfter422(exchange.response, interval ?? 0) : undefined;
    if (raised !== undefined && !this.ended) {
      this.minSE = raised;
      exchange = await this.request(method, { ...opts, headers: { ...timerRequestHeaders(this.timerCfg ?? {}, { interval: raised, minSE: raised, refresher: 'uac' }), ...opts.headers } });
    }
    const res = exchange.response;
    if (res.status >= 200 && res.status < 300 && !this.ended) {
      if (res.content) this.remoteSdp = res.content;
      // In this transaction we are the UAC; no Session-Expires in the 2xx ends the timer (RFC 4028 7.2).
      this.armFrom(negotiatedByResponse(res), 'uac');
    }
    this.emit('refresh', { by: 'us', method, exchange, interval: this.timer.current?.interval } satisfies RefreshEvent);
    return exchange;
  }

  /** RFC 4028 10: the refresher refreshes at half the interval. */
  private async refresh(): Promise<void> {
    if (this._state !== 'confirmed' && this._state !== 'accepted') return;
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      const method = this.timerCfg?.method ?? 'UPDATE';
      if (method === 'INVITE') await this.reInvite();
      else await this.update();
    } finally {
      this.refreshing = false;
    }
  }

  /** RFC 4028 10: no refresh came in time: BYE. */
  private async expire(): Promise<void> {
    if (this.ended) return;
    await this.byeAfter('session-expired');
  }

  private armFrom(n: Negotiated | undefined, ourRoleInTransaction: 'uac' | 'uas'): void {
    if (!n) {
      this.timer.stop();
      return;
    }
    this.timer.arm(n.interval, n.refresher === ourRoleInTransaction);
  }

  private async sendBye(): Promise<Exchange | undefined> {
    const d = this.dialog;
    if (!d) return undefined;
    const req = inDialogRequest(d, 'BYE');
    Object.assign(req.headers, this.o.headers);
    const result = await this.ua.request(req);
    return { request: req, requestWire: result.requestWire, response: result.response, responseWire: result.responseWire };
  }

  private async byeAfter(cause: SessionCause): Promise<Exchange | undefined> {
    if (this.ended || !this.dialog) return undefined;
    this.timer.stop();
    const exchange = await this.sendBye();
    if (!this.ended) this.end(cause, { status: exchange?.response.status, exchange });
    return exchange;
  }

  private onInDialog(r: IncomingRequest): void {
    const m = r.message;
    const d = this.dialog;
    if (m.method === 'ACK') {
      if (this.role === 'uas' && this._state === 'accepted') {
        if (m.content) this.remoteSdp = m.content;
        this.setState('confirmed', 'acknowledged', { ackWire: r.wire });
      }
      return;
    }
    if (!d || this.ended) return void r.respond(481);
    if (!acceptRemoteSeq(d, m)) return void r.respond(500, { reason: 'Server Internal Error (CSeq out of order)', headers: { 'retry-after': '1' } });
    switch (m.method) {
      case 'BYE': {
        r.respond(200);
        this.end('remote-bye', { status: 200, exchange: this.uasExchange(r, 200, {}) });
        return;
      }
      case 'INVITE':
      case 'UPDATE':
        this.answerRefresh(r);
        return;
      default:
        if (this.listenerCount('request')) this.emit('request', r);
        else r.respond(405, { headers: { allow: 'INVITE, ACK, CANCEL, BYE, UPDATE' } });
    }
  }

  /** A re-INVITE or UPDATE from the peer: answer its offer, restart the session timer as its 2xx says. */
  private answerRefresh(r: IncomingRequest): void {
    const m = r.message;
    const timerHeaders = this.negotiateIncoming(m, r);
    if (timerHeaders === undefined) return;
    refreshTarget(this.dialog!, m);
    let body: string | undefined;
    if (m.content) {
      this.remoteSdp = m.content;
      body = this.o.answerOffer?.(m.content, m.method) ?? this.localSdp;
    } else if (m.method === 'INVITE') body = this.localSdp; // an offerless re-INVITE: our offer goes in the 2xx
    if (body !== undefined) this.localSdp = body;
    const opts = this.responseOptions({ body, contentType: body !== undefined ? SDP : undefined, headers: timerHeaders.headers });
    if (m.method === 'INVITE') {
      r.respondUntilAck(200, opts, () => void this.byeAfter('no-ack').catch(() => undefined));
    } else r.respond(200, opts);
    this.armFrom(timerHeaders.negotiated, 'uas');
    this.emit('refresh', { by: 'peer', method: m.method, exchange: this.uasExchange(r, 200, opts), interval: this.timer.current?.interval } satisfies RefreshEvent);
  }

  private setState(state: SessionState, cause: SessionCause, extra: Omit<SessionEvent, 'state' | 'cause'> = {}): void {
    this._state = state;
    this.emit('state', { state, cause, ...extra } satisfies SessionEvent);
  }

  private end(cause: SessionCause, extra: Omit<SessionEvent, 'state' | 'cause'>): void {
    if (this.ended) return;
    this.timer.stop();
    this.offCancel?.();
    this.incoming = undefined;
    // Late requests of this dialog (a BYE crossing ours) still find it for a while: answered 481 by the endpoint after.
    this.unregister?.();
    this.setState('terminated', cause, extra);
  }
}
