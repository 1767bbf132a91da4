// What an endpoint does with bad input and with more input than it can hold:
// strict framing over UDP and TCP, RFC 2543 transaction matching, IPv6 in
// responses, and the caps that keep a flood from growing the process.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { SipEndpoint, type IncomingRequest } from '../../lib/sip/endpoint';
import type { SipRequest } from '../../lib/sip/message';
import { ServerTransaction } from '../../lib/sip/transaction';
import { DEFAULT_TIMERS } from '../../lib/sip/timers';
import { rawRequest, RawUdpPeer, tcpUntilClosed } from '../support/raw-peer';
import { optionsTo } from '../support/sip-builders';
import { decode } from '../../lib/sip/codec';

type Options = Partial<ConstructorParameters<typeof SipEndpoint>[0]>;

describe('SIP endpoint limits and strict framing', () => {
  const open: SipEndpoint[] = [];
  const peers: RawUdpPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    await Promise.all(open.splice(0).map((e) => e.close()));
  });
  async function started(transport: 'udp' | 'tcp' = 'udp', extra: Options = {}): Promise<SipEndpoint> {
    const e = new SipEndpoint({ transport, address: '127.0.0.1', port: 0, ...extra });
    open.push(e);
    await e.start();
    return e;
  }
  async function udpPeer(): Promise<RawUdpPeer> {
    const p = await new RawUdpPeer().open();
    peers.push(p);
    return p;
  }
  /** Handler that answers 200 and records what it saw. */
  function answering(ep: SipEndpoint): IncomingRequest[] {
    const seen: IncomingRequest[] = [];
    ep.addHandler((req) => {
      seen.push(req);
      req.respond(200);
      return true;
    });
    return seen;
  }

  describe('over UDP', () => {
    it('answers 400 to a datagram shorter than its Content-Length and does not process it', async () => {
      const b = await started();
      const seen = answering(b);
      const p = await udpPeer();
      const reply = await p.exchange(b.port, rawRequest('MESSAGE', b.port, { extra: 'Content-Length: 100\r\n\r\nonly this' }));
      assert.match(reply ?? '', /^SIP\/2\.0 400 /);
      assert.equal(seen.length, 0);
    });

    it('drops a response shorter than its Content-Length', async () => {
      const a = await started('udp', { timers: { t1: 50, t2: 200 } });
      const p = await udpPeer();
      const pending = a.request(optionsTo(a, `sip:x@127.0.0.1:${p.port}`));
      const req = decode(await p.next((w) => w.startsWith('OPTIONS'))) as SipRequest;
      const via = `Via: SIP/2.0/UDP ${req.headers.via[0]!.host}:${req.headers.via[0]!.port};branch=${req.headers.via[0]!.params.branch}`;
      const head = `SIP/2.0 200 OK\r\n${via}\r\nFrom: <${req.headers.from.uri}>;tag=${req.headers.from.params.tag}\r\nTo: <${req.headers.to.uri}>;tag=t\r\nCall-ID: ${req.headers['call-id']}\r\nCSeq: 1 OPTIONS\r\n`;
      p.send(a.port, head + 'Content-Length: 10\r\n\r\nshort');
      const r = await pending;
      assert.equal(r.response.status, 408, 'the cut response was not taken for the answer');
    });

    for (const bad of ['-1', 'abc', '1e30']) {
      it(`answers 400 to Content-Length "${bad}"`, async () => {
        const b = await started();
        const seen = answering(b);
        const p = await udpPeer();
        const reply = await p.exchange(b.port, rawRequest('MESSAGE', b.port, { extra: `Content-Length: ${bad}\r\n\r\nhello` }));
        assert.match(reply ?? '', /^SIP\/2\.0 400 Bad Request \(Invalid Content-Length\)/);
        assert.equal(seen.length, 0);
      });
    }

    it('answers 505 to a SIP/3.0 request', async () => {
      const b = await started();
      const seen = answering(b);
      const p = await udpPeer();
      const reply = await p.exchange(b.port, rawRequest('OPTIONS', b.port, { version: '3.0', extra: 'Content-Length: 0\r\n\r\n' }));
      assert.match(reply ?? '', /^SIP\/2\.0 505 /);
      assert.match(reply ?? '', /\r\nCall-ID: raw-1@test\r\n/);
      assert.equal(seen.length, 0);
    });

    it('refuses a 60 KB header with 513 without processing it', async () => {
      const b = await started();
      const seen = answering(b);
      const p = await udpPeer();
      const reply = await p.exchange(b.port, rawRequest('OPTIONS', b.port, { extra: `X-Filler: ${'a'.repeat(60000)}\r\nContent-Length: 0\r\n\r\n` }));
      assert.match(reply ?? '', /^SIP\/2\.0 513 /);
      assert.ok((reply ?? '').length < 1000, 'the refusal does not echo the header');
      assert.equal(seen.length, 0);
    });

    it('keeps requests without a branch apart (RFC 2543 matching) and still absorbs their retransmissions', async () => {
      const b = await started();
      const seen = answering(b);
      const p = await udpPeer();
      for (const branch of [null, 'old-style-no-cookie']) {
        seen.length = 0;
        const first = rawRequest('MESSAGE', b.port, { branch, callId: `a-${branch}`, extra: 'Content-Length: 0\r\n\r\n' });
        const second = rawRequest('MESSAGE', b.port, { branch, callId: `b-${branch}`, extra: 'Content-Length: 0\r\n\r\n' });
        assert.match((await p.exchange(b.port, first)) ?? '', /^SIP\/2\.0 200 /);
        assert.match((await p.exchange(b.port, second)) ?? '', /^SIP\/2\.0 200 /);
        assert.match((await p.exchange(b.port, first)) ?? '', /^SIP\/2\.0 200 /, 'retransmission answered again');
        assert.deepEqual(seen.map((r) => r.message.headers['call-id']), [`a-${branch}`, `b-${branch}`], `branch ${branch}`);
      }
    });
  });

  describe('over TCP', () => {
    it('answers 400 to a message without Content-Length and closes, never taking its body for the next message', async () => {
      const b = await started('tcp');
      const seen = answering(b);
      const smuggled = rawRequest('OPTIONS', b.port, { callId: 'smuggled', extra: 'Content-Length: 0\r\n\r\n' }).replace('UDP', 'TCP');
      const { reply, closedByPeer } = await tcpUntilClosed(b.port, rawRequest('MESSAGE', b.port, { extra: '\r\n' }).replace('UDP', 'TCP') + smuggled);
      assert.match(reply, /^SIP\/2\.0 400 Bad Request \(Missing Content-Length\)/);
      assert.ok(closedByPeer);
      assert.equal(seen.length, 0);
    });

    it('closes a connection that declares a large body and stalls', async () => {
      const b = await started('tcp', { partialMessageTimeoutMs: 300 });
      const head = rawRequest('MESSAGE', b.port, { extra: 'Content-Length: 900000\r\n\r\n' }).replace('UDP', 'TCP');
      const { closedByPeer } = await tcpUntilClosed(b.port, head + 'x'.repeat(1000));
      assert.ok(closedByPeer, 'the endpoint closed the stalled connection');
      await until(() => b.inputLoad.bufferedBytes === 0, 'its partial message to be uncharged');
    });

    it('sheds connections whose partial messages exceed the input budget, keeping the others', async () => {
      const b = await started('tcp', { maxBufferedBytes: 60_000 });
      const head = rawRequest('MESSAGE', b.port, { extra: 'Content-Length: 500000\r\n\r\n' }).replace('UDP', 'TCP');
      const first = net.connect(b.port, '127.0.0.1');
      first.on('error', () => undefined);
      first.write(head + 'x'.repeat(40_000));
      await until(() => b.inputLoad.bufferedBytes >= 40_000, 'the first partial message to be held');
      const second = await tcpUntilClosed(b.port, head + 'y'.repeat(40_000));
      assert.ok(second.closedByPeer, 'the second connection was shed');
      assert.equal(b.inputLoad.shedConnections, 1);
      assert.ok(!first.destroyed && first.readyState === 'open', 'the first one is still served');
      assert.ok(b.inputLoad.bufferedBytes <= 60_000);
      first.destroy();
      await until(() => b.inputLoad.bufferedBytes === 0, 'the closed connection to be uncharged');
    });
  });

  describe('memory', () => {
    it('a server transaction lets go of its request at the final response and keeps answering retransmissions', () => {
      const sent: string[] = [];
      let finals = 0;
      const req = decode(rawRequest('MESSAGE', 5, { extra: 'Content-Length: 4\r\n\r\nbody' })) as SipRequest;
      const st = new ServerTransaction(
        { send: (_p, w) => sent.push(w), timers: DEFAULT_TIMERS },
        req,
        { protocol: 'udp', address: '127.0.0.1', port: 9 },
        'tag',
        () => undefined,
        () => finals++,
      );
      assert.equal(st.request, req);
      st.respond({ ...req, method: undefined, uri: undefined, status: 200, reason: 'OK', content: '' });
      assert.equal(st.request, undefined, 'the request is not kept for 64*T1');
      assert.equal(finals, 1);
      st.retransmission();
      assert.equal(sent.length, 2);
      assert.equal(sent[1], sent[0]);
      st.terminate();
      assert.equal(finals, 1, 'released once');
    });

    it('answered transactions do not keep their datagrams alive (no header value is a slice of the wire)', async () => {
      const gc = collector();
      const b = await started();
      const seen = answering(b);
      const p = await udpPeer();
      const body = 'q'.repeat(60_000);
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 200; i++) {
        const reply = await p.exchange(b.port, rawRequest('MESSAGE', b.port, { callId: `keep-${i}`, extra: `Content-Length: ${body.length}\r\n\r\n${body}` }));
        assert.match(reply ?? '', /^SIP\/2\.0 200 /);
      }
      seen.length = 0; // what the handler saw is the test's, not the endpoint's
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      assert.equal(b.inputLoad.serverTransactions, 200, 'the transactions are still there (Timer J)');
      // 200 datagrams of 60 KB are 12 MB; the transactions themselves are a few hundred KB.
      assert.ok(grown < 4 * 1024 * 1024, `heap grew by ${(grown / 1024 / 1024).toFixed(1)} MB`);
    });

    it('caps server transactions: above the cap a request gets a stateless 503 with Retry-After', async () => {
      const b = await started('udp', { maxServerTransactions: 3 });
      const seen = answering(b);
      const p = await udpPeer();
      for (let i = 0; i < 3; i++) {
        assert.match((await p.exchange(b.port, rawRequest('OPTIONS', b.port, { callId: `c${i}`, extra: 'Content-Length: 0\r\n\r\n' }))) ?? '', /^SIP\/2\.0 200 /);
      }
      const shed = (await p.exchange(b.port, rawRequest('OPTIONS', b.port, { callId: 'c3', extra: 'Content-Length: 0\r\n\r\n' }))) ?? '';
      assert.match(shed, /^SIP\/2\.0 503 /);
      assert.match(shed, /\r\nRetry-After: \d+\r\n/);
      assert.equal(seen.length, 3);
      assert.equal(b.inputLoad.serverTransactions, 3);
      assert.equal(b.inputLoad.shed, 1);
    });

    it('sheds requests while unanswered ones hold the input budget, and takes them again once answered', async () => {
      const b = await started('udp', { maxBufferedBytes: 10_000 });
      const held: IncomingRequest[] = [];
      b.addHandler((req) => (held.push(req), true));
      const p = await udpPeer();
      const body = 'z'.repeat(4000);
      const send = (i: number) => p.send(b.port, rawRequest('MESSAGE', b.port, { callId: `m${i}`, extra: `Content-Length: ${body.length}\r\n\r\n${body}` }));
      send(0);
      send(1);
      await until(() => held.length === 2, 'two requests to be taken');
      assert.match((await p.exchange(b.port, rawRequest('MESSAGE', b.port, { callId: 'm2', extra: `Content-Length: ${body.length}\r\n\r\n${body}` }))) ?? '', /^SIP\/2\.0 503 /);
      assert.equal(held.length, 2);
      for (const r of held) r.respond(200);
      assert.equal(b.inputLoad.bufferedBytes, 0, 'answered requests hold nothing');
      send(3);
      await until(() => held.length === 3, 'a request to be taken again');
    });
  });

  it('carries non-ASCII header text both ways byte for byte (a display name "Jürgen 日本")', async () => {
    const a = await started();
    const b = await started();
    let seen: IncomingRequest | undefined;
    b.addHandler((req) => {
      seen = req;
      req.respond(200, { headers: { subject: `Re: ${String(req.message.headers.subject)}` } });
      return true;
    });
    const req = optionsTo(a, `sip:b@127.0.0.1:${b.port}`);
    req.headers.from = { ...req.headers.from, name: '"Jürgen 日本"' };
    req.headers.subject = 'Grüße 🎉';
    const r = await a.request(req);
    assert.equal(seen?.message.headers.from.name, '"Jürgen 日本"');
    assert.equal(seen?.message.headers.subject, 'Grüße 🎉');
    const sent = Buffer.from(seen!.wire, 'latin1');
    assert.ok(sent.includes(Buffer.from('From: "Jürgen 日本" <', 'utf8')), 'UTF-8 bytes on the wire');
    assert.equal(r.response.headers.from.name, '"Jürgen 日本"');
    assert.equal(r.response.headers.subject, 'Re: Grüße 🎉');
  });

  it('takes a response with an IPv6 Record-Route as the answer instead of timing out', async () => {
    const a = await started();
    const p = await udpPeer();
    const pending = a.request(optionsTo(a, `sip:x@127.0.0.1:${p.port}`));
    const wire = await p.next((w) => w.startsWith('OPTIONS'));
    const head = wire.slice(0, wire.indexOf('\r\n\r\n')).split('\r\n').slice(1).filter((l) => !/^content-length/i.test(l));
    const to = head.findIndex((l) => l.startsWith('To:'));
    head[to] = head[to] + ';tag=v6';
    p.send(a.port, ['SIP/2.0 200 OK', ...head, 'Record-Route: <sip:[2001:db8::1]:5060;lr>', 'Contact: <sip:x@[2001:db8::2]:5060>', 'Content-Length: 0', '', ''].join('\r\n'));
    const r = await pending;
    assert.equal(r.response.status, 200);
    assert.equal(r.response.headers['record-route']![0]!.uri, 'sip:[2001:db8::1]:5060;lr');
  });
});

/** The garbage collector, which tests of retained memory need. */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

async function until(test: () => boolean, what: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
