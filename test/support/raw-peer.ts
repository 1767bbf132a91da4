// A peer that speaks raw bytes to an endpoint, for tests of what the endpoint
// does with input no well-behaved stack would send.
import * as dgram from 'node:dgram';
import * as net from 'node:net';

/** A UDP socket on 127.0.0.1 that collects every datagram it receives (as latin1 text). */
export class RawUdpPeer {
  readonly received: string[] = [];
  private readonly socket = dgram.createSocket('udp4');
  private waiters: (() => void)[] = [];

  async open(): Promise<this> {
    this.socket.on('message', (buf) => {
      this.received.push(buf.toString('latin1'));
      for (const w of this.waiters.splice(0)) w();
    });
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    return this;
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(port: number, wire: string | Buffer): void {
    this.socket.send(typeof wire === 'string' ? Buffer.from(wire, 'latin1') : wire, port, '127.0.0.1');
  }

  /** The next datagram matching `test` (already received or still to come). */
  async next(test: (wire: string) => boolean, timeoutMs = 5000, what = 'a datagram'): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex(test);
      if (i >= 0) return this.received.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.received.length} other datagram(s)`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Sends and returns the first answer, or undefined when none comes within `waitMs`. */
  async exchange(port: number, wire: string, waitMs = 5000): Promise<string | undefined> {
    this.received.length = 0;
    this.send(port, wire);
    return this.next(() => true, waitMs).catch(() => undefined);
  }

  close(): void {
    this.socket.close();
  }
}

/** Writes `wire` on a new TCP connection; resolves with everything read when the endpoint closes it. */
export function tcpUntilClosed(port: number, wire: string, timeoutMs = 15000): Promise<{ reply: string; closedByPeer: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ reply, closedByPeer: false });
    }, timeoutMs);
    s.on('data', (d) => (reply += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ reply, closedByPeer: true });
    });
    s.write(Buffer.from(wire, 'latin1'));
  });
}

/** A request as raw text; `extra` header lines end with CRLF. Content-Length is left to the caller. */
export function rawRequest(method: string, port: number, opts: { branch?: string | null; extra?: string; version?: string; callId?: string } = {}): string {
  const branch = opts.branch === null ? '' : `;branch=${opts.branch ?? `z9hG4bK-raw-${Math.random().toString(36).slice(2)}`}`;
  return (
    `${method} sip:x@127.0.0.1:${port} SIP/${opts.version ?? '2.0'}\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:9${branch};rport\r\n` +
    `From: <sip:raw@127.0.0.1>;tag=r1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: ${opts.callId ?? 'raw-1@test'}\r\n` +
    `CSeq: 1 ${method}\r\n${opts.extra ?? ''}`
  );
}
