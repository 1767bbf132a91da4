// The endpoint's trace: what a lab engineer sees of each message, with the
// digest response masked, and memory bounded by count and by bytes.
import assert from 'node:assert/strict';
import { maskSecrets } from '../../lib/trace/mask';
import { TraceBuffer } from '../../lib/trace/trace-buffer';
import { entryBytes, traceEntry, type TraceEntry } from '../../lib/trace/trace-entry';

const ORIGIN = { endpointId: 'ep1', endpoint: 'client', local: '127.0.0.1:40000' };
const CORE = { protocol: 'udp', address: '127.0.0.1', port: 5060 };
const RESPONSE = '6629fae49393a05397450978507c4ef1';

function register(auth: string): string {
  return [
    'REGISTER sip:lab.test SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK1;rport',
    'From: "Alice" <sip:alice@lab.test>;tag=a1',
    'To: <sip:alice@lab.test>',
    'Call-ID: reg-1@127.0.0.1',
    'CSeq: 2 REGISTER',
    auth,
    'Contact: <sip:alice@127.0.0.1:40000>',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const AUTH = `Authorization: Digest username="alice", realm="lab.test", nonce="abc", uri="sip:lab.test", response="${RESPONSE}", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001`;

const UNAUTHORIZED = [
  'SIP/2.0 401 Unauthorized',
  'v: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK1;rport=40000',
  'f: <sip:alice@lab.test>;tag=a1',
  't: <sip:alice@lab.test>;tag=s9',
  'i: reg-1@127.0.0.1',
  'CSeq: 1 REGISTER',
  'WWW-Authenticate: Digest realm="lab.test", nonce="abc", qop="auth"',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

function entry(id: number, text: string, direction: 'in' | 'out' = 'out'): TraceEntry {
  return traceEntry(id, 1000 + id, ORIGIN, { direction, peer: CORE, text });
}

describe('trace: masking credentials', () => {
  it('replaces the digest response and keeps cnonce, nonce and the other parameters', () => {
    const masked = maskSecrets(register(AUTH));
    assert.ok(!masked.includes(RESPONSE));
    assert.match(masked, /response="\*{8}"/);
    assert.match(masked, /cnonce="0a4f113b"/);
    assert.match(masked, /nonce="abc"/);
    assert.match(masked, /username="alice"/);
    assert.match(masked, /Contact: <sip:alice@127\.0\.0\.1:40000>\r\n/);
  });

  it('masks Proxy-Authorization, an unquoted response, a folded header and Basic credentials', () => {
    const folded = `Proxy-Authorization: Digest username="bob", realm="lab.test",\r\n  nonce="n", response=${RESPONSE}, cnonce="c1"`;
    const m1 = maskSecrets(register(folded));
    assert.ok(!m1.includes(RESPONSE));
    assert.match(m1, /cnonce="c1"/);
    const m2 = maskSecrets(register('authorization: Basic YWxpY2U6c2VjcmV0'));
    assert.ok(!m2.includes('YWxpY2U6c2VjcmV0'));
    assert.match(m2, /authorization: Basic \*{8}/);
  });

  it('leaves the body and other headers alone, even when they say "response="', () => {
    const text = register('Subject: response=keep').replace('Content-Length: 0\r\n\r\n', 'Content-Length: 13\r\n\r\nresponse=body');
    assert.equal(maskSecrets(text), text);
  });
});

describe('trace: entries', () => {
  it('summarises a request: method, CSeq, Call-ID, users, and masks its text', () => {
    const e = entry(1, register(AUTH));
    assert.equal(e.method, 'REGISTER');
    assert.equal(e.status, undefined);
    assert.equal(e.cseq, 2);
    assert.equal(e.callId, 'reg-1@127.0.0.1');
    assert.equal(e.fromUser, 'alice');
    assert.equal(e.toUser, 'alice');
    assert.equal(e.peer, '127.0.0.1:5060');
    assert.equal(e.transport, 'UDP');
    assert.equal(e.summary, 'REGISTER sip:lab.test (CSeq 2) alice → alice');
    assert.ok(!e.raw.includes(RESPONSE));
  });

  it('summarises a response in compact form: status, reason and the CSeq method', () => {
    const e = entry(2, UNAUTHORIZED, 'in');
    assert.equal(e.status, 401);
    assert.equal(e.reason, 'Unauthorized');
    assert.equal(e.method, 'REGISTER');
    assert.equal(e.callId, 'reg-1@127.0.0.1');
    assert.equal(e.summary, '401 Unauthorized (CSeq 1 REGISTER) alice → alice');
  });

  it('cuts the text of a huge message at the limit and says so', () => {
    const big = register(AUTH).replace('Content-Length: 0\r\n\r\n', `Content-Length: 5000\r\n\r\n${'x'.repeat(5000)}`);
    const e = traceEntry(3, 0, ORIGIN, { direction: 'out', peer: CORE, text: big }, 1000);
    assert.equal(e.raw.length, 1000);
    assert.equal(e.truncated, true);
  });

  it('names a party without a user part by its host (a core sending third-party REGISTER)', () => {
    const e = entry(5, register(AUTH).replace('From: "Alice" <sip:alice@lab.test>;tag=a1', 'From: <sip:127.0.0.1:5060>;tag=c1'));
    assert.equal(e.fromUser, '127.0.0.1');
    assert.equal(e.summary, 'REGISTER sip:lab.test (CSeq 2) 127.0.0.1 → alice');
  });

  it('brackets IPv6 peers', () => {
    const e = traceEntry(4, 0, ORIGIN, { direction: 'in', peer: { protocol: 'tcp', address: '::1', port: 5060 }, text: UNAUTHORIZED });
    assert.equal(e.peer, '[::1]:5060');
  });
});

describe('trace: the bounded buffer', () => {
  it('keeps the newest entries up to its size, oldest first', () => {
    const b = new TraceBuffer({ maxEntries: 3 });
    for (let i = 1; i <= 5; i++) b.push(entry(i, UNAUTHORIZED));
    assert.deepEqual(b.list().map((e) => e.id), [3, 4, 5]);
    assert.deepEqual(b.list(3).map((e) => e.id), [4, 5]);
    assert.equal(b.size, 3);
  });

  it('keeps nothing when its size is 0', () => {
    const b = new TraceBuffer({ maxEntries: 0 });
    b.push(entry(1, UNAUTHORIZED));
    assert.equal(b.enabled, false);
    assert.deepEqual(b.list(), []);
  });

  it('stays within its byte bound, dropping the oldest, and refuses an entry larger than the bound', () => {
    const one = entryBytes(entry(1, UNAUTHORIZED));
    const b = new TraceBuffer({ maxEntries: 100, maxBytes: one * 2 + 10 });
    for (let i = 1; i <= 10; i++) b.push(entry(i, UNAUTHORIZED));
    assert.deepEqual(b.list().map((e) => e.id), [9, 10]);
    assert.ok(b.bytes <= b.maxBytes);
    const huge = register(AUTH) + 'x'.repeat(one * 3);
    b.push(entry(11, huge));
    assert.deepEqual(b.list().map((e) => e.id), [9, 10]);
  });

  it('holds 10,000 messages in a bounded ring without growing past it', () => {
    const b = new TraceBuffer({ maxEntries: 500 });
    for (let i = 1; i <= 10_000; i++) b.push(entry(i, UNAUTHORIZED));
    const ids = b.list().map((e) => e.id);
    assert.equal(ids.length, 500);
    assert.equal(ids[0], 9501);
    assert.equal(ids.at(-1), 10_000);
    assert.equal(b.bytes, 500 * entryBytes(entry(1, UNAUTHORIZED)));
    b.clear();
    assert.equal(b.size, 0);
    assert.equal(b.bytes, 0);
  });
});
