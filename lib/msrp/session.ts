// One MSRP session (RFC 4975) over one TCP connection.
//
// The session is what SDP negotiated: our URI (our a=path), the peer's a=path
// and who connects (a=setup, RFC 6135). An active session connects to the
// first hop of the peer's path and binds the connection with an empty SEND
// (RFC 4975 5.4); a passive one is handed its connection by an MsrpListener.
// Every request must be addressed to our URI and come from the peer's path,
// or it gets 481. Messages leave in chunks and are resolved when every chunk
// got its 200 (and the success report, when one was asked for); messages
// that arrive are put together again, delivered once, and acknowledged.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { randomHex } from '../util/random';
import { realScheduler } from '../util/scheduler';
import type { Scheduler } from '../util/scheduler';
import { chunkMessage } from './chunker';
import type { MsrpStatus } from './fields';
import { DEFAULT_FRAME_LIMITS, MsrpFrameError, MsrpFrameParser, writeRequest, writeResponse } from './frame';
import type { FrameLimits, MsrpHeader, MsrpRequest, MsrpResponse, ParseEvent } from './frame';
import { DEFAULT_REASSEMBLY_LIMITS, MessageIdMemory, Reassembler } from './reassembly';
import type { ReassemblyLimits } from './reassembly';
import { parseMsrpUri, samePath } from './uri';

export type MsrpConnectionRole = 'active' | 'passive';

export interface MsrpSessionOptions {
  /** Our session URI, the one in our a=path. */
  localUri: string;
  /** The peer's a=path; may be given later with setRemotePath (an offerer learns it from the answer). */
  remotePath?: string[];
  /** active: we connect; passive: a listener hands us the peer's connection. */
  setup: MsrpConnectionRole;
  /** Largest body of one outgoing SEND. Default 2048. */
  chunkSize?: number;
  frameLimits?: FrameLimits;
  reassemblyLimits?: ReassemblyLimits;
  /** Message-IDs already delivered; share one between sessions to drop redeliveries. */
  delivered?: MessageIdMemory;
  /** How long a transaction waits for its response (RFC 4975 7.1.1: 30 s). */
  transactionTimeoutMs?: number;
  /** How long a sent message waits for the success report it asked for. */
  reportTimeoutMs?: number;
  scheduler?: Scheduler;
  /**
   * Consulted for each complete message before its last chunk is answered:
   * a refusal answers that chunk with its status instead of 200 (RFC 4975:
   * 400 unintelligible, 415 type not taken), sends no success report, emits
   * no 'message' and forgets the Message-ID, so the sender keeps the message
   * and may send it again. Must be synchronous and must not throw.
   */
  accept?: MsrpAcceptor;
}

/** Why a complete message is refused: the MSRP status for its last chunk and the reason for the log. */
export interface MsrpRefusal {
  status: 400 | 415;
  reason: string;
}

export type MsrpAcceptor = (m: MsrpIncomingMessage) => MsrpRefusal | undefined;

export interface MsrpIncomingMessage {
  messageId: string;
  contentType: string;
  body: Buffer;
}

export interface MsrpSendOptions {
  messageId?: string;
  /** Ask for a success REPORT and resolve only when it came. */
  successReport?: boolean;
  /** 'no': the peer sends no 200, so the promise resolves once written. */
  failureReport?: 'yes' | 'no';
  /** Further MIME headers put on every chunk before Content-Type. */
  headers?: MsrpHeader[];
}

export interface MsrpSendResult {
  messageId: string;
  bytes: number;
  chunks: number;
  /** The Status of the success report, when one was asked for. */
  report?: MsrpStatus;
}

export interface MsrpCloseInfo {
  /** The peer closed or the connection broke, rather than close() here. */
  byPeer: boolean;
  error?: Error;
}

/** A transaction or report that failed: the MSRP status (408 for a timeout) and why. */
export class MsrpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'MsrpError';
  }
}

type State = 'idle' | 'connecting' | 'bound' | 'closed';

interface Transaction {
  deadline: number;
  settle(code: number, comment?: string): void;
}

interface Outgoing {
  messageId: string;
  bytes: number;
  chunks: number;
  unacked: number;
  wantReport: boolean;
  report?: MsrpStatus;
  resolve(r: MsrpSendResult): void;
  reject(e: Error): void;
}

const MAX_HELD_REQUESTS = 1000;

export interface MsrpSession {
  on(event: 'message', fn: (m: MsrpIncomingMessage) => void): this;
  on(event: 'duplicate', fn: (messageId: string) => void): this;
  on(event: 'refused', fn: (err: Error, code: number) => void): this;
  on(event: 'connected', fn: () => void): this;
  on(event: 'error', fn: (err: Error) => void): this;
  on(event: 'close', fn: (info: MsrpCloseInfo) => void): this;
}

/**
 * Events: `message` (a complete message, once per Message-ID), `duplicate`
 * (a message delivered before, answered but not delivered again), `refused`
 * (a request we answered with an error, for the log), `connected`, `error`
 * (only with a listener: the connection broke or closed with work
 * outstanding, or a fatal framing error), `close`.
 */
export class MsrpSession extends EventEmitter {
  readonly localUri: string;
  readonly sessionId: string;
  readonly setup: MsrpConnectionRole;
  private remote: string[] | undefined;
  private state: State = 'idle';
  private socket: net.Socket | undefined;
  private parser: MsrpFrameParser | undefined;
  private readonly reassembler: Reassembler;
  private readonly transactions = new Map<string, Transaction>(); // insertion order is deadline order
  private readonly outgoing = new Map<string, Outgoing>();
  private readonly awaitingReport = new Map<string, number>(); // messageId -> deadline
  private readonly held: MsrpRequest[] = [];
  private timer: unknown;
  private unsent: Buffer[] = [];
  private readonly chunkSize: number;
  private readonly frameLimits: FrameLimits;
  private readonly transactionTimeoutMs: number;
  private readonly reportTimeoutMs: number;
  private readonly scheduler: Scheduler;
  private readonly acceptor: MsrpAcceptor | undefined;
  private readonly readyPromise: Promise<void>;
  private markReady!: () => void;
  private markFailed!: (e: Error) => void;

  constructor(opts: MsrpSessionOptions) {
    super();
    this.localUri = opts.localUri;
    this.sessionId = parseMsrpUri(opts.localUri).sessionId;
    this.setup = opts.setup;
    if (opts.remotePath) this.setRemotePath(opts.remotePath);
    this.chunkSize = opts.chunkSize ?? 2048;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1) throw new Error(`bad MSRP chunk size ${opts.chunkSize}`);
    this.frameLimits = opts.frameLimits ?? DEFAULT_FRAME_LIMITS;
    this.reassembler = new Reassembler(opts.reassemblyLimits ?? DEFAULT_REASSEMBLY_LIMITS, opts.delivered ?? new MessageIdMemory());
    this.transactionTimeoutMs = opts.transactionTimeoutMs ?? 30_000;
    this.reportTimeoutMs = opts.reportTimeoutMs ?? 30_000;
    this.scheduler = opts.scheduler ?? realScheduler;
    this.acceptor = opts.accept;
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.markFailed = reject;
    });
    this.readyPromise.catch(() => undefined); // read through ready(); never unhandled
  }

  get remotePath(): string[] | undefined {
    return this.remote;
  }

  get connected(): boolean {
    return this.state === 'bound';
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Bytes held for messages not yet complete (both ways of the budget). */
  get bufferedBytes(): number {
    return this.reassembler.bufferedBytes + (this.parser?.bufferedBytes ?? 0);
  }

  /** The peer's a=path, from its offer or answer; every URI must be an MSRP URI. */
  setRemotePath(path: string[]): void {
    if (path.length === 0) throw new Error('the peer path is empty');
    for (const uri of path) parseMsrpUri(uri);
    this.remote = [...path];
    if (this.held.length > 0) {
      const held = this.held.splice(0);
      for (const req of held) this.onRequest(req);
    }
  }

  /** Resolves once a connection is bound to the session; rejects if it closes first. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Active side: connect to the first hop of the peer's path and bind the connection with an empty SEND. */
  async connect(): Promise<void> {
    if (this.setup !== 'active') throw new Error('a passive MSRP session waits for the peer to connect');
    if (this.state !== 'idle') throw new Error(`MSRP session cannot connect when ${this.state}`);
    if (!this.remote) throw new Error('the peer path is not known yet');
    const hop = parseMsrpUri(this.remote[0]);
    this.state = 'connecting';
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: hop.host, port: hop.port });
      const fail = (e: Error): void => reject(new Error(`MSRP connect to ${hop.host}:${hop.port} failed: ${e.message}`));
      s.once('error', fail);
      s.once('connect', () => {
        s.off('error', fail);
        resolve(s);
      });
    }).catch((e: Error) => {
      this.finish(false, e, false);
      throw e;
    });
    if (this.state !== 'connecting') {
      socket.destroy();
      throw new Error('MSRP session closed while connecting');
    }
    this.bind(socket, new MsrpFrameParser(this.frameLimits));
    await new Promise<void>((resolve, reject) => {
      const tid = this.newTransactionId();
      this.track(tid, (code, comment) => {
        if (code === 200) resolve();
        else reject(new MsrpError(code, `the peer refused the connection's first SEND: ${code} ${comment ?? ''}`.trim()));
      });
      this.write(
        writeRequest({ transactionId: tid, method: 'SEND', toPath: this.remote!, fromPath: [this.localUri], messageId: randomHex(10), byteRange: { start: 1, end: 0, total: 0 } }),
      );
    }).catch((e: Error) => {
      this.finish(false, e, false);
      throw e;
    });
    this.markReady();
    this.safeEmit('connected');
  }

  /**
   * Passive side: the listener hands over a connection whose first request
   * named this session, with the parser that read it and what it parsed.
   * Returns false when the session already has a connection (the listener answers 506).
   */
  adopt(socket: net.Socket, parser: MsrpFrameParser, events: ParseEvent[]): boolean {
    if (this.setup !== 'passive' || this.state !== 'idle') return false;
    this.bind(socket, parser);
    this.markReady();
    this.safeEmit('connected');
    this.onEvents(events);
    return true;
  }

  /** Sends one message, chunked; resolves when the peer has taken all of it. */
  send(content: Buffer | string, contentType: string, options: MsrpSendOptions = {}): Promise<MsrpSendResult> {
    return new Promise<MsrpSendResult>((resolve, reject) => this.start(content, contentType, options, resolve, reject));
  }

  /** As send(), told through a callback, called once: no Promise per message for a sender that pipelines thousands. */
  sendWith(content: Buffer | string, contentType: string, options: MsrpSendOptions, done: (err: Error | undefined, result?: MsrpSendResult) => void): void {
    try {
      this.start(content, contentType, options, (r) => done(undefined, r), done);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private start(content: Buffer | string, contentType: string, options: MsrpSendOptions, resolve: (r: MsrpSendResult) => void, reject: (e: Error) => void): void {
    if (this.state !== 'bound') return reject(new Error(`MSRP session not connected (${this.state})`));
    if (!this.remote) return reject(new Error('the peer path is not known yet'));
    const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const messageId = options.messageId ?? randomHex(10);
    if (this.outgoing.has(messageId)) return reject(new Error(`message ${messageId} is already being sent`));
    const failureReport = options.failureReport ?? 'yes';
    const wantReport = options.successReport === true;
    const chunks = chunkMessage(body, this.chunkSize);
    const out: Outgoing = { messageId, bytes: body.length, chunks: chunks.length, unacked: chunks.length, wantReport, resolve, reject };
    const acked = failureReport === 'yes';
    if (acked || wantReport) this.outgoing.set(messageId, out);
    for (const chunk of chunks) {
      const tid = this.newTransactionId(chunk.body);
      if (acked) this.track(tid, (code, comment) => this.onChunkSettled(out, code, comment));
      this.write(
        writeRequest({
          transactionId: tid,
          method: 'SEND',
          toPath: this.remote,
          fromPath: [this.localUri],
          messageId,
          successReport: wantReport ? 'yes' : undefined,
          failureReport: acked ? undefined : 'no',
          byteRange: chunk.byteRange,
          headers: options.headers,
          contentType: chunk.body.length > 0 ? contentType : undefined,
          body: chunk.body,
          flag: chunk.flag,
        }),
      );
    }
    if (!acked) {
      out.unacked = 0;
      this.afterAcks(out);
    }
  }

  /** Ends the session: pending sends fail, the connection is closed. */
  close(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    const socket = this.socket;
    this.finish(false, undefined, true);
    if (!socket || socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const guard = this.scheduler.set(() => socket.destroy(), 2000);
      socket.once('close', () => {
        this.scheduler.clear(guard);
        resolve();
      });
      this.flush(socket);
      socket.end();
    });
  }

  private bind(socket: net.Socket, parser: MsrpFrameParser): void {
    this.socket = socket;
    this.parser = parser;
    this.state = 'bound';
    socket.setNoDelay(true);
    socket.removeAllListeners('data');
    socket.on('data', (chunk: Buffer) => {
      if (this.state !== 'closed') this.onEvents(parser.push(chunk));
    });
    let socketError: Error | undefined;
    socket.on('error', (e) => {
      socketError = e;
    });
    socket.on('close', () => {
      if (this.state === 'closed') return;
      const outstanding = this.outgoing.size > 0 || this.reassembler.incompleteMessages > 0 || this.held.length > 0;
      const error =
        socketError || outstanding
          ? new Error(`MSRP connection of session ${this.sessionId} dropped${socketError ? `: ${socketError.message}` : ' with messages in flight'}`)
          : undefined;
      this.finish(true, error, false);
    });
  }

  /** Everything ends here once: pending work fails, timers stop, `close` (and `error`) are told. */
  private finish(byPeer: boolean, error: Error | undefined, local: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.timer !== undefined) this.scheduler.clear(this.timer);
    this.timer = undefined;
    const reason = error ?? new Error(local ? 'MSRP session closed' : 'MSRP connection closed by the peer');
    const outgoing = [...this.outgoing.values()];
    const transactions = [...this.transactions.values()];
    this.outgoing.clear();
    this.transactions.clear();
    this.awaitingReport.clear();
    this.held.length = 0;
    this.reassembler.clear();
    for (const t of transactions) t.settle(0, reason.message);
    for (const o of outgoing) o.reject(reason);
    this.markFailed(reason);
    if (!local && this.socket && !this.socket.destroyed) this.socket.destroy();
    if (error && this.listenerCount('error') > 0) this.safeEmit('error', error);
    this.safeEmit('close', { byPeer, error });
  }

  private onEvents(events: ParseEvent[]): void {
    for (const ev of events) {
      if (this.state === 'closed') return;
      if (ev.kind === 'error') this.onFrameError(ev.error);
      else if (ev.frame.kind === 'response') this.onResponse(ev.frame);
      else this.onRequest(ev.frame);
    }
  }

  private onFrameError(e: MsrpFrameError): void {
    if (e.fatal) {
      this.finish(true, new Error(`MSRP session ${this.sessionId}: ${e.message}`), false);
      return;
    }
    if (e.transactionId && e.method && e.method !== 'REPORT' && e.fromPath && e.fromPath.length > 0) {
      this.respondTo(e.transactionId, e.fromPath, e.status, undefined);
    }
    this.safeEmit('refused', e, e.status);
  }

  private onResponse(res: MsrpResponse): void {
    const t = this.transactions.get(res.transactionId);
    if (!t) return; // late, after a timeout: nothing waits for it
    this.transactions.delete(res.transactionId);
    t.settle(res.code, res.comment);
  }

  private onRequest(req: MsrpRequest): void {
    if (!this.remote) {
      if (this.held.length >= MAX_HELD_REQUESTS) {
        this.finish(true, new Error(`MSRP session ${this.sessionId}: too many requests before the peer path was known`), false);
      } else this.held.push(req);
      return;
    }
    // RFC 4975 7.3: the To-Path holds exactly our URI, and the request comes from the negotiated peer.
    if (req.toPath.length !== 1 || !samePath(req.toPath, [this.localUri]) || !samePath(req.fromPath, this.remote)) {
      this.refuse(req, 481, `To-Path ${req.toPath.join(' ')} / From-Path ${req.fromPath.join(' ')} is not session ${this.localUri}`);
      return;
    }
    if (req.method === 'SEND') this.onSend(req);
    else if (req.method === 'REPORT') this.onReport(req);
    else this.refuse(req, 501, `unknown MSRP method ${req.method}`);
  }

  private onSend(req: MsrpRequest): void {
    if (!req.messageId) {
      this.refuse(req, 400, 'SEND without Message-ID');
      return;
    }
    // An empty SEND binds a connection or keeps it alive (RFC 4975 5.4): answered, not delivered.
    if (req.body.length === 0 && req.contentType === undefined && req.flag === '$' && (!req.byteRange || req.byteRange.total === 0 || req.byteRange.total === '*')) {
      this.answer(req, 200);
      return;
    }
    const r = this.reassembler.add({ messageId: req.messageId, byteRange: req.byteRange, contentType: req.contentType, body: req.body, flag: req.flag });
    switch (r.kind) {
      case 'refused':
        this.refuse(req, r.status, r.reason);
        return;
      case 'complete': {
        const m: MsrpIncomingMessage = { messageId: r.messageId, contentType: r.contentType ?? 'text/plain', body: r.body };
        const refusal = this.acceptor?.(m);
        if (refusal) {
          // Not delivered: a later SEND of the same message must not be taken for a duplicate.
          this.reassembler.delivered.forget(r.messageId);
          this.refuse(req, refusal.status, `message ${r.messageId} refused: ${refusal.reason}`);
          return;
        }
        this.safeEmit('message', m);
        this.answer(req, 200);
        this.successReport(req, r.body.length);
        return;
      }
      case 'duplicate':
        this.safeEmit('duplicate', r.messageId);
        this.answer(req, 200);
        if (req.flag === '$') this.successReport(req, r.total);
        return;
      default:
        this.answer(req, 200);
    }
  }

  private onReport(req: MsrpRequest): void {
    const out = req.messageId ? this.outgoing.get(req.messageId) : undefined;
    if (!out || !req.status) return; // REPORTs are never answered (RFC 4975 7.1.2)
    if (req.status.code === 200) {
      out.report = req.status;
      if (out.unacked === 0) this.resolveOutgoing(out);
    } else {
      this.rejectOutgoing(out, new MsrpError(req.status.code, `failure report for message ${out.messageId}: ${req.status.code} ${req.status.comment ?? ''}`.trim()));
    }
  }

  private onChunkSettled(out: Outgoing, code: number, comment?: string): void {
    if (!this.outgoing.has(out.messageId)) return; // already failed
    if (code !== 200) {
      const why = code === 408 ? 'no response in time' : `${code} ${comment ?? ''}`.trim();
      this.rejectOutgoing(out, new MsrpError(code, `message ${out.messageId} refused: ${why}`));
      return;
    }
    out.unacked--;
    if (out.unacked === 0) this.afterAcks(out);
  }

  private afterAcks(out: Outgoing): void {
    if (!out.wantReport || out.report) {
      this.resolveOutgoing(out);
      return;
    }
    this.awaitingReport.set(out.messageId, this.scheduler.now() + this.reportTimeoutMs);
    this.arm();
  }

  private resolveOutgoing(out: Outgoing): void {
    this.outgoing.delete(out.messageId);
    this.awaitingReport.delete(out.messageId);
    out.resolve({ messageId: out.messageId, bytes: out.bytes, chunks: out.chunks, report: out.report });
  }

  private rejectOutgoing(out: Outgoing, e: Error): void {
    this.outgoing.delete(out.messageId);
    this.awaitingReport.delete(out.messageId);
    out.reject(e);
  }

  /** RFC 4975 7.1.3: a success report covers the bytes received, with Status 000 200. */
  private successReport(req: MsrpRequest, total: number): void {
    if (req.successReport !== 'yes') return;
    this.write(
      writeRequest({
        transactionId: this.newTransactionId(),
        method: 'REPORT',
        toPath: req.fromPath,
        fromPath: [this.localUri],
        messageId: req.messageId,
        byteRange: { start: 1, end: total, total },
        status: { namespace: 0, code: 200, comment: 'OK' },
      }),
    );
  }

  /** A transaction response as Failure-Report asks: none for "no", errors only for "partial". */
  private answer(req: MsrpRequest, code: number, comment?: string): void {
    if (req.method === 'REPORT') return;
    if (req.failureReport === 'no') return;
    if (req.failureReport === 'partial' && code === 200) return;
    this.respondTo(req.transactionId, req.fromPath, code, comment);
  }

  private refuse(req: MsrpRequest, code: number, why: string): void {
    this.answer(req, code);
    this.safeEmit('refused', new MsrpError(code, why), code);
  }

  private respondTo(tid: string, fromPath: string[], code: number, comment: string | undefined): void {
    // RFC 4975 7.2: the response goes back to the previous hop only.
    this.write(writeResponse({ transactionId: tid, code, comment, toPath: [fromPath[0]], fromPath: [this.localUri] }));
  }

  private track(tid: string, settle: (code: number, comment?: string) => void): void {
    this.transactions.set(tid, { deadline: this.scheduler.now() + this.transactionTimeoutMs, settle });
    this.arm();
  }

  /** One timer for all deadlines: they are added in time order, so the first entry is the earliest. */
  private arm(): void {
    if (this.timer !== undefined || this.state === 'closed') return;
    const first = Math.min(firstValue(this.transactions)?.deadline ?? Infinity, firstValue(this.awaitingReport) ?? Infinity);
    if (first === Infinity) return;
    this.timer = this.scheduler.set(() => {
      this.timer = undefined;
      this.expire();
    }, Math.max(0, first - this.scheduler.now()));
  }

  private expire(): void {
    const now = this.scheduler.now();
    for (const [tid, t] of this.transactions) {
      if (t.deadline > now) break;
      this.transactions.delete(tid);
      t.settle(408, 'no response in time');
    }
    for (const [messageId, deadline] of this.awaitingReport) {
      if (deadline > now) break;
      const out = this.outgoing.get(messageId);
      if (out) this.rejectOutgoing(out, new MsrpError(408, `no success report for message ${messageId} in time`));
      this.awaitingReport.delete(messageId);
    }
    this.arm();
  }

  /** 64 random bits (RFC 4975 7.1), never the start of an end-line inside the body. */
  private newTransactionId(body?: Buffer): string {
    for (;;) {
      const tid = randomHex(8);
      if (!body || !body.includes(`-------${tid}`, 0, 'latin1')) return tid;
    }
  }

  /** Frames written in one tick leave in one TCP write, as one buffer: the stream then handles one chunk, not one per frame. */
  private write(frame: Buffer): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    if (this.unsent.length === 0) process.nextTick(() => this.flush(socket));
    this.unsent.push(frame);
  }

  private flush(socket: net.Socket): void {
    const frames = this.unsent;
    if (frames.length === 0) return;
    this.unsent = [];
    if (!socket.destroyed && socket.writable) socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /** A listener that throws must not break the connection's reading. */
  private safeEmit(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (e) {
      if (event !== 'error' && this.listenerCount('error') > 0) {
        try {
          this.emit('error', e as Error);
        } catch {
          // nothing more to tell
        }
      }
    }
  }
}

function firstValue<V>(m: Map<string, V>): V | undefined {
  for (const v of m.values()) return v;
  return undefined;
}
