// UDP and TCP sockets of one SIP endpoint (RFC 3261 18). Our own sockets, not
// the `sip` package's: every socket has an error handler (a busy port must be
// an error, not a crash), port 0 works, and close() releases TCP at once.
import * as dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { DEFAULT_LIMITS, frameDatagram, StreamFramer, type FramerLimits } from './framing';
import { InputBudget } from './input-budget';

export type Protocol = 'udp' | 'tcp';

export interface Peer {
  protocol: Protocol;
  address: string;
  port: number;
}

export interface TransportOptions {
  address: string;
  port: number;
  maxHeaderBytes?: number;
  maxBodyBytes?: number;
  /** Receive buffer for UDP, raised because a lab core may answer in bursts. */
  udpReceiveBufferBytes?: number;
  /** Shared with the endpoint: TCP messages still arriving are charged to it. */
  budget?: InputBudget;
  /** A TCP connection in the middle of a message that sends nothing for this long is closed. */
  partialMessageTimeoutMs?: number;
}

/** Idle TCP connections are closed after this; a later request opens a new one. */
const IDLE_TIMEOUT_MS = 5 * 60 * 1000;

export interface InboundFrame {
  wire: string;
  peer: Peer;
}

/** The largest datagram we send; above it the message must go over TCP (RFC 3261 18.1.1). */
export const MAX_UDP_BYTES = 65507;

export function peerKey(p: Peer): string {
  return `${p.protocol}:${p.address}:${p.port}`;
}

export class TransportError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

interface Connection {
  socket: net.Socket;
  ready: boolean;
  queue: string[];
  corked: boolean;
  /** Bytes of a partial message charged to the input budget. */
  charged: number;
  /** Input is no longer read (refused or shed); the socket is closing. */
  stopped: boolean;
}

/**
 * Events: `frame` (InboundFrame), `refused` (peer, head, status, reason) for a
 * message refused from its head (framing.ts), `shed` (peer) for a TCP
 * connection closed because the input budget is spent, `send-error` (peer,
 * Error), `error` (Error, for socket failures after start).
 */
export class Transport extends EventEmitter {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly connections = new Map<string, Connection>();
  private boundPort = 0;
  private closed = false;
  private readonly limits: FramerLimits;
  private readonly budget: InputBudget;

  constructor(private readonly options: TransportOptions) {
    super();
    this.limits = {
      maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_LIMITS.maxHeaderBytes,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes,
    };
    this.budget = options.budget ?? new InputBudget(Infinity);
  }

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return this.options.address;
  }

  /** Binds UDP and TCP on the same port; with port 0 the system picks one free for both. */
  async listen(): Promise<void> {
    const attempts = this.options.port === 0 ? 20 : 1;
    let last: Error | undefined;
    for (let i = 0; i < attempts; i++) {
      try {
        const port = await this.bindUdp(this.options.port);
        await this.bindTcp(port);
        this.boundPort = port;
        return;
      } catch (e) {
        last = e as Error;
        await this.closeSockets();
      }
    }
    throw last ?? new TransportError('could not bind');
  }

  private bindUdp(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const family = net.isIPv6(this.options.address) ? 'udp6' : 'udp4';
      const socket = dgram.createSocket({ type: family, reuseAddr: false });
      this.udp = socket;
      const onError = (err: NodeJS.ErrnoException) => {
        reject(bindError(err, this.options.address, port, 'udp'));
      };
      socket.once('error', onError);
      socket.bind(port, this.options.address, () => {
        socket.removeListener('error', onError);
        socket.on('error', (err) => this.emit('error', err));
        socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
        if (this.options.udpReceiveBufferBytes) {
          try {
            socket.setRecvBufferSize(this.options.udpReceiveBufferBytes);
          } catch {
            // the system may cap it (net.core.rmem_max); the default still works
          }
        }
        resolve(socket.address().port);
      });
    });
  }

  private bindTcp(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.adopt(socket));
      this.tcp = server;
      const onError = (err: NodeJS.ErrnoException) => reject(bindError(err, this.options.address, port, 'tcp'));
      server.once('error', onError);
      server.listen({ port, host: this.options.address, exclusive: true }, () => {
        server.removeListener('error', onError);
        server.on('error', (err) => this.emit('error', err));
        resolve();
      });
    });
  }

  private onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    if (buf.length === 0) return;
    // A lone CRLF or double CRLF is a keep-alive (RFC 5626 3.5.1), not a message.
    if (buf.length <= 4 && buf.every((b) => b === 13 || b === 10)) return;
    const peer: Peer = { protocol: 'udp', address: rinfo.address, port: rinfo.port };
    const ev = frameDatagram(buf.toString('latin1'), this.limits);
    if (ev.kind === 'message') this.emit('frame', { wire: ev.wire, peer });
    else if (ev.kind === 'refused') this.emit('refused', peer, ev.head, ev.status, ev.reason);
  }

  /** Takes an accepted or connected TCP socket under management. */
  private adopt(socket: net.Socket, knownPeer?: Peer): Connection {
    const peer: Peer = knownPeer ?? { protocol: 'tcp', address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const key = peerKey(peer);
    const conn: Connection = { socket, ready: !knownPeer, queue: [], corked: false, charged: 0, stopped: false };
    this.connections.set(key, conn);
    const framer = new StreamFramer(this.limits);
    socket.setEncoding('latin1');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => {
      if (conn.stopped) return;
      for (const ev of framer.push(chunk)) {
        if (ev.kind === 'message') this.emit('frame', { wire: ev.wire, peer });
        else if (ev.kind === 'keepalive') socket.write('\r\n', 'latin1');
        else {
          this.emit('refused', peer, ev.head, ev.status, ev.reason);
          if (ev.fatal) {
            // Past a refused head the stream cannot be followed: answer (above), then close.
            this.stopReading(conn);
            socket.end();
            return;
          }
        }
      }
      if (!this.charge(conn, framer.buffered)) {
        this.stopReading(conn);
        this.emit('shed', peer);
        socket.destroy();
        return;
      }
      // A message begun and not finished may wait only briefly: a sender that
      // declares a large body and stalls would otherwise hold its buffer forever.
      socket.setTimeout(framer.buffered ? this.partialTimeout : IDLE_TIMEOUT_MS);
    });
    socket.on('error', (err) => {
      if (conn.queue.length || !conn.ready) this.emit('send-error', peer, err);
      this.dropConnection(key, conn);
    });
    socket.on('close', () => this.dropConnection(key, conn));
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    return conn;
  }

  private get partialTimeout(): number {
    return this.options.partialMessageTimeoutMs ?? 10_000;
  }

  /** Charges a connection's partial message to the budget; false when it does not fit. */
  private charge(conn: Connection, bytes: number): boolean {
    if (bytes > conn.charged) {
      if (!this.budget.take(bytes - conn.charged)) return false;
    } else this.budget.give(conn.charged - bytes);
    conn.charged = bytes;
    return true;
  }

  private stopReading(conn: Connection): void {
    conn.stopped = true;
    this.charge(conn, 0);
  }

  private dropConnection(key: string, conn: Connection): void {
    if (this.connections.get(key) === conn) this.connections.delete(key);
    this.stopReading(conn);
    conn.socket.destroy();
  }

  /** Sends wire text; failures arrive as `send-error` events for the peer. */
  send(peer: Peer, wire: string): void {
    if (this.closed) {
      this.emit('send-error', peer, new TransportError('endpoint is closed'));
      return;
    }
    if (peer.protocol === 'udp') {
      if (!this.udp) return;
      if (wire.length > MAX_UDP_BYTES) {
        this.emit('send-error', peer, new TransportError(`message of ${wire.length} bytes is too large for UDP; use TCP`));
        return;
      }
      // No completion callback: it costs a JS call per datagram, and an
      // unconnected UDP socket learns of no delivery failure anyway; local
      // errors arrive as the socket's 'error' event.
      this.udp.send(Buffer.from(wire, 'latin1'), peer.port, peer.address);
      return;
    }
    const key = peerKey(peer);
    let conn = this.connections.get(key);
    if (!conn) conn = this.connect(peer);
    if (!conn.ready) {
      conn.queue.push(wire);
      return;
    }
    // Messages sent in the same tick leave in one write (writev): under load a
    // syscall per message costs more than everything else we do with it.
    if (!conn.corked) {
      conn.corked = true;
      conn.socket.cork();
      const c = conn;
      process.nextTick(() => {
        c.corked = false;
        c.socket.uncork();
      });
    }
    conn.socket.write(wire, 'latin1');
  }

  private connect(peer: Peer): Connection {
    const socket = net.connect({ host: peer.address, port: peer.port, localAddress: localFor(this.options.address) });
    const conn = this.adopt(socket, peer);
    socket.once('connect', () => {
      conn.ready = true;
      for (const w of conn.queue.splice(0)) socket.write(w, 'latin1');
    });
    return conn;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.closeSockets();
  }

  private async closeSockets(): Promise<void> {
    for (const conn of this.connections.values()) conn.socket.destroy();
    this.connections.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([
      udp
        ? new Promise<void>((r) => {
            try {
              udp.close(() => r());
            } catch {
              r(); // not bound yet
            }
          })
        : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }
}

function localFor(address: string): string | undefined {
  return address === '0.0.0.0' || address === '::' ? undefined : address;
}

function bindError(err: NodeJS.ErrnoException, address: string, port: number, proto: string): TransportError {
  if (err.code === 'EADDRINUSE') return new TransportError(`${proto.toUpperCase()} port ${port} on ${address} is already in use`, err.code);
  if (err.code === 'EADDRNOTAVAIL') return new TransportError(`address ${address} is not an address of this machine`, err.code);
  if (err.code === 'EACCES') return new TransportError(`no permission to bind ${proto.toUpperCase()} port ${port} on ${address}`, err.code);
  return new TransportError(`cannot bind ${proto.toUpperCase()} ${address}:${port}: ${err.message}`, err.code);
}
