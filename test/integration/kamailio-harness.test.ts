// Proves that the Kamailio harness and test/kamailio/kamailio.cfg give the
// integration tests a working SIP/IP core: digest registration (SIPp and raw
// SIP), third-party REGISTER to an application server, reg event, routing
// over TCP to a registered Contact, and a clean stop.
//
// SIP is written by hand here on purpose: this test must not depend on the
// pack's own SIP code, which is what the core is there to test.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sippCsv } from '../../bench/sipp/users';
import { KamailioInstance, projectRoot, startKamailio } from '../support/kamailio';
import { freePort } from '../support/free-port';

const HOST = '127.0.0.1';
const WAIT_MS = 5000;

// ------------------------------------------------------------------ SIP text

function headerValue(msg: string, name: string): string | undefined {
  const head = msg.split('\r\n\r\n')[0];
  const re = new RegExp(`^${name}[ \\t]*:[ \\t]*(.*)$`, 'im');
  return re.exec(head)?.[1].trim();
}

function headerValues(msg: string, name: string): string[] {
  const head = msg.split('\r\n\r\n')[0];
  const re = new RegExp(`^${name}[ \\t]*:[ \\t]*(.*)$`, 'gim');
  return [...head.matchAll(re)].map((m) => m[1].trim());
}

function statusCode(msg: string): number | undefined {
  const m = /^SIP\/2\.0 (\d{3})/.exec(msg);
  return m ? Number(m[1]) : undefined;
}

function requestMethod(msg: string): string | undefined {
  return /^([A-Z]+) \S+ SIP\/2\.0/.exec(msg)?.[1];
}

function body(msg: string): string {
  const i = msg.indexOf('\r\n\r\n');
  return i < 0 ? '' : msg.slice(i + 4);
}

function build(startLine: string, headers: string[], content = ''): string {
  return [startLine, ...headers, `Content-Length: ${Buffer.byteLength(content)}`, '', content].join('\r\n');
}

/** A response to `request` that keeps its Via, From, To (adding `toTag` if it has none), Call-ID and CSeq. */
function responseTo(request: string, status: string, extra: string[] = [], toTag = token()): string {
  const keep = ['Via', 'From', 'To', 'Call-ID', 'CSeq'].flatMap((h) => headerValues(request, h).map((v) => `${h}: ${v}`));
  const withTag = keep.map((h) => (h.startsWith('To:') && !/;tag=/.test(h) ? `${h};tag=${toTag}` : h));
  return build(`SIP/2.0 ${status}`, [...withTag, ...extra]);
}

function token(): string {
  return crypto.randomBytes(6).toString('hex');
}

// ------------------------------------------------------------------ digest (RFC 2617, qop=auth)

function md5(s: string): string {
  return crypto.createHash('md5').update(s).digest('hex');
}

function challengeParams(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of header.replace(/^Digest\s+/i, '').matchAll(/(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]+))/g)) {
    params[m[1].toLowerCase()] = m[2] ?? m[3];
  }
  return params;
}

function authorization(challenge: string, user: string, password: string, method: string, uri: string): string {
  const c = challengeParams(challenge);
  const cnonce = token();
  const nc = '00000001';
  const ha1 = md5(`${user}:${c.realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  const response = md5(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Authorization: Digest username="${user}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", ` +
    `response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}"` + (c.opaque ? `, opaque="${c.opaque}"` : '');
}

// ------------------------------------------------------------------ a raw UDP endpoint

type Match = (msg: string) => boolean;

/** A UDP socket that keeps what it receives until a test takes it. */
class Endpoint {
  private inbox: string[] = [];
  private waiters: { match: Match; resolve: (m: string) => void }[] = [];
  /** Answer every incoming request of these methods with 200 (an application server's job). */
  autoAnswer = new Set<string>();

  private constructor(readonly socket: dgram.Socket, readonly port: number) {
    socket.on('message', (buf, rinfo) => this.receive(buf.toString(), rinfo));
  }

  static async open(): Promise<Endpoint> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, HOST, () => resolve()));
    return new Endpoint(socket, socket.address().port);
  }

  private receive(msg: string, rinfo: dgram.RemoteInfo): void {
    const method = requestMethod(msg);
    if (method && this.autoAnswer.has(method)) {
      const expires = headerValue(msg, 'Expires');
      this.socket.send(responseTo(msg, '200 OK', expires ? [`Expires: ${expires}`] : []), rinfo.port, rinfo.address);
    }
    const i = this.waiters.findIndex((w) => w.match(msg));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(msg);
    else this.inbox.push(msg);
  }

  send(msg: string, port: number): void {
    this.socket.send(msg, port, HOST);
  }

  /** The first message, already received or still to come, that matches. */
  next(match: Match, what: string, timeoutMs = WAIT_MS): Promise<string> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: string) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${what}: nothing within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  close(): void {
    this.socket.close();
  }
}

const isResponse = (callId: string, method: string, final = true): Match => (m) =>
  statusCode(m) !== undefined && (!final || (statusCode(m) as number) >= 200) &&
  headerValue(m, 'Call-ID') === callId && (headerValue(m, 'CSeq') ?? '').endsWith(method);

const isRequest = (method: string, pred: Match = () => true): Match => (m) => requestMethod(m) === method && pred(m);

// ------------------------------------------------------------------ registering by hand

interface Binding {
  user: string;
  password: string;
  ua: Endpoint;
  callId: string;
  cseq: number;
}

function newBinding(user: string, password: string, ua: Endpoint): Binding {
  return { user, password, ua, callId: `reg-${user}-${token()}`, cseq: 0 };
}

function registerRequest(core: KamailioInstance, b: Binding, contact: string, headers: string[]): string {
  b.cseq += 1;
  const uri = `sip:${core.domain}`;
  return build(`REGISTER ${uri} SIP/2.0`, [
    `Via: SIP/2.0/UDP ${HOST}:${b.ua.port};branch=z9hG4bK-${token()};rport`,
    'Max-Forwards: 70',
    `From: <sip:${b.user}@${core.domain}>;tag=${b.callId}`,
    `To: <sip:${b.user}@${core.domain}>`,
    `Call-ID: ${b.callId}`,
    `CSeq: ${b.cseq} REGISTER`,
    `Contact: ${contact}`,
    ...headers,
  ]);
}

/** REGISTER, answer the 401 with digest credentials, return the final response. */
/**
 * Sends a request that the core authenticates as a proxy: on 407 it goes again
 * with the next CSeq and Proxy-Authorization. Returns the response the core forwarded.
 */
async function sendProxyAuthorized(core: KamailioInstance, ua: Endpoint, callId: string, method: string, uri: string, user: string, password: string, make: (cseq: number, extra: string[]) => string): Promise<void> {
  ua.send(make(1, []), core.port);
  const first = await ua.next(isResponse(callId, method), `407 to ${method}`);
  assert.equal(statusCode(first), 407, 'the core challenges the client as a proxy');
  const challenge = headerValue(first, 'Proxy-Authenticate') ?? '';
  ua.send(make(2, ['Proxy-' + authorization(challenge, user, password, method, uri)]), core.port);
}

async function register(core: KamailioInstance, b: Binding, contact: string, headers: string[] = []): Promise<string> {
  b.ua.send(registerRequest(core, b, contact, headers), core.port);
  const first = await b.ua.next(isResponse(b.callId, 'REGISTER'), `response to REGISTER of ${b.user}`);
  if (statusCode(first) !== 401) return first;
  const challenge = headerValue(first, 'WWW-Authenticate') ?? '';
  const auth = authorization(challenge, b.user, b.password, 'REGISTER', `sip:${core.domain}`);
  b.ua.send(registerRequest(core, b, contact, [...headers, auth]), core.port);
  return b.ua.next(isResponse(b.callId, 'REGISTER'), `response to authenticated REGISTER of ${b.user}`);
}

function contactOf(ua: Endpoint, user: string, params = ''): string {
  return `<sip:${user}@${HOST}:${ua.port}>${params}`;
}

// ------------------------------------------------------------------ SIPp

function runSipp(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sipp', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

async function sippRegister(core: KamailioInstance, user: string, password: string): Promise<{ code: number | null; output: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-sipp-'));
  try {
    fs.writeFileSync(path.join(dir, 'users.csv'), sippCsv([{ user, password }], core.domain));
    const scenario = path.join(projectRoot(), 'bench', 'sipp', 'register.xml');
    const args = [`${core.host}:${core.port}`, '-sf', scenario, '-inf', path.join(dir, 'users.csv'),
      '-i', HOST, '-p', String(await freePort()), '-m', '1', '-l', '1', '-r', '10', '-t', 'u1',
      '-recv_timeout', '4000', '-timeout', '10', '-timeout_error', '-nostdin', '-trace_err'];
    return await runSipp(args, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ TCP listener (a client reachable at a TCP Contact)

/** Collects SIP messages arriving on any TCP connection; answers MESSAGE with 200 on the same connection. */
async function tcpClient(): Promise<{ port: number; received: string[]; close: () => void }> {
  const received: string[] = [];
  const server = net.createServer((conn) => {
    let buffer = '';
    conn.on('data', (chunk) => {
      buffer += chunk.toString();
      for (let msg = takeMessage(buffer); msg; msg = takeMessage(buffer)) {
        buffer = buffer.slice(msg.length);
        received.push(msg);
        if (requestMethod(msg) === 'MESSAGE') conn.write(responseTo(msg, '200 OK'));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  return { port: (server.address() as net.AddressInfo).port, received, close: () => server.close() };
}

/** One complete message at the start of a TCP stream (RFC 3261 18.3 framing by Content-Length). */
function takeMessage(buffer: string): string | undefined {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const length = Number(headerValue(buffer.slice(0, end + 4), 'Content-Length') ?? 0);
  const total = end + 4 + length;
  return buffer.length >= total ? buffer.slice(0, total) : undefined;
}

async function eventually(check: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ------------------------------------------------------------------ the tests

describe('Kamailio harness (real SIP core)', function () {
  this.timeout(40_000);

  describe('core with application server and reg event', function () {
    const MIN_EXPIRES = 5;
    let core: KamailioInstance;
    let as: Endpoint;
    let ua: Endpoint;

    before(async function () {
      as = await Endpoint.open();
      as.autoAnswer.add('REGISTER');
      core = await startKamailio({ appServer: { host: HOST, port: as.port }, minExpires: MIN_EXPIRES, maxExpires: 600 });
    });

    beforeEach(async function () {
      ua = await Endpoint.open();
    });

    afterEach(function () {
      ua.close();
      if (this.currentTest?.state === 'failed') console.log(core.log().split('\n').filter((l) => !/ INFO: /.test(l)).join('\n').slice(-8000));
    });

    after(async function () {
      await core?.stop();
      as?.close();
    });

    it('lets SIPp register a user with digest authentication', async function () {
      const ok = await sippRegister(core, 'carol', 'carol-pw');
      assert.equal(ok.code, 0, `SIPp failed:\n${ok.output.slice(-3000)}`);
      const wrong = await sippRegister(core, 'carol', 'not-the-password');
      assert.notEqual(wrong.code, 0, 'a wrong password must not register');
    });

    it('sends a third-party REGISTER to the application server on registration and de-registration', async function () {
      const alice = newBinding('alice', 'alice-pw', ua);
      const tagged = contactOf(ua, 'alice', ';+g.poc.talkburst');
      const ok = await register(core, alice, tagged, ['Expires: 120']);
      assert.equal(statusCode(ok), 200, ok);

      const forAlice: Match = isRequest('REGISTER', (m) => (headerValue(m, 'To') ?? '').includes(`sip:alice@${core.domain}`));
      const third = await as.next(forAlice, 'third-party REGISTER');
      assert.match(third, new RegExp(`^REGISTER sip:${HOST}:${as.port}[; ]`));
      assert.match(headerValue(third, 'From') ?? '', new RegExp(`sip:${HOST}:${core.port}`));
      assert.match(headerValue(third, 'Contact') ?? '', new RegExp(`sip:${HOST}:${core.port}`));
      const granted = Number(headerValue(third, 'Expires'));
      assert.ok(granted > 110 && granted <= 120, `granted expiry ${granted}`);

      // Staying registered to the core without the PoC tag ends the PoC registration.
      const untagged = await register(core, alice, contactOf(ua, 'alice'), ['Expires: 120']);
      assert.equal(statusCode(untagged), 200, untagged);
      assert.equal(headerValue(await as.next(forAlice, 'third-party de-REGISTER (tags dropped)'), 'Expires'), '0');

      await register(core, alice, tagged, ['Expires: 120']);
      assert.notEqual(headerValue(await as.next(forAlice, 'third-party REGISTER again'), 'Expires'), '0');
      const gone = await register(core, alice, tagged, ['Expires: 0']);
      assert.equal(statusCode(gone), 200, gone);
      assert.equal(headerValue(await as.next(forAlice, 'third-party de-REGISTER (Expires 0)'), 'Expires'), '0');
    });

    it('tells the application server when a binding expires', async function () {
      const bob = newBinding('bob', 'bob-pw', ua);
      const ok = await register(core, bob, contactOf(ua, 'bob', ';+g.oma.sip-im'), [`Expires: ${MIN_EXPIRES}`]);
      assert.equal(statusCode(ok), 200, ok);
      const forBob: Match = isRequest('REGISTER', (m) => (headerValue(m, 'To') ?? '').includes(`sip:bob@${core.domain}`));
      assert.notEqual(headerValue(await as.next(forBob, 'third-party REGISTER'), 'Expires'), '0');
      // usrloc checks expiry every 5 s
      const expired = await as.next(forBob, 'third-party REGISTER on expiry', MIN_EXPIRES * 1000 + 10_000);
      assert.equal(headerValue(expired, 'Expires'), '0');
    });

    it('answers SUBSCRIBE Event: reg with 200 and a NOTIFY carrying reginfo', async function () {
      const bob = newBinding('bob', 'bob-pw', ua);
      const bobContact = `sip:bob@${HOST}:${ua.port}`;
      assert.equal(statusCode(await register(core, bob, `<${bobContact}>`, ['Expires: 300'])), 200);

      const watcher = await Endpoint.open();
      try {
        const callId = `sub-${token()}`;
        watcher.send(build(`SUBSCRIBE sip:bob@${core.domain} SIP/2.0`, [
          `Via: SIP/2.0/UDP ${HOST}:${watcher.port};branch=z9hG4bK-${token()};rport`,
          'Max-Forwards: 70',
          `From: <sip:alice@${core.domain}>;tag=${token()}`,
          `To: <sip:bob@${core.domain}>`,
          `Call-ID: ${callId}`,
          'CSeq: 1 SUBSCRIBE',
          `Contact: <sip:alice@${HOST}:${watcher.port}>`,
          'Event: reg',
          'Accept: application/reginfo+xml',
          'Expires: 600',
        ]), core.port);
        const ok = await watcher.next(isResponse(callId, 'SUBSCRIBE'), 'response to SUBSCRIBE');
        assert.equal(statusCode(ok), 200, ok);

        // The registration is published asynchronously: the first NOTIFY may
        // still be empty. Answer each one until bob's contact shows up.
        let notify = '';
        const deadline = Date.now() + WAIT_MS;
        while (!body(notify).includes(bobContact)) {
          notify = await watcher.next(isRequest('NOTIFY', (m) => headerValue(m, 'Call-ID') === callId), 'NOTIFY', Math.max(1, deadline - Date.now()));
          watcher.send(responseTo(notify, '200 OK'), core.port);
        }
        assert.equal(headerValue(notify, 'Event'), 'reg');
        assert.match(headerValue(notify, 'Content-Type') ?? '', /application\/reginfo\+xml/);
        assert.match(headerValue(notify, 'Subscription-State') ?? '', /^active/);
        assert.match(body(notify), /<reginfo[\s>]/);
        assert.match(body(notify), new RegExp(`aor="sip:bob@${core.domain}"`));
      } finally {
        watcher.close();
      }
    });

    it('refuses too brief an interval with 423 and Min-Expires from its options', async function () {
      const carol = newBinding('carol', 'carol-pw', ua);
      const brief = await register(core, carol, contactOf(ua, 'carol'), [`Expires: ${MIN_EXPIRES - 2}`]);
      assert.equal(statusCode(brief), 423, brief);
      assert.equal(headerValue(brief, 'Min-Expires'), String(MIN_EXPIRES));
      const long = await register(core, carol, contactOf(ua, 'carol'), ['Expires: 7200']);
      assert.equal(statusCode(long), 200, long);
      assert.match(headerValue(long, 'Contact') ?? '', /;expires=600\b/);
    });

    it('accepts Require: pref and gruu and returns GRUUs', async function () {
      const carol = newBinding('carol', 'carol-pw', ua);
      const instance = `<urn:uuid:${crypto.randomUUID()}>`;
      const ok = await register(core, carol, `${contactOf(ua, 'carol')};+g.oma.sip-im;+sip.instance="${instance}"`,
        ['Expires: 300', 'Supported: gruu', 'Require: pref, gruu']);
      assert.equal(statusCode(ok), 200, ok);
      assert.match(ok, /pub-gruu="sip:carol@[^"]*;gr=urn:uuid:/);
      assert.match(ok, /temp-gruu="/);
      await register(core, carol, `${contactOf(ua, 'carol')};+sip.instance="${instance}"`, ['Expires: 0']);
    });

    it('relays settings SUBSCRIBE and PUBLISH to the application server and routes its NOTIFY back', async function () {
      // A client subscribes to its own poc-settings: the core relays to the AS
      // with Record-Route, so the AS's in-dialog NOTIFY comes back through it.
      const callId = `set-${token()}`;
      const fromTag = token();
      const aliceUri = `sip:alice@${core.domain}`;
      await sendProxyAuthorized(core, ua, callId, 'SUBSCRIBE', aliceUri, 'alice', 'alice-pw', (cseq, extra) => build(`SUBSCRIBE ${aliceUri} SIP/2.0`, [
        `Via: SIP/2.0/UDP ${HOST}:${ua.port};branch=z9hG4bK-${token()};rport`,
        'Max-Forwards: 70',
        `From: <sip:alice@${core.domain}>;tag=${fromTag}`,
        `To: <sip:alice@${core.domain}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} SUBSCRIBE`,
        `Contact: <sip:alice@${HOST}:${ua.port}>`,
        'Event: poc-settings',
        'Expires: 600',
        ...extra,
      ]));
      const atAs = await as.next(isRequest('SUBSCRIBE', (m) => headerValue(m, 'Call-ID') === callId), 'SUBSCRIBE at the AS');
      assert.match(atAs, new RegExp(`^SUBSCRIBE sip:alice@${core.domain} SIP/2\\.0`), 'Request-URI stays the user');
      assert.equal(headerValue(atAs, 'P-Asserted-Identity'), `<sip:alice@${core.domain}>`, 'the core asserts the authenticated user');
      const recordRoute = headerValues(atAs, 'Record-Route');
      assert.equal(recordRoute.length, 1);
      assert.match(recordRoute[0], new RegExp(`${HOST}:${core.port}.*;lr`));

      const asTag = token();
      as.send(responseTo(atAs, '200 OK', [`Contact: <sip:${HOST}:${as.port}>`, `Record-Route: ${recordRoute[0]}`, 'Expires: 600'], asTag), core.port);
      assert.equal(statusCode(await ua.next(isResponse(callId, 'SUBSCRIBE'), '200 to SUBSCRIBE')), 200);

      as.send(build(`NOTIFY sip:alice@${HOST}:${ua.port} SIP/2.0`, [
        `Via: SIP/2.0/UDP ${HOST}:${as.port};branch=z9hG4bK-${token()};rport`,
        'Max-Forwards: 70',
        `Route: ${recordRoute[0]}`,
        `From: <sip:alice@${core.domain}>;tag=${asTag}`,
        `To: <sip:alice@${core.domain}>;tag=${fromTag}`,
        `Call-ID: ${callId}`,
        'CSeq: 1 NOTIFY',
        `Contact: <sip:${HOST}:${as.port}>`,
        'Event: poc-settings',
        'Subscription-State: active;expires=600',
      ]), core.port);
      const notify = await ua.next(isRequest('NOTIFY', (m) => headerValue(m, 'Call-ID') === callId), 'NOTIFY through the core');
      assert.match(headerValue(notify, 'Via') ?? '', new RegExp(`${HOST}:${core.port}`), 'the core is on the path');
      ua.send(responseTo(notify, '200 OK'), core.port);
      const notifyOk = await as.next(isResponse(callId, 'NOTIFY'), '200 to NOTIFY at the AS');
      assert.equal(statusCode(notifyOk), 200);

      // PUBLISH poc-settings and SUBSCRIBE to deferred message info take the same way.
      for (const [method, event] of [['PUBLISH', 'poc-settings'], ['SUBSCRIBE', 'deferred-messages']]) {
        const id = `${method}-${token()}`;
        const tag = token();
        await sendProxyAuthorized(core, ua, id, method, aliceUri, 'alice', 'alice-pw', (cseq, extra) => build(`${method} ${aliceUri} SIP/2.0`, [
          `Via: SIP/2.0/UDP ${HOST}:${ua.port};branch=z9hG4bK-${token()};rport`,
          'Max-Forwards: 70',
          `From: <sip:alice@${core.domain}>;tag=${tag}`,
          `To: <sip:alice@${core.domain}>`,
          `Call-ID: ${id}`,
          `CSeq: ${cseq} ${method}`,
          `Contact: <sip:alice@${HOST}:${ua.port}>`,
          `Event: ${event}`,
          'Expires: 0',
          ...extra,
        ]));
        const relayed = await as.next(isRequest(method, (m) => headerValue(m, 'Call-ID') === id), `${method} ${event} at the AS`);
        assert.equal(headerValue(relayed, 'Event'), event);
        as.send(responseTo(relayed, '200 OK', [`Contact: <sip:${HOST}:${as.port}>`, 'Expires: 0']), core.port);
        assert.equal(statusCode(await ua.next(isResponse(id, method), `200 to ${method} back at the client`)), 200);
      }
    });

    it('routes a request to a user registered with a TCP Contact over a new TCP connection', async function () {
      const client = await tcpClient();
      try {
        const bob = newBinding('bob', 'bob-pw', ua);
        const ok = await register(core, bob, `<sip:bob@${HOST}:${client.port};transport=tcp>`, ['Expires: 300']);
        assert.equal(statusCode(ok), 200, ok);

        const callId = `msg-${token()}`;
        const text = `hello ${token()}`;
        const sender = await Endpoint.open();
        try {
          // The core proves who sends a MESSAGE (407) before it routes it.
          const fromTag = token();
          await sendProxyAuthorized(core, sender, callId, 'MESSAGE', `sip:bob@${core.domain}`, 'alice', 'alice-pw', (cseq, extra) => build(`MESSAGE sip:bob@${core.domain} SIP/2.0`, [
            `Via: SIP/2.0/UDP ${HOST}:${sender.port};branch=z9hG4bK-${token()};rport`,
            'Max-Forwards: 70',
            `From: <sip:alice@${core.domain}>;tag=${fromTag}`,
            `To: <sip:bob@${core.domain}>`,
            `Call-ID: ${callId}`,
            `CSeq: ${cseq} MESSAGE`,
            'Content-Type: text/plain',
            ...extra,
          ], text));
          const answer = await sender.next(isResponse(callId, 'MESSAGE'), 'response to MESSAGE');
          assert.equal(statusCode(answer), 200, answer);
          await eventually(() => client.received.some((m) => body(m) === text), 'MESSAGE over TCP');
        } finally {
          sender.close();
        }
        await register(core, bob, '*', ['Expires: 0']);
      } finally {
        client.close();
      }
    });
  });

  describe('lifecycle', function () {
    it('refuses options that would break the configuration', async function () {
      await assert.rejects(startKamailio({ domain: 'lab test"' }), /invalid domain/);
    });

    it('answers OPTIONS once started and releases its port and processes on stop', async function () {
      const core = await startKamailio({ reginfo: false, children: 1 });
      const runDir = path.dirname(core.ctlSocket.replace(/^unix:/, ''));
      assert.ok(fs.existsSync(runDir));
      process.kill(core.pid, 0); // alive

      const probe = await Endpoint.open();
      try {
        const callId = `opt-${token()}`;
        probe.send(build(`OPTIONS sip:${HOST}:${core.port} SIP/2.0`, [
          `Via: SIP/2.0/UDP ${HOST}:${probe.port};branch=z9hG4bK-${token()}`,
          'Max-Forwards: 70',
          `From: <sip:probe@${HOST}>;tag=${token()}`,
          `To: <sip:${HOST}:${core.port}>`,
          `Call-ID: ${callId}`,
          'CSeq: 1 OPTIONS',
        ]), core.port);
        assert.equal(statusCode(await probe.next(isResponse(callId, 'OPTIONS'), 'OPTIONS')), 200);
      } finally {
        probe.close();
      }

      await core.stop();
      assert.throws(() => process.kill(-core.pid, 0), /ESRCH/, 'no process of the group may survive');
      assert.ok(!fs.existsSync(runDir), 'run directory removed');
      await assertPortFree(core.port);
    });
  });
});

async function assertPortFree(port: number): Promise<void> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, HOST, () => resolve());
  });
  udp.close();
  const tcp = net.createServer();
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, HOST, () => resolve());
  });
  tcp.close();
}
