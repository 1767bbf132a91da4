import assert from 'node:assert/strict';
import net from 'node:net';
import { MsrpFrameParser, writeRequest } from '../../lib/msrp/frame';
import type { MsrpFrame, MsrpRequest, MsrpResponse, OutgoingRequest } from '../../lib/msrp/frame';
import { MsrpListener } from '../../lib/msrp/listener';
import { MsrpError, MsrpSession } from '../../lib/msrp/session';
import type { MsrpCloseInfo, MsrpIncomingMessage } from '../../lib/msrp/session';
import { newSessionUri } from '../../lib/msrp/uri';
import { FakeScheduler } from '../support/fake-scheduler';

/** Resolves with the next emission of an event. */
function once<T>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (v: T) => resolve(v)));
}

/** Collects messages until `count` arrived. */
function collect(session: MsrpSession, count: number): Promise<MsrpIncomingMessage[]> {
  const got: MsrpIncomingMessage[] = [];
  return new Promise((resolve) => {
    session.on('message', (m) => {
      got.push(m);
      if (got.length === count) resolve(got);
    });
  });
}

/** A hand-driven MSRP peer on a plain TCP socket: writes what the test says, reads frames back. */
class RawPeer {
  readonly frames: MsrpFrame[] = [];
  private readonly parser = new MsrpFrameParser();
  private waiters: Array<() => void> = [];
  ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.parser.push(chunk)) if (ev.kind === 'frame') this.frames.push(ev.frame);
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  static adopt(socket: net.Socket): RawPeer {
    return new RawPeer(socket);
  }

  send(r: OutgoingRequest): void {
    this.socket.write(writeRequest(r));
  }

  /** Waits for a frame the predicate accepts (already here or still to come). */
  async waitFor(pred: (f: MsrpFrame) => boolean, what: string): Promise<MsrpFrame> {
    for (;;) {
      const found = this.frames.find(pred);
      if (found) return found;
      if (this.ended) throw new Error(`connection closed before ${what}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  response(tid: string): Promise<MsrpResponse> {
    return this.waitFor((f) => f.kind === 'response' && f.transactionId === tid, `response to ${tid}`) as Promise<MsrpResponse>;
  }

  async closed(): Promise<void> {
    while (!this.ended) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }
}

describe('MSRP sessions over loopback TCP', () => {
  let listener: MsrpListener;
  const cleanup: Array<() => Promise<unknown> | void> = [];

  beforeEach(async () => {
    listener = new MsrpListener({ host: '127.0.0.1' });
    await listener.listen();
  });

  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
    await listener.close();
  });

  /** A passive session on the listener and an active one that connects to it. */
  async function pair(opts: { chunkSize?: number } = {}): Promise<{ passive: MsrpSession; active: MsrpSession }> {
    const passive = listener.createSession(opts);
    const active = new MsrpSession({ localUri: newSessionUri('127.0.0.1', 9), setup: 'active', remotePath: [passive.localUri], ...opts });
    passive.setRemotePath([active.localUri]);
    cleanup.push(() => active.close());
    await active.connect();
    await passive.ready();
    return { passive, active };
  }

  it('active connects to passive; messages go both ways with their ids, types and bytes; success reports come back', async () => {
    const { passive, active } = await pair();
    assert.equal(active.connected, true);
    assert.equal(passive.connected, true);

    const atPassive = once<MsrpIncomingMessage>(passive, 'message');
    const sent = await active.send('Hallo Bob, grüße 👋', 'text/plain;charset=utf-8', { successReport: true });
    const m = await atPassive;
    assert.equal(m.messageId, sent.messageId);
    assert.equal(m.contentType, 'text/plain;charset=utf-8');
    assert.equal(m.body.toString('utf8'), 'Hallo Bob, grüße 👋');
    assert.deepEqual(sent.report, { namespace: 0, code: 200, comment: 'OK' }, 'resolved only with the success report');

    const atActive = once<MsrpIncomingMessage>(active, 'message');
    const back = await passive.send(Buffer.from([0, 1, 2, 255]), 'application/octet-stream', { messageId: 'reply-1' });
    const r = await atActive;
    assert.equal(back.messageId, 'reply-1');
    assert.equal(r.messageId, 'reply-1');
    assert.deepEqual([...r.body], [0, 1, 2, 255]);
  });

  it('sends a 1 MiB message in 2048-byte chunks and the peer gets every byte', async () => {
    const { passive, active } = await pair({ chunkSize: 2048 });
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 11)) & 0xff;
    const got = once<MsrpIncomingMessage>(passive, 'message');
    const sent = await active.send(body, 'application/octet-stream');
    assert.equal(sent.chunks, 512);
    assert.ok((await got).body.equals(body));
    assert.equal(passive.bufferedBytes, 0);
  });

  it('one listener serves two sessions at once, each getting only its own messages', async () => {
    const one = await pair();
    const two = await pair();
    const gotOne = collect(one.passive, 2);
    const gotTwo = collect(two.passive, 2);
    await Promise.all([one.active.send('1a', 'text/plain'), two.active.send('2a', 'text/plain'), one.active.send('1b', 'text/plain'), two.active.send('2b', 'text/plain')]);
    assert.deepEqual((await gotOne).map((m) => m.body.toString()), ['1a', '1b']);
    assert.deepEqual((await gotTwo).map((m) => m.body.toString()), ['2a', '2b']);
  });

  it('a passive session connects the other way round: the listener side is the offerer waiting for the answerer', async () => {
    // The peer's path arrives after its connection (answer processed late): requests wait for it.
    const passive = listener.createSession();
    const active = new MsrpSession({ localUri: newSessionUri('127.0.0.1', 9), setup: 'active', remotePath: [passive.localUri] });
    cleanup.push(() => active.close());
    const connecting = active.connect();
    await passive.ready();
    passive.setRemotePath([active.localUri]);
    await connecting;
    const got = once<MsrpIncomingMessage>(passive, 'message');
    await active.send('late path', 'text/plain');
    assert.equal((await got).body.toString(), 'late path');
  });

  it('answers 481 to a SEND for a session the listener does not know, and closes that connection', async () => {
    const peer = await RawPeer.connect(listener.port);
    peer.send({ transactionId: 'unknown01', method: 'SEND', toPath: [`msrp://127.0.0.1:${listener.port}/nosuchsession;tcp`], fromPath: ['msrp://127.0.0.1:9/x1;tcp'], messageId: 'm', contentType: 'text/plain', body: Buffer.from('hi') });
    const res = await peer.response('unknown01');
    assert.equal(res.code, 481);
    assert.deepEqual(res.toPath, ['msrp://127.0.0.1:9/x1;tcp']);
    await peer.closed();
  });

  describe('with a hand-driven peer bound to a passive session', () => {
    let session: MsrpSession;
    let peer: RawPeer;
    const PEER_URI = 'msrp://127.0.0.1:9/rawpeer1;tcp';
    let n = 0;

    function send(extra: Partial<OutgoingRequest> = {}): string {
      const tid = `t${String(++n).padStart(7, '0')}`;
      peer.send({ transactionId: tid, method: 'SEND', toPath: [session.localUri], fromPath: [PEER_URI], messageId: `m${n}`, contentType: 'text/plain', body: Buffer.from(`body ${n}`), ...extra });
      return tid;
    }

    beforeEach(async () => {
      session = listener.createSession({ remotePath: [PEER_URI] });
      peer = await RawPeer.connect(listener.port);
      cleanup.push(() => {
        peer.socket.destroy();
      });
      const bind = send({ body: undefined, contentType: undefined, byteRange: { start: 1, end: 0, total: 0 } });
      assert.equal((await peer.response(bind)).code, 200);
      await session.ready();
    });

    it('does not deliver the empty SEND that binds the connection', async () => {
      let delivered = 0;
      session.on('message', () => delivered++);
      const tid = send({ body: Buffer.from('first real') });
      assert.equal((await peer.response(tid)).code, 200);
      assert.equal(delivered, 1);
    });

    it('answers 400 to a malformed SEND, says why, and keeps the session going', async () => {
      const refused = once<[Error]>(session, 'refused');
      peer.socket.write(`MSRP badrange1 SEND\r\nTo-Path: ${session.localUri}\r\nFrom-Path: ${PEER_URI}\r\nMessage-ID: q\r\nByte-Range: 9-1/4\r\nContent-Type: text/plain\r\n\r\nabcd\r\n-------badrange1$\r\n`);
      const res = await peer.response('badrange1');
      assert.equal(res.code, 400);
      assert.match(String(await refused), /Byte-Range/);
      const got = once<MsrpIncomingMessage>(session, 'message');
      const tid = send({ body: Buffer.from('still here') });
      assert.equal((await peer.response(tid)).code, 200);
      assert.equal((await got).body.toString(), 'still here');
    });

    it('answers 481 to a request from another path or to another session, and 501 to an unknown method', async () => {
      const wrongFrom = send({ fromPath: ['msrp://127.0.0.1:9/intruder;tcp'] });
      assert.equal((await peer.response(wrongFrom)).code, 481);
      const wrongTo = send({ toPath: [session.localUri.replace(session.sessionId, 'othersession')] });
      assert.equal((await peer.response(wrongTo)).code, 481);
      const unknown = send({ method: 'FROBNICATE', body: undefined, contentType: undefined });
      assert.equal((await peer.response(unknown)).code, 501);
    });

    it('answers a duplicate Message-ID with 200 again but delivers it once', async () => {
      const delivered: string[] = [];
      const duplicates: string[] = [];
      session.on('message', (m) => delivered.push(m.messageId));
      session.on('duplicate', (id) => duplicates.push(id));
      const a = send({ messageId: 'same-id', body: Buffer.from('once') });
      const b = send({ messageId: 'same-id', body: Buffer.from('once') });
      assert.equal((await peer.response(a)).code, 200);
      assert.equal((await peer.response(b)).code, 200);
      assert.deepEqual(delivered, ['same-id']);
      assert.deepEqual(duplicates, ['same-id']);
    });

    it('sends the success report asked for, and no 200 when Failure-Report is no', async () => {
      const silent = send({ messageId: 'quiet', failureReport: 'no' });
      const loud = send({ messageId: 'wants-report', successReport: 'yes', body: Buffer.from('12345') });
      assert.equal((await peer.response(loud)).code, 200);
      const report = (await peer.waitFor((f) => f.kind === 'request' && f.method === 'REPORT', 'a REPORT')) as MsrpRequest;
      assert.equal(report.messageId, 'wants-report');
      assert.deepEqual(report.status, { namespace: 0, code: 200, comment: 'OK' });
      assert.deepEqual(report.byteRange, { start: 1, end: 5, total: 5 });
      assert.deepEqual(report.toPath, [PEER_URI]);
      assert.deepEqual(report.fromPath, [session.localUri]);
      // Responses come in request order on one connection: had "quiet" been answered, it would be here by now.
      assert.equal(peer.frames.some((f) => f.transactionId === silent), false);
    });

    it('refuses with 413 a chunked message over the session budget and frees it', async () => {
      const small = listener.createSession({ remotePath: [PEER_URI], reassemblyLimits: { maxBufferedBytes: 3000, maxMessageBytes: 1_000_000 } });
      const p2 = await RawPeer.connect(listener.port);
      cleanup.push(() => {
        p2.socket.destroy();
      });
      const chunk = (tid: string, start: number): void =>
        p2.send({ transactionId: tid, method: 'SEND', toPath: [small.localUri], fromPath: [PEER_URI], messageId: 'huge', byteRange: { start, end: start + 1999, total: 10_000 }, contentType: 'text/plain', body: Buffer.alloc(2000, 0x61), flag: '+' });
      chunk('chunk0001', 1);
      assert.equal((await p2.response('chunk0001')).code, 200);
      chunk('chunk0002', 2001);
      assert.equal((await p2.response('chunk0002')).code, 413);
      assert.equal(small.bufferedBytes, 0);
    });

    describe('with an accept hook', () => {
      /** A passive session whose hook refuses bodies starting with "bad" (400) and image/* (415), on its own raw peer. */
      async function hooked(): Promise<{ s: MsrpSession; p: RawPeer; seen: string[] }> {
        const seen: string[] = [];
        const s = listener.createSession({
          remotePath: [PEER_URI],
          accept: (m) => {
            seen.push(m.messageId);
            if (m.contentType.startsWith('image/')) return { status: 415, reason: `${m.contentType} not taken` };
            return m.body.toString().startsWith('bad') ? { status: 400, reason: 'unreadable body' } : undefined;
          },
        });
        const p = await RawPeer.connect(listener.port);
        cleanup.push(() => {
          p.socket.destroy();
        });
        p.send({ transactionId: 'hookbind1', method: 'SEND', toPath: [s.localUri], fromPath: [PEER_URI], messageId: 'bind', byteRange: { start: 1, end: 0, total: 0 } });
        assert.equal((await p.response('hookbind1')).code, 200);
        return { s, p, seen };
      }
      const sendTo = (s: MsrpSession, p: RawPeer, extra: Partial<OutgoingRequest>): void =>
        p.send({ transactionId: 'x', method: 'SEND', toPath: [s.localUri], fromPath: [PEER_URI], messageId: 'x', contentType: 'text/plain', successReport: 'yes', ...extra });

      it('a refused message gets the failure code, no success report, no message event, and may be sent again', async () => {
        const { s, p, seen } = await hooked();
        const delivered: string[] = [];
        const refused: Array<[string, number]> = [];
        s.on('message', (m) => delivered.push(m.messageId));
        s.on('refused', (e, code) => refused.push([e.message, code]));
        sendTo(s, p, { transactionId: 'refuse001', messageId: 'm-bad', body: Buffer.from('bad cpim') });
        const res = await p.response('refuse001');
        assert.equal(res.code, 400);
        assert.deepEqual(refused, [['message m-bad refused: unreadable body', 400]]);
        // The same Message-ID, now readable: not taken for a duplicate, delivered, 200 and a success report.
        sendTo(s, p, { transactionId: 'accept01', messageId: 'm-bad', body: Buffer.from('good now') });
        assert.equal((await p.response('accept01')).code, 200);
        const report = (await p.waitFor((f) => f.kind === 'request' && f.method === 'REPORT', 'a REPORT')) as MsrpRequest;
        assert.deepEqual(report.status, { namespace: 0, code: 200, comment: 'OK' });
        // Frames come in order: the one REPORT is the accepted one's, none came for the refusal.
        assert.equal(p.frames.filter((f) => f.kind === 'request' && f.method === 'REPORT').length, 1);
        assert.deepEqual(delivered, ['m-bad']);
        assert.deepEqual(seen, ['m-bad', 'm-bad']);
      });

      it('an accepted message is answered 200 and delivered as before', async () => {
        const { s, p } = await hooked();
        const got = once<MsrpIncomingMessage>(s, 'message');
        sendTo(s, p, { transactionId: 'accept02', messageId: 'm-ok', body: Buffer.from('hello') });
        assert.equal((await p.response('accept02')).code, 200);
        assert.equal((await got).body.toString(), 'hello');
      });

      it('a chunked message is refused at its last chunk, the earlier chunks having had their 200', async () => {
        const { s, p, seen } = await hooked();
        let delivered = 0;
        s.on('message', () => delivered++);
        const chunk = (tid: string, start: number, flag: '+' | '$'): void =>
          sendTo(s, p, { transactionId: tid, messageId: 'pic', contentType: 'image/png', byteRange: { start, end: start + 2, total: 6 }, body: Buffer.from(start === 1 ? 'abc' : 'def'), flag });
        chunk('chunkA01', 1, '+');
        assert.equal((await p.response('chunkA01')).code, 200);
        assert.deepEqual(seen, [], 'not consulted before the message is complete');
        chunk('chunkA02', 4, '$');
        assert.equal((await p.response('chunkA02')).code, 415);
        assert.deepEqual(seen, ['pic']);
        assert.equal(delivered, 0);
        assert.equal(s.bufferedBytes, 0);
      });
    });

    it('a send fails with the error code the peer answers', async () => {
      const pending = session.send('to the raw peer', 'text/plain');
      const req = (await peer.waitFor((f) => f.kind === 'request' && f.method === 'SEND', 'our SEND')) as MsrpRequest;
      assert.deepEqual(req.toPath, [PEER_URI]);
      assert.deepEqual(req.fromPath, [session.localUri]);
      assert.equal(req.body.toString(), 'to the raw peer');
      peer.socket.write(`MSRP ${req.transactionId} 415 Unsupported\r\nTo-Path: ${session.localUri}\r\nFrom-Path: ${PEER_URI}\r\n-------${req.transactionId}$\r\n`);
      await assert.rejects(pending, (e: unknown) => e instanceof MsrpError && e.code === 415);
    });

    it('reports a connection dropped with a message in flight as an error, and fails the send', async () => {
      const errors: Error[] = [];
      session.on('error', (e) => errors.push(e));
      const closed = once<MsrpCloseInfo>(session, 'close');
      const pending = session.send('never answered', 'text/plain');
      await peer.waitFor((f) => f.kind === 'request' && f.method === 'SEND', 'our SEND');
      peer.socket.destroy();
      await assert.rejects(pending, /dropped/);
      const info = await closed;
      assert.equal(info.byPeer, true);
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /dropped/);
      assert.equal(session.closed, true);
    });
  });

  it('a peer that closes with nothing in flight ends the session without an error', async () => {
    const { passive, active } = await pair();
    let errors = 0;
    passive.on('error', () => errors++);
    const closed = once<MsrpCloseInfo>(passive, 'close');
    await active.close();
    const info = await closed;
    assert.equal(info.byPeer, true);
    assert.equal(info.error, undefined);
    assert.equal(errors, 0);
  });

  it('fails a send with 408 when no response comes in time (fake clock)', async () => {
    const clock = new FakeScheduler();
    // A peer that answers the binding SEND and nothing after it.
    const server = net.createServer((socket) => {
      const parser = new MsrpFrameParser();
      let answered = false;
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        for (const ev of parser.push(chunk)) {
          if (ev.kind !== 'frame' || answered) continue;
          answered = true;
          socket.write(`MSRP ${ev.frame.transactionId} 200 OK\r\nTo-Path: ${ev.frame.fromPath[0]}\r\nFrom-Path: ${ev.frame.toPath[0]}\r\n-------${ev.frame.transactionId}$\r\n`);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as net.AddressInfo).port;
    const session = new MsrpSession({ localUri: newSessionUri('127.0.0.1', 9), setup: 'active', remotePath: [`msrp://127.0.0.1:${port}/silent1;tcp`], scheduler: clock });
    cleanup.push(() => {
      void session.close();
      clock.advance(5000);
    });
    await session.connect();
    const pending = session.send('anyone there?', 'text/plain');
    let settled = false;
    pending.catch(() => undefined).finally(() => (settled = true));
    clock.advance(29_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'still waiting before 30 s');
    clock.advance(1_000);
    await assert.rejects(pending, (e: unknown) => e instanceof MsrpError && e.code === 408);
  });

  it('carries 10,000 small messages through one session, all delivered, in order', async () => {
    const { passive, active } = await pair();
    const total = 10_000;
    const got = collect(passive, total);
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < total; i++) sends.push(active.send(`message ${i} ${'x'.repeat(180)}`, 'text/plain'));
    await Promise.all(sends);
    const messages = await got;
    assert.equal(messages.length, total);
    for (let i = 0; i < total; i++) assert.ok(messages[i].body.toString().startsWith(`message ${i} `), `message ${i} in place`);
    assert.equal(new Set(messages.map((m) => m.messageId)).size, total);
  });
});
