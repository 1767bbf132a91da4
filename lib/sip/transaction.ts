// Client and server transactions (RFC 3261 17, with RFC 6026's Accepted
// states for INVITE). Written here rather than taken from the `sip` package:
// its branch values come from Math.random over a million values, which
// collide under load and make a core treat two users' REGISTERs as one.
import { encode } from './codec';
import type { SipRequest, SipResponse } from './message';
import { makeResponse } from './responses';
import { transactionTimeout, type TimerValues } from './timers';
import type { Peer } from './transport';
import { realScheduler, type Scheduler } from '../util/scheduler';

export interface TransactionWire {
  send(peer: Peer, wire: string): void;
  timers: TimerValues;
  /** Time for timers A-M; tests pass a fake clock. Default the real one. */
  scheduler?: Scheduler;
}

type Handle = unknown;

function clock(host: TransactionWire): Scheduler {
  return host.scheduler ?? realScheduler;
}

export type ResponseListener = (res: SipResponse, wire?: string) => void;

function reliable(peer: Peer): boolean {
  return peer.protocol !== 'udp';
}

export function clientKey(branch: string, method: string): string {
  return branch + '|' + method;
}

export class ClientTransaction {
  private state: 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated' = 'calling';
  private retransmit?: Handle;
  private timeout?: Handle;
  private linger?: Handle;
  private interval: number;
  private readonly wire: string;
  private readonly invite: boolean;
  private ackWire?: string;

  constructor(
    private readonly host: TransactionWire,
    readonly request: SipRequest,
    readonly peer: Peer,
    private readonly onResponse: ResponseListener,
    private readonly onTerminated: () => void,
  ) {
    this.invite = request.method === 'INVITE';
    this.interval = host.timers.t1;
    this.wire = encode(request);
  }

  get key(): string {
    return clientKey(String(this.request.headers.via[0]?.params.branch), this.request.headers.cseq.method);
  }

  /** Wire text of the request as sent, for logs and `msg.sip`. */
  get requestWire(): string {
    return this.wire;
  }

  start(): void {
    this.host.send(this.peer, this.wire);
    if (!reliable(this.peer)) this.scheduleRetransmit();
    this.timeout = clock(this.host).set(() => this.fail(408, 'Request Timeout'), transactionTimeout(this.host.timers));
  }

  private scheduleRetransmit(): void {
    this.retransmit = clock(this.host).set(() => {
      if (this.state !== 'calling' && this.state !== 'proceeding') return;
      // Timer A doubles without cap for INVITE; Timer E caps at T2 (17.1.2.2).
      if (this.invite && this.state === 'proceeding') return;
      this.host.send(this.peer, this.wire);
      this.interval = this.invite ? this.interval * 2 : Math.min(this.interval * 2, this.host.timers.t2);
      this.scheduleRetransmit();
    }, this.interval);
  }

  receive(res: SipResponse, wire: string): void {
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (res.status < 200) {
          this.state = 'proceeding';
          // 17.1.1.2: a provisional stops Timer A and Timer B; the INVITE may now ring for ever (the UAC cancels).
          if (this.invite) this.clearTimers();
          if (!this.invite && !reliable(this.peer)) {
            // In Proceeding, Timer E fires at T2 (17.1.2.2).
            this.interval = this.host.timers.t2;
          }
          this.onResponse(res, wire);
          return;
        }
        this.clearTimers();
        if (this.invite && res.status < 300) {
          // 2xx ends the INVITE transaction's job; the dialog ACKs it (RFC 6026).
          this.state = 'accepted';
          this.onResponse(res, wire);
          this.lingerFor(transactionTimeout(this.host.timers));
          return;
        }
        this.state = 'completed';
        if (this.invite) this.sendAck(res);
        this.onResponse(res, wire);
        // Timer D keeps an INVITE transaction to ACK retransmitted final
        // responses. Timer K of a non-INVITE one only absorbs them, and the
        // endpoint drops responses no transaction claims, so ending now is
        // the same on the wire and frees the transaction at once (under load,
        // 5 s of finished transactions is most of the live memory).
        this.lingerFor(this.invite && !reliable(this.peer) ? 32000 : 0);
        return;
      case 'accepted':
        if (res.status >= 200 && res.status < 300) this.onResponse(res, wire);
        return;
      case 'completed':
        if (this.ackWire) this.host.send(this.peer, this.ackWire);
        return;
      default:
        return;
    }
  }

  /** Ends the transaction with a locally generated response (timeout, transport failure). */
  fail(status: number, reason: string): void {
    if (this.state !== 'calling' && this.state !== 'proceeding') return;
    this.onResponse(makeResponse(this.request, status, { reason }));
    this.terminate();
  }

  private sendAck(res: SipResponse): void {
    // ACK for a non-2xx final response is part of the transaction (17.1.1.3).
    const rq = this.request;
    const ack: SipRequest = {
      method: 'ACK',
      uri: rq.uri,
      version: '2.0',
      headers: {
        via: [rq.headers.via[0]],
        to: res.headers.to,
        from: rq.headers.from,
        'call-id': rq.headers['call-id'],
        cseq: { seq: rq.headers.cseq.seq, method: 'ACK' },
        'max-forwards': '70',
      },
    };
    if (rq.headers.route) ack.headers.route = rq.headers.route;
    this.ackWire = encode(ack);
    this.host.send(this.peer, this.ackWire);
  }

  private lingerFor(ms: number): void {
    if (ms <= 0) {
      this.terminate();
      return;
    }
    this.linger = clock(this.host).set(() => this.terminate(), ms);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.clearTimers();
    if (this.linger !== undefined) clock(this.host).clear(this.linger);
    this.onTerminated();
  }

  private clearTimers(): void {
    if (this.retransmit !== undefined) clock(this.host).clear(this.retransmit);
    if (this.timeout !== undefined) clock(this.host).clear(this.timeout);
    this.retransmit = undefined;
    this.timeout = undefined;
  }
}

/** RFC 3261 branches start with this; others come from RFC 2543 agents (17.2.3). */
const MAGIC_COOKIE = 'z9hG4bK';

/**
 * The server transaction a request belongs to (RFC 3261 17.2.3). With the
 * magic cookie: branch, sent-by and method (ACK and CANCEL find their INVITE
 * by passing it as the method). Without it, the RFC 2543 rule: Request-URI,
 * From tag, Call-ID, CSeq number and the top Via; the To tag too, except for
 * INVITE and its ACK, whose To tag is ours from the response and absent from
 * an initial INVITE.
 */
export function serverKey(req: SipRequest): string {
  const via = req.headers.via[0];
  const method = req.method === 'ACK' ? 'INVITE' : req.method;
  const branch = via?.params.branch;
  const sentBy = `${via?.host}:${via?.port ?? ''}`;
  if (branch && branch.startsWith(MAGIC_COOKIE)) return `${branch}|${sentBy}|${method}`;
  const h = req.headers;
  const toTag = method === 'INVITE' ? '' : (h.to?.params.tag ?? '');
  return [
    'rfc2543', req.uri, h.from?.params.tag ?? '', toTag, h['call-id'], h.cseq?.seq, method,
    `${via?.protocol}/${sentBy}`, branch ?? '',
  ].join('|');
}

export class ServerTransaction {
  private state: 'trying' | 'proceeding' | 'completed' | 'accepted' | 'confirmed' | 'terminated' = 'trying';
  private lastWire?: string;
  // Held only until the final response: afterwards retransmissions need just
  // its wire text, and a flood of requests must not stay in memory for 64*T1.
  private req?: SipRequest;
  private retransmit?: Handle;
  private timeout?: Handle;
  private silence?: NodeJS.Timeout;
  private interval: number;
  /** A 2xx that this side retransmits until its ACK arrives (13.3.1.4); undefined once acknowledged. */
  private unacknowledged?: { onGiveUp?: () => void };
  readonly invite: boolean;
  /** The To tag of every response of this transaction, so retransmissions agree. */
  readonly toTag: string;

  constructor(
    private readonly host: TransactionWire,
    request: SipRequest,
    readonly peer: Peer,
    toTag: string,
    private readonly onTerminated: () => void,
    /** Called once, at the final response or at termination without one. */
    private readonly onFinal?: () => void,
  ) {
    this.req = request;
    this.invite = request.method === 'INVITE';
    this.interval = host.timers.t1;
    this.toTag = toTag;
  }

  /** The request, until the final response has been sent. */
  get request(): SipRequest | undefined {
    return this.req;
  }

  get finished(): boolean {
    return this.state !== 'trying' && this.state !== 'proceeding';
  }

  /** True while a 2xx to INVITE sent by this side's UAS core waits for its ACK. */
  get awaitingAck(): boolean {
    return this.unacknowledged !== undefined;
  }

  private final(): void {
    if (!this.req) return;
    this.req = undefined;
    if (this.silence) clearTimeout(this.silence);
    this.silence = undefined;
    this.onFinal?.();
  }

  /**
   * Runs `onSilence` when no final response has been sent within `ms` (an
   * application that took the request and never answered). Stopped at the
   * final response, so that answered transactions do not keep a timer each
   * for as long as the timer would have run.
   */
  watchdog(ms: number, onSilence: () => void): void {
    if (!this.req) return;
    if (this.silence) clearTimeout(this.silence);
    this.silence = setTimeout(() => {
      this.silence = undefined;
      onSilence();
    }, ms);
    this.silence.unref();
  }

  /**
   * Sends a response. With `untilAck` (a UAS core's own 2xx to INVITE) the 2xx
   * is sent again at T1, 2*T1 ... capped at T2 until `ackFor2xx()`, and after
   * 64*T1 without ACK `onGiveUp` reports the session as failed (13.3.1.4).
   * A proxy relays 2xx without it: the UAS behind it retransmits.
   */
  respond(res: SipResponse, untilAck?: { onGiveUp?: () => void }): string | undefined {
    if (this.finished && !(this.state === 'accepted' && res.status >= 200 && res.status < 300)) return undefined;
    const wire = encode(res);
    this.lastWire = wire;
    this.host.send(this.peer, wire);
    if (res.status < 200) {
      this.state = 'proceeding';
      return wire;
    }
    if (this.state === 'accepted') return wire; // a 2xx retransmission relayed from downstream
    this.final();
    const long = transactionTimeout(this.host.timers);
    if (this.invite && res.status < 300) {
      // RFC 6026 Accepted: copies of the INVITE are absorbed; 2xx retransmissions pass.
      this.state = 'accepted';
      if (untilAck) {
        this.unacknowledged = untilAck;
        this.scheduleRetransmit();
      }
      this.armTimeout(long);
    } else if (this.invite) {
      this.state = 'completed';
      if (!reliable(this.peer)) this.scheduleRetransmit(); // Timer G
      this.armTimeout(long); // Timer H
    } else {
      this.state = 'completed';
      this.armTimeout(reliable(this.peer) ? 0 : long); // Timer J
    }
    return wire;
  }

  private scheduleRetransmit(): void {
    this.retransmit = clock(this.host).set(() => {
      const resend = this.state === 'completed' || (this.state === 'accepted' && this.unacknowledged);
      if (!resend || !this.lastWire) return;
      this.host.send(this.peer, this.lastWire);
      this.interval = Math.min(this.interval * 2, this.host.timers.t2);
      this.scheduleRetransmit();
    }, this.interval);
  }

  private armTimeout(ms: number): void {
    if (this.timeout !== undefined) clock(this.host).clear(this.timeout);
    if (ms <= 0) {
      this.terminate();
      return;
    }
    this.timeout = clock(this.host).set(() => this.terminate(), ms);
  }

  /** A retransmitted request: answer with the last response again (17.2.1, 17.2.2). */
  retransmission(): void {
    if (this.lastWire && this.state !== 'accepted') this.host.send(this.peer, this.lastWire);
  }

  /** ACK for a non-2xx final response (17.2.1); returns true when it belonged here. */
  ack(): boolean {
    if (this.state !== 'completed' || !this.invite) return this.state === 'confirmed';
    this.state = 'confirmed';
    if (this.retransmit !== undefined) clock(this.host).clear(this.retransmit);
    this.armTimeout(reliable(this.peer) ? 0 : this.host.timers.t4); // Timer I
    return true;
  }

  /** The ACK for our 2xx arrived (end to end, its own branch): stop sending the 2xx. */
  ackFor2xx(): void {
    if (!this.unacknowledged) return;
    this.unacknowledged = undefined;
    if (this.retransmit !== undefined) clock(this.host).clear(this.retransmit);
  }

  /** Ends the transaction; `quiet` (the endpoint closing) reports no missing ACK. */
  terminate(quiet = false): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    if (this.retransmit !== undefined) clock(this.host).clear(this.retransmit);
    if (this.timeout !== undefined) clock(this.host).clear(this.timeout);
    this.final();
    const lost = this.unacknowledged;
    this.unacknowledged = undefined;
    this.onTerminated();
    if (!quiet) lost?.onGiveUp?.();
  }
}
