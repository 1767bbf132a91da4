import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { SipEndpoint } from '../../lib/sip/endpoint';
import type { IncomingRequest } from '../../lib/sip/endpoint';
import { optionsTo } from '../support/sip-builders';

function endpoint(transport: 'udp' | 'tcp' = 'udp', extra: Partial<ConstructorParameters<typeof SipEndpoint>[0]> = {}) {
  return new SipEndpoint({ transport, address: '127.0.0.1', port: 0, ...extra });
}

function udpExchange(port: number, text: string, waitMs = 1000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, waitMs);
    s.on('message', (buf) => {
      clearTimeout(timer);
      s.close();
      resolve(buf.toString('utf8'));
    });
    s.send(Buffer.from(text, 'utf8'), port, '127.0.0.1');
  });
}

function rawRequest(method: string, port: number, extra = ''): string {
  return (
    `${method} sip:x@127.0.0.1:${port} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-raw-${method}-${Math.random()};rport\r\n` +
    'From: <sip:raw@127.0.0.1>;tag=r1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: raw-1@test\r\n' +
    `CSeq: 1 ${method}\r\n${extra}Content-Length: 0\r\n\r\n`
  );
}

describe('SIP endpoint (transport and transactions)', () => {
  const open: SipEndpoint[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((e) => e.close()));
  });
  async function started(transport: 'udp' | 'tcp' = 'udp', extra = {}) {
    const e = endpoint(transport, extra);
    open.push(e);
    await e.start();
    return e;
  }

  for (const transport of ['udp', 'tcp'] as const) {
    it(`two endpoints on 127.0.0.1 exchange a request over ${transport.toUpperCase()} with an exact UTF-8 body`, async () => {
      const a = await started(transport);
      const b = await started(transport);
      const body = 'Grüße, 日本語, emoji 🎉';
      let seen: IncomingRequest | undefined;
      b.addHandler((req) => {
        seen = req;
        req.respond(200, { body: req.message.content, contentType: 'text/plain;charset=utf-8' });
        return true;
      });
      const r = await a.request(optionsTo(a, `sip:b@127.0.0.1:${b.port};transport=${transport}`, body));
      assert.equal(r.response.status, 200);
      assert.equal(seen?.message.content, body);
      assert.equal(r.response.content, body);
      assert.match(r.requestWire, new RegExp(`Content-Length: ${Buffer.byteLength(body)}\\r\\n`));
      assert.equal(r.peer.protocol, transport);
      assert.ok(r.response.headers.to.params.tag, 'the response carries a To tag');
    });
  }

  it('reports a busy port as an error instead of crashing, and port 0 picks a free port', async () => {
    const a = await started();
    assert.ok(a.port > 0);
    const b = endpoint('udp', { port: a.port });
    await assert.rejects(b.start(), /port \d+ on 127\.0\.0\.1 is already in use/);
    await b.close();
  });

  it('releases UDP and TCP sockets on close so the port can be bound again', async () => {
    const a = await started('tcp');
    const b = await started('tcp');
    b.addHandler((req) => (req.respond(200), true));
    await a.request(optionsTo(a, `sip:b@127.0.0.1:${b.port};transport=tcp`));
    const port = b.port;
    await b.close();
    const again = endpoint('tcp', { port });
    open.push(again);
    await again.start();
    assert.equal(again.port, port);
  });

  it('times out with a local 408 when nobody answers (Timer F)', async () => {
    const a = await started('udp', { timers: { t1: 20, t2: 80 } });
    const silent = dgram.createSocket('udp4');
    let copies = 0;
    silent.on('message', () => copies++);
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    const r = await a.request(optionsTo(a, `sip:x@127.0.0.1:${port}`));
    silent.close();
    assert.equal(r.response.status, 408);
    assert.equal(r.responseWire, undefined, 'a local response has no wire text');
    assert.ok(copies >= 4, `UDP retransmissions were sent (${copies})`);
  });

  it('fails fast with 503 when a TCP peer refuses the connection', async () => {
    const a = await started('tcp');
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const t0 = Date.now();
    const r = await a.request(optionsTo(a, `sip:x@127.0.0.1:${port};transport=tcp`));
    assert.equal(r.response.status, 503);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('answers a retransmitted request with the same response and calls the handler once', async () => {
    const b = await started();
    let calls = 0;
    b.addHandler((req) => {
      calls++;
      req.respond(200);
      return true;
    });
    const text = rawRequest('OPTIONS', b.port);
    const s = dgram.createSocket('udp4');
    const replies: string[] = [];
    s.on('message', (buf) => replies.push(buf.toString('utf8')));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    s.send(text, b.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    s.send(text, b.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    s.close();
    assert.equal(replies.length, 2);
    assert.match(replies[0]!, /^SIP\/2\.0 200 /);
    assert.match(replies[0]!, /;rport=\d+/, 'rport is filled in (RFC 3581)');
    assert.equal(replies[1], replies[0]);
    assert.equal(calls, 1);
  });

  it('answers unknown methods with 501, unhandled known ones with 405, malformed requests with 400', async () => {
    const b = await started();
    assert.match((await udpExchange(b.port, rawRequest('FROBNICATE', b.port))) ?? '', /^SIP\/2\.0 501 /);
    const r405 = (await udpExchange(b.port, rawRequest('MESSAGE', b.port))) ?? '';
    assert.match(r405, /^SIP\/2\.0 405 /);
    assert.match(r405, /\r\nAllow: /i);
    const bad = rawRequest('OPTIONS', b.port).replace('CSeq: 1 OPTIONS', 'CSeq: 1 OPTIONS\r\nthis line has no colon');
    assert.match((await udpExchange(b.port, bad)) ?? '', /^SIP\/2\.0 400 /);
    const mismatch = rawRequest('OPTIONS', b.port).replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE');
    assert.match((await udpExchange(b.port, mismatch)) ?? '', /^SIP\/2\.0 400 /);
    assert.equal(await udpExchange(b.port, 'garbage that is not SIP\r\n\r\n', 300), undefined);
  });

  it('answers 500 when a handler throws, and keeps serving', async () => {
    const b = await started();
    let n = 0;
    b.addHandler(() => {
      if (n++ === 0) throw new Error('boom');
      return false;
    });
    assert.match((await udpExchange(b.port, rawRequest('OPTIONS', b.port))) ?? '', /^SIP\/2\.0 500 /);
    assert.match((await udpExchange(b.port, rawRequest('OPTIONS', b.port))) ?? '', /^SIP\/2\.0 405 /);
  });

  it('refuses an oversized TCP message with 413 and closes the connection', async () => {
    const b = await started('tcp', { maxBodyBytes: 1000 });
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(b.port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.write(rawRequest('MESSAGE', b.port).replace('Content-Length: 0', 'Content-Length: 5000000'));
    });
    assert.match(reply, /^SIP\/2\.0 413 /);
  });

  it('caps requests in flight and still completes them all', async () => {
    const a = await started('udp', { maxInFlight: 4 });
    const b = await started();
    let concurrent = 0;
    let peak = 0;
    b.addHandler((req) => {
      concurrent++;
      peak = Math.max(peak, concurrent);
      setTimeout(() => {
        concurrent--;
        req.respond(200);
      }, 5);
      return true;
    });
    const results = await Promise.all(
      Array.from({ length: 40 }, () => a.request(optionsTo(a, `sip:b@127.0.0.1:${b.port}`))),
    );
    assert.ok(results.every((r) => r.response.status === 200));
    assert.ok(peak <= 4, `peak in flight ${peak}`);
  });

  it('closes with thousands of requests waiting for room in flight: each answered 503, no stack overflow', async () => {
    // A busy server at redeploy (the lab core with thousands of third-party
    // REGISTERs queued): closing fails the requests in flight, and each one
    // that ends lets the next waiting one start, which ends at once too.
    const a = await started('udp', { maxInFlight: 2 });
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const pending = Array.from({ length: 20_000 }, () => a.request(optionsTo(a, `sip:nobody@127.0.0.1:${port}`)));
      await a.close();
      const results = await Promise.all(pending);
      assert.equal(results.filter((r) => r.response.status === 503).length, 20_000, 'every request gets a local 503');
    } finally {
      silent.close();
    }
  });

  it('resolves host names through the system resolver (/etc/hosts)', async () => {
    const a = await started();
    const b = await started();
    b.addHandler((req) => (req.respond(200), true));
    const r = await a.request(optionsTo(a, `sip:b@localhost:${b.port}`));
    assert.equal(r.response.status, 200);
  });
});
