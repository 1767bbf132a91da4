// The passive end of MSRP connections (RFC 4975 5.4, RFC 6135): one TCP
// port for many sessions. A new connection is read until its first request;
// the session id in that request's To-Path picks the session, which takes
// the connection over (and checks the full URIs itself). A request for no
// session we know gets 481 and the connection is closed.
import net from 'node:net';
import { realScheduler } from '../util/scheduler';
import type { Scheduler } from '../util/scheduler';
import { DEFAULT_FRAME_LIMITS, MsrpFrameParser, writeResponse } from './frame';
import type { FrameLimits, MsrpRequest, ParseEvent } from './frame';
import { MsrpSession } from './session';
import type { MsrpSessionOptions } from './session';
import { newSessionUri, parseMsrpUri } from './uri';

export interface MsrpListenerOptions {
  /** Address to bind, and the host put in session URIs. Default 127.0.0.1. */
  host?: string;
  /** Host to write in session URIs when it differs from the bound address (e.g. 0.0.0.0 bound). */
  advertisedHost?: string;
  /** 0 (default): a free port chosen by the system. */
  port?: number;
  frameLimits?: FrameLimits;
  /** A connection that names no session within this time is closed. Default 30 s. */
  firstRequestTimeoutMs?: number;
  scheduler?: Scheduler;
}

export type PassiveSessionOptions = Omit<MsrpSessionOptions, 'localUri' | 'setup'>;

export class MsrpListener {
  private server: net.Server | undefined;
  private boundPort = 0;
  private readonly sessions = new Map<string, MsrpSession>();
  private readonly unbound = new Set<net.Socket>();
  private readonly host: string;
  private readonly advertisedHost: string;
  private readonly frameLimits: FrameLimits;
  private readonly firstRequestTimeoutMs: number;
  private readonly scheduler: Scheduler;

  constructor(private readonly opts: MsrpListenerOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.advertisedHost = opts.advertisedHost ?? this.host;
    this.frameLimits = opts.frameLimits ?? DEFAULT_FRAME_LIMITS;
    this.firstRequestTimeoutMs = opts.firstRequestTimeoutMs ?? 30_000;
    this.scheduler = opts.scheduler ?? realScheduler;
  }

  /** Starts listening; resolves with the port. */
  listen(): Promise<number> {
    if (this.server) return Promise.resolve(this.boundPort);
    return new Promise<number>((resolve, reject) => {
      const server = net.createServer((socket) => this.onConnection(socket));
      server.once('error', reject);
      server.listen({ host: this.host, port: this.opts.port ?? 0 }, () => {
        server.off('error', reject);
        server.on('error', () => undefined); // after listening, errors belong to connections
        this.server = server;
        this.boundPort = (server.address() as net.AddressInfo).port;
        resolve(this.boundPort);
      });
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** How many sessions wait for or hold a connection here. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** A passive session with a fresh URI on this listener, registered until it closes. */
  createSession(opts: PassiveSessionOptions = {}): MsrpSession {
    if (!this.server) throw new Error('MSRP listener is not listening');
    const session = new MsrpSession({ ...opts, localUri: newSessionUri(this.advertisedHost, this.boundPort), setup: 'passive' });
    this.register(session);
    return session;
  }

  /** Makes a passive session reachable here by its session id. */
  register(session: MsrpSession): void {
    if (this.sessions.has(session.sessionId)) throw new Error(`MSRP session id ${session.sessionId} is taken`);
    this.sessions.set(session.sessionId, session);
    session.once('close', () => {
      if (this.sessions.get(session.sessionId) === session) this.sessions.delete(session.sessionId);
    });
  }

  unregister(session: MsrpSession): void {
    if (this.sessions.get(session.sessionId) === session) this.sessions.delete(session.sessionId);
  }

  /** Stops listening, drops connections that named no session, closes every session. */
  async close(): Promise<void> {
    for (const s of this.unbound) s.destroy();
    this.unbound.clear();
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.close()));
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onConnection(socket: net.Socket): void {
    const parser = new MsrpFrameParser(this.frameLimits);
    this.unbound.add(socket);
    const timer = this.scheduler.set(() => socket.destroy(), this.firstRequestTimeoutMs);
    const release = (): void => {
      this.scheduler.clear(timer);
      this.unbound.delete(socket);
      socket.off('data', onData);
      socket.off('close', release);
      socket.off('error', ignore);
    };
    const ignore = (): void => undefined;
    const onData = (chunk: Buffer): void => {
      const events = parser.push(chunk);
      for (let i = 0; i < events.length; i++) {
        const ev = events[i];
        if (ev.kind === 'error') {
          if (ev.error.fatal) {
            release();
            socket.on('error', ignore);
            socket.destroy();
            return;
          }
          this.reject(socket, ev.error.transactionId, ev.error.method, ev.error.fromPath, ev.error.toPath, ev.error.status);
          continue;
        }
        if (ev.frame.kind !== 'request') continue; // nothing was asked on this connection yet
        const session = this.sessionFor(ev.frame);
        if (!session) {
          release();
          socket.on('error', ignore);
          this.reject(socket, ev.frame.transactionId, ev.frame.method, ev.frame.fromPath, ev.frame.toPath, 481);
          socket.end();
          return;
        }
        release();
        if (!session.adopt(socket, parser, events.slice(i) as ParseEvent[])) {
          socket.on('error', ignore);
          this.reject(socket, ev.frame.transactionId, ev.frame.method, ev.frame.fromPath, ev.frame.toPath, 506);
          socket.end();
        }
        return;
      }
    };
    socket.on('data', onData);
    socket.on('close', release);
    socket.on('error', ignore);
  }

  private sessionFor(req: MsrpRequest): MsrpSession | undefined {
    if (req.toPath.length !== 1) return undefined;
    try {
      return this.sessions.get(parseMsrpUri(req.toPath[0]).sessionId);
    } catch {
      return undefined;
    }
  }

  private reject(socket: net.Socket, tid: string | undefined, method: string | undefined, fromPath: string[] | undefined, toPath: string[] | undefined, code: number): void {
    if (!tid || !method || method === 'REPORT' || !fromPath?.length || !toPath?.length) return;
    if (!socket.destroyed) socket.write(writeResponse({ transactionId: tid, code, toPath: [fromPath[0]], fromPath: [toPath[0]] }));
  }
}
