import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  DIGEST_ALGORITHMS,
  DigestAlgorithm,
  DigestAnswer,
  DigestClient,
  DigestCredentials,
  DigestError,
  DigestQop,
  DigestServer,
  DigestServerOptions,
  challengeToSplit,
  computeResponse,
  credentialsToSplit,
  formatChallenge,
  formatCredentials,
  h,
  parseAlgorithm,
  parseAuthParams,
  parseChallenge,
  parseCredentials,
} from '../../lib/auth';

// ---------------------------------------------------------------------------
// Independent reference computations (straight from RFC 7616 §3.4, no library code)

const NODE_NAME: Record<string, string> = { MD5: 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };

function refH(alg: string, data: string | Buffer): string {
  return createHash(NODE_NAME[alg.replace(/-sess$/, '')] as string)
    .update(data)
    .digest('hex');
}

interface RefInput {
  alg: string;
  user: string;
  realm: string;
  pass: string;
  nonce: string;
  method: string;
  uri: string;
  qop?: 'auth' | 'auth-int';
  nc?: string;
  cnonce?: string;
  body?: string;
}

function refResponse(r: RefInput): string {
  let a1hash = refH(r.alg, `${r.user}:${r.realm}:${r.pass}`);
  if (r.alg.endsWith('-sess')) a1hash = refH(r.alg, `${a1hash}:${r.nonce}:${r.cnonce}`);
  const a2 = r.qop === 'auth-int' ? `${r.method}:${r.uri}:${refH(r.alg, r.body ?? '')}` : `${r.method}:${r.uri}`;
  const a2hash = refH(r.alg, a2);
  const tail = r.qop ? `${r.nonce}:${r.nc}:${r.cnonce}:${r.qop}:${a2hash}` : `${r.nonce}:${a2hash}`;
  return refH(r.alg, `${a1hash}:${tail}`);
}

// ---------------------------------------------------------------------------
// Helpers

function isError(x: DigestAnswer | DigestError): x is DigestError {
  return 'error' in x;
}

function mustAnswer(x: DigestAnswer | DigestError): DigestAnswer {
  if (isError(x)) assert.fail(`unexpected error: ${x.error}`);
  return x;
}

function creds(value: string): DigestCredentials {
  const parsed = parseCredentials(value);
  if (!parsed.ok) assert.fail(`credentials did not parse: ${parsed.error}`);
  return parsed.value;
}

function tamper(value: string, patch: Partial<Record<keyof DigestCredentials, string | undefined>>): string {
  return formatCredentials({ ...creds(value), ...patch } as DigestCredentials);
}

/** Deterministic PRNG so a failing random round trip can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY = 'abcXYZ019 "\\,=;:@/+-_.~\'é€\t';

function randomText(rand: () => number, min: number, max: number, alphabet = NASTY): string {
  const len = min + Math.floor(rand() * (max - min + 1));
  let out = '';
  for (let i = 0; i < len; i++) out += alphabet.charAt(Math.floor(rand() * alphabet.length));
  return out;
}

const USERS: Record<string, string> = { alice: 'wonderland', bob: 'b0b!"\\pass' };

function makeServer(extra: Partial<DigestServerOptions> = {}): DigestServer {
  return new DigestServer({ realm: 'lab.example.net', lookup: (u) => USERS[u], ...extra });
}

const REGISTER = { method: 'REGISTER', uri: 'sip:lab.example.net' };

// ---------------------------------------------------------------------------

describe('digest-params', () => {
  it('parses a challenge with odd spacing, mixed-case names, escapes and token values', () => {
    const parsed = parseChallenge(
      '  DIGEST   Realm = "a \\"quoted\\" realm" ,NONCE=abc123==,  qop="auth, Auth-Int" , Algorithm=sha-256,stale=TRUE, opaque="o\\\\p"',
    );
    assert.ok(parsed.ok);
    assert.equal(parsed.value.realm, 'a "quoted" realm');
    assert.equal(parsed.value.nonce, 'abc123==');
    assert.deepEqual(parsed.value.qop, ['auth', 'auth-int']);
    assert.equal(parsed.value.algorithm, 'sha-256');
    assert.equal(parsed.value.stale, true);
    assert.equal(parsed.value.opaque, 'o\\p');
  });

  it('accepts folded lines and empty list elements', () => {
    const parsed = parseChallenge('Digest , realm="x",,\r\n\t nonce="y",');
    assert.ok(parsed.ok);
    assert.equal(parsed.value.realm, 'x');
    assert.equal(parsed.value.nonce, 'y');
    assert.deepEqual(parsed.value.qop, []);
    assert.equal(parsed.value.stale, false);
    assert.equal(parsed.value.algorithm, undefined);
  });

  it('reads stale case-insensitively and anything but true as false', () => {
    const t = parseChallenge('Digest realm="r", nonce="n", stale=true');
    const f = parseChallenge('Digest realm="r", nonce="n", stale=FALSE');
    assert.ok(t.ok && f.ok);
    assert.equal(t.value.stale, true);
    assert.equal(f.value.stale, false);
  });

  it('accepts the split object form with quotes and escapes still on the values', () => {
    const parsed = parseChallenge({
      scheme: 'Digest',
      Realm: '"a\\"b"',
      nonce: '"n1"',
      qop: '"auth,auth-int"',
      algorithm: 'MD5',
      stale: 'true',
      opaque: undefined,
    });
    assert.ok(parsed.ok);
    assert.equal(parsed.value.realm, 'a"b');
    assert.equal(parsed.value.nonce, 'n1');
    assert.deepEqual(parsed.value.qop, ['auth', 'auth-int']);
    assert.equal(parsed.value.algorithm, 'MD5');
    assert.equal(parsed.value.stale, true);
    assert.equal(parsed.value.opaque, undefined);
  });

  const malformedText = [
    '',
    '   ',
    'Digest',
    'Digest realm',
    'Digest realm=',
    'Digest realm="x',
    'Digest realm="x\\',
    'Digest realm="x" nonce="y"',
    'Digest realm="a", REALM="b", nonce="n"',
    'Digest realm="x",\r\nnonce="y"',
    'Digest realm="x", nonce="y"\r\nVia: SIP/2.0/UDP evil',
    'Digest realm=="x", nonce="y"',
    'Digest =x',
    'Digest,realm="x",nonce="y"',
    '"Digest" realm="x"',
    'Basic realm="x"',
    'Digest nonce="only-nonce"',
    `Digest realm="${'x'.repeat(20000)}", nonce="n"`,
  ];
  for (const text of malformedText) {
    it(`rejects malformed challenge ${JSON.stringify(text.slice(0, 40))}`, () => {
      const parsed = parseChallenge(text);
      assert.equal(parsed.ok, false);
      assert.ok(!parsed.ok && parsed.error.length > 0);
    });
  }

  const malformedObjects: unknown[] = [
    null,
    42,
    [],
    {},
    { scheme: 5 },
    { scheme: 'Digest', realm: 7, nonce: '"n"' },
    { scheme: 'Digest', realm: '"x', nonce: '"n"' },
    { scheme: 'Digest', realm: '"x"y"', nonce: '"n"' },
    { scheme: 'Digest', realm: '"x"', REALM: '"y"', nonce: '"n"' },
    { scheme: 'Digest', realm: '"x"', nonce: '"n\r\nVia: evil"' },
  ];
  malformedObjects.forEach((input, i) => {
    it(`rejects malformed split header #${i}`, () => {
      const parsed = parseChallenge(input as Record<string, unknown>);
      assert.equal(parsed.ok, false);
    });
  });

  it('never throws on random hostile text', () => {
    const rand = prng(7);
    const valid = 'Digest username="u", realm="r", nonce="n", uri="sip:x", response="00", qop=auth, nc=00000001, cnonce="c"';
    for (let i = 0; i < 3000; i++) {
      const text =
        i % 2 === 0
          ? randomText(rand, 0, 80, 'Digest realm="\\,= \t\r\nabc')
          : valid.slice(0, Math.floor(rand() * valid.length)) + randomText(rand, 0, 5) + valid.slice(Math.floor(rand() * valid.length));
      const a = parseAuthParams(text);
      const b = parseCredentials(text);
      const c = parseChallenge(text);
      assert.equal(typeof a.ok, 'boolean');
      assert.equal(typeof b.ok, 'boolean');
      assert.equal(typeof c.ok, 'boolean');
    }
  });

  it('quotes username, realm, nonce, uri, response, cnonce, opaque and leaves algorithm, qop, nc bare', () => {
    const value = formatCredentials({
      username: 'alice',
      realm: 'r',
      nonce: 'n',
      uri: 'sip:r',
      response: 'abc',
      algorithm: 'MD5',
      cnonce: 'c',
      opaque: 'o',
      qop: 'auth',
      nc: '00000001',
    });
    assert.equal(
      value,
      'Digest username="alice", realm="r", nonce="n", uri="sip:r", response="abc", algorithm=MD5, cnonce="c", opaque="o", qop=auth, nc=00000001',
    );
  });

  it('quotes the qop list of a challenge and marks stale', () => {
    const value = formatChallenge({ realm: 'r', nonce: 'n', algorithm: 'SHA-256', qop: ['auth', 'auth-int'], stale: true });
    assert.equal(value, 'Digest realm="r", nonce="n", stale=TRUE, algorithm=SHA-256, qop="auth,auth-int"');
  });

  it('round-trips values with quotes and backslashes through text and split forms', () => {
    const original: DigestCredentials = {
      username: 'a"li\\ce',
      realm: 'r "q" \\',
      nonce: 'n,=',
      uri: 'sip:x@y;transport=tcp',
      response: 'f00',
      algorithm: 'SHA-256',
      cnonce: 'c"',
      opaque: '',
      qop: 'auth',
      nc: '0000000a',
    };
    assert.deepEqual(creds(formatCredentials(original)), original);
    const viaSplit = parseCredentials(credentialsToSplit(original));
    assert.ok(viaSplit.ok);
    assert.deepEqual(viaSplit.value, original);
  });

  it('never emits CR or LF, so a hostile value cannot add a header line', () => {
    const value = formatCredentials({ username: 'u\r\nVia: x', realm: 'r', nonce: 'n\n', uri: 'u', response: 'r' });
    assert.doesNotMatch(value, /[\r\n]/);
    const split = challengeToSplit({ realm: 'r\r\n', nonce: 'n', qop: [], stale: false });
    assert.doesNotMatch(JSON.stringify(Object.values(split)), /\\r|\\n/);
  });
});

describe('digest-hash', () => {
  it('reproduces RFC 2617 §3.5 (Mufasa)', () => {
    const response = computeResponse({
      algorithm: 'MD5',
      username: 'Mufasa',
      realm: 'testrealm@host.com',
      password: 'Circle Of Life',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      method: 'GET',
      uri: '/dir/index.html',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
    });
    assert.equal(response, '6629fae49393a05397450978507c4ef1');
  });

  const rfc7616 = {
    username: 'Mufasa',
    realm: 'http-auth@example.org',
    password: 'Circle of Life',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    method: 'GET',
    uri: '/dir/index.html',
    qop: 'auth' as const,
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  };

  it('reproduces RFC 7616 §3.9.1 with MD5', () => {
    assert.equal(computeResponse({ ...rfc7616, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
  });

  it('reproduces RFC 7616 §3.9.1 with SHA-256', () => {
    assert.equal(
      computeResponse({ ...rfc7616, algorithm: 'SHA-256' }),
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });

  it('uses FIPS 180-4 SHA-512/256, not truncated SHA-512', () => {
    assert.equal(h('SHA-512-256', 'abc'), '53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23');
  });

  it('parses algorithm names case-insensitively, MD5 when absent, undefined when unknown', () => {
    assert.equal(parseAlgorithm(undefined), 'MD5');
    assert.equal(parseAlgorithm('sha-256'), 'SHA-256');
    assert.equal(parseAlgorithm('md5-SESS'), 'MD5-sess');
    assert.equal(parseAlgorithm('sha-512-256-sess'), 'SHA-512-256-sess');
    assert.equal(parseAlgorithm('SHA-512'), undefined);
    assert.equal(parseAlgorithm(''), undefined);
  });

  const base = {
    username: 'alice',
    realm: 'ims.example.net',
    password: 'secret',
    nonce: 'NONCE1',
    method: 'MESSAGE',
    uri: 'sip:bob@ims.example.net',
    nc: '00000003',
    cnonce: 'cn0',
  };

  for (const algorithm of DIGEST_ALGORITHMS) {
    for (const qop of ['auth', 'auth-int'] as const) {
      it(`matches an independent computation for ${algorithm} qop=${qop}`, () => {
        const body = 'Hello, "Bob" é';
        const ours = computeResponse({ ...base, algorithm, qop, body });
        const ref = refResponse({ alg: algorithm, user: 'alice', realm: base.realm, pass: 'secret', nonce: 'NONCE1', method: 'MESSAGE', uri: base.uri, qop, nc: '00000003', cnonce: 'cn0', body });
        assert.equal(ours, ref);
      });
    }
  }

  it('hashes an absent auth-int body as the empty string and a different body differently', () => {
    const empty = computeResponse({ ...base, algorithm: 'MD5', qop: 'auth-int' });
    assert.equal(empty, computeResponse({ ...base, algorithm: 'MD5', qop: 'auth-int', body: '' }));
    assert.notEqual(empty, computeResponse({ ...base, algorithm: 'MD5', qop: 'auth-int', body: 'x' }));
    assert.equal(empty, computeResponse({ ...base, algorithm: 'MD5', qop: 'auth-int', body: new Uint8Array(0) }));
  });

  it('computes the RFC 2069 form when there is no qop', () => {
    const ours = computeResponse({ ...base, algorithm: 'MD5' });
    const ref = refResponse({ alg: 'MD5', user: 'alice', realm: base.realm, pass: 'secret', nonce: 'NONCE1', method: 'MESSAGE', uri: base.uri });
    assert.equal(ours, ref);
  });

  it('makes -sess differ from the plain algorithm and depend on the cnonce', () => {
    const plain = computeResponse({ ...base, algorithm: 'SHA-256', qop: 'auth' });
    const sess = computeResponse({ ...base, algorithm: 'SHA-256-sess', qop: 'auth' });
    const sess2 = computeResponse({ ...base, algorithm: 'SHA-256-sess', qop: 'auth', cnonce: 'other' });
    assert.notEqual(plain, sess);
    assert.notEqual(sess, sess2);
  });
});

describe('DigestClient', () => {
  let counter = 0;
  const fixedCnonce = (): string => `cn${++counter}`;

  beforeEach(() => {
    counter = 0;
  });

  it('answers a SIP REGISTER challenge with MD5 qop=auth, matching an independent computation', () => {
    const client = new DigestClient({ username: 'alice', password: 'wonderland' }, { cnonce: () => 'c0ffee' });
    const challenge = 'Digest realm="ims.example.net", nonce="a1b2c3", algorithm=MD5, qop="auth", opaque="op"';
    const answer = mustAnswer(client.answer([challenge], 'www', { method: 'REGISTER', uri: 'sip:ims.example.net' }));
    assert.equal(answer.header, 'authorization');
    const c = creds(answer.value);
    assert.equal(c.username, 'alice');
    assert.equal(c.realm, 'ims.example.net');
    assert.equal(c.nonce, 'a1b2c3');
    assert.equal(c.uri, 'sip:ims.example.net');
    assert.equal(c.algorithm, 'MD5');
    assert.equal(c.qop, 'auth');
    assert.equal(c.nc, '00000001');
    assert.equal(c.opaque, 'op');
    assert.equal(c.cnonce, 'c0ffee');
    const expected = refResponse({ alg: 'MD5', user: 'alice', realm: 'ims.example.net', pass: 'wonderland', nonce: 'a1b2c3', method: 'REGISTER', uri: 'sip:ims.example.net', qop: 'auth', nc: '00000001', cnonce: 'c0ffee' });
    assert.equal(c.response, expected);
    assert.match(answer.value, /, qop=auth, nc=00000001$/);
  });

  it('uses auth-int with H(body) when it is the only qop offered', () => {
    const client = new DigestClient({ username: 'alice', password: 'pw' }, { cnonce: () => 'fixed' });
    const body = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n';
    const answer = mustAnswer(
      client.answer('Digest realm="r", nonce="n", qop="auth-int"', 'www', { method: 'INVITE', uri: 'sip:bob@r', body }),
    );
    const c = creds(answer.value);
    assert.equal(c.qop, 'auth-int');
    const expected = refResponse({ alg: 'MD5', user: 'alice', realm: 'r', pass: 'pw', nonce: 'n', method: 'INVITE', uri: 'sip:bob@r', qop: 'auth-int', nc: '00000001', cnonce: 'fixed', body });
    assert.equal(c.response, expected);
  });

  it('prefers auth when both are offered, auth-int when asked to', () => {
    const challenge = 'Digest realm="r", nonce="n", qop="auth-int,auth"';
    const plain = mustAnswer(new DigestClient({ username: 'u', password: 'p' }).answer(challenge, 'www', REGISTER));
    assert.equal(plain.authorizations[0]?.credentials.qop, 'auth');
    const integ = mustAnswer(new DigestClient({ username: 'u', password: 'p' }, { preferAuthInt: true }).answer(challenge, 'www', REGISTER));
    assert.equal(integ.authorizations[0]?.credentials.qop, 'auth-int');
  });

  it('answers in RFC 2069 form when the challenge has no qop', () => {
    const client = new DigestClient({ username: 'alice', password: 'pw' });
    const answer = mustAnswer(client.answer('Digest realm="r", nonce="n"', 'www', REGISTER));
    const c = creds(answer.value);
    assert.equal(c.qop, undefined);
    assert.equal(c.nc, undefined);
    assert.equal(c.cnonce, undefined);
    assert.equal(c.algorithm, undefined);
    assert.equal(c.response, refResponse({ alg: 'MD5', user: 'alice', realm: 'r', pass: 'pw', nonce: 'n', method: 'REGISTER', uri: REGISTER.uri }));
  });

  it('takes the first supported challenge in the server order', () => {
    const client = new DigestClient({ username: 'u', password: 'p' });
    const a = mustAnswer(
      client.answer(
        [
          'Digest realm="r", nonce="n1", algorithm=SHA-999, qop="auth"',
          'Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"',
          'Digest realm="r", nonce="n3", algorithm=MD5, qop="auth"',
        ],
        'www',
        REGISTER,
      ),
    );
    assert.equal(a.challenge.nonce, 'n2');
    assert.equal(a.authorizations.length, 1);
    const b = mustAnswer(
      client.answer(['Digest realm="r", nonce="m1", algorithm=MD5, qop="auth"', 'Digest realm="r", nonce="m2", algorithm=SHA-256, qop="auth"'], 'www', REGISTER),
    );
    assert.equal(b.challenge.nonce, 'm1');
  });

  it('returns an error, not a throw, when nothing can be answered', () => {
    const client = new DigestClient({ username: 'u', password: 'p' });
    const cases: unknown[] = [
      [],
      ['Basic realm="r"'],
      ['Digest realm="r", nonce="n", algorithm=SHA-999'],
      ['Digest realm="r", nonce="n", qop="auth-conf"'],
      ['Digest realm="r", nonce="n", algorithm=MD5-sess'],
      ['Digest realm="r'],
      [null, 17, { scheme: 'Digest' }],
      'garbage',
    ];
    for (const input of cases) {
      const result = client.answer(input as string[], 'www', REGISTER);
      assert.ok(isError(result), JSON.stringify(input));
      assert.match(result.error, /no supported Digest challenge/);
    }
  });

  it('names the proxy header for 407 and honours a realm restriction', () => {
    const client = new DigestClient({ username: 'u', password: 'p' }, { realm: 'mine' });
    const answer = mustAnswer(
      client.answer(['Digest realm="theirs", nonce="a", qop="auth"', 'Digest realm="mine", nonce="b", qop="auth"'], 'proxy', REGISTER),
    );
    assert.equal(answer.header, 'proxy-authorization');
    assert.equal(answer.authorizations.length, 1);
    assert.equal(answer.challenge.realm, 'mine');
    const none = client.answer(['Digest realm="theirs", nonce="a", qop="auth"'], 'proxy', REGISTER);
    assert.ok(isError(none));
    assert.match(none.error, /realm "mine"/);
  });

  it('answers every challenging realm of a forked request', () => {
    const client = new DigestClient({ username: 'u', password: 'p' });
    const answer = mustAnswer(
      client.answer(['Digest realm="p1", nonce="a", qop="auth"', 'Digest realm="p2", nonce="b", qop="auth"', 'Digest realm="p1", nonce="c", qop="auth"'], 'proxy', REGISTER),
    );
    assert.deepEqual(
      answer.authorizations.map((a) => a.challenge.nonce),
      ['a', 'b'],
    );
  });

  it('accepts challenges in the split form', () => {
    const client = new DigestClient({ username: 'u', password: 'p' }, { cnonce: () => 'k' });
    const answer = mustAnswer(client.answer([{ scheme: 'Digest', realm: '"r"', nonce: '"n"', qop: '"auth"', algorithm: 'SHA-256' }], 'www', REGISTER));
    assert.equal(answer.authorizations[0]?.split['response'], `"${creds(answer.value).response}"`);
    assert.equal(
      creds(answer.value).response,
      refResponse({ alg: 'SHA-256', user: 'u', realm: 'r', pass: 'p', nonce: 'n', method: 'REGISTER', uri: REGISTER.uri, qop: 'auth', nc: '00000001', cnonce: 'k' }),
    );
  });

  it('increments nc across reuse, restarts it for a new nonce and continues it for a repeated nonce', () => {
    const client = new DigestClient({ username: 'u', password: 'p' });
    assert.equal(client.reuse('www', REGISTER), undefined);
    const first = mustAnswer(client.answer('Digest realm="r", nonce="n1", qop="auth"', 'www', REGISTER));
    assert.equal(creds(first.value).nc, '00000001');
    const second = client.reuse('www', REGISTER);
    const third = client.reuse('www', { method: 'MESSAGE', uri: 'sip:x@r' });
    assert.equal(creds(second?.value as string).nc, '00000002');
    assert.equal(creds(third?.value as string).nc, '00000003');
    assert.equal(client.reuse('proxy', REGISTER), undefined);
    const again = mustAnswer(client.answer('Digest realm="r", nonce="n1", qop="auth"', 'www', REGISTER));
    assert.equal(creds(again.value).nc, '00000004');
    const fresh = mustAnswer(client.answer('Digest realm="r", nonce="n2", qop="auth"', 'www', REGISTER));
    assert.equal(creds(fresh.value).nc, '00000001');
    client.forget();
    assert.equal(client.reuse('www', REGISTER), undefined);
  });

  it('keeps one cnonce per nonce for -sess and a fresh one otherwise', () => {
    const client = new DigestClient({ username: 'u', password: 'p' }, { cnonce: fixedCnonce });
    mustAnswer(client.answer('Digest realm="r", nonce="n", algorithm=MD5-sess, qop="auth"', 'www', REGISTER));
    const a = creds(client.reuse('www', REGISTER)?.value as string);
    const b = creds(client.reuse('www', REGISTER)?.value as string);
    assert.equal(a.cnonce, b.cnonce);
    const plain = new DigestClient({ username: 'u', password: 'p' }, { cnonce: fixedCnonce });
    mustAnswer(plain.answer('Digest realm="r", nonce="n", algorithm=MD5, qop="auth"', 'www', REGISTER));
    const c = creds(plain.reuse('www', REGISTER)?.value as string);
    const d = creds(plain.reuse('www', REGISTER)?.value as string);
    assert.notEqual(c.cnonce, d.cnonce);
  });

  it('keeps the -sess cnonce when the same nonce is challenged again', () => {
    const client = new DigestClient({ username: 'u', password: 'p' }, { cnonce: fixedCnonce });
    const challenge = 'Digest realm="r", nonce="n", algorithm=SHA-256-sess, qop="auth"';
    const first = creds(mustAnswer(client.answer(challenge, 'www', REGISTER)).value);
    const again = creds(mustAnswer(client.answer(challenge, 'www', REGISTER)).value);
    assert.equal(again.cnonce, first.cnonce);
    assert.equal(again.nc, '00000002');
  });

  it('draws unpredictable cnonces by default', () => {
    const client = new DigestClient({ username: 'u', password: 'p' });
    const seen = new Set<string>();
    mustAnswer(client.answer('Digest realm="r", nonce="n", qop="auth"', 'www', REGISTER));
    for (let i = 0; i < 50; i++) seen.add(creds(client.reuse('www', REGISTER)?.value as string).cnonce as string);
    assert.equal(seen.size, 50);
    for (const c of seen) assert.match(c, /^[0-9a-f]{32}$/);
  });

  it('exposes stale=TRUE', () => {
    const client = new DigestClient({ username: 'u', password: 'p' });
    assert.equal(mustAnswer(client.answer('Digest realm="r", nonce="n", qop="auth", stale=TRUE', 'www', REGISTER)).stale, true);
    assert.equal(mustAnswer(client.answer('Digest realm="r", nonce="m", qop="auth"', 'www', REGISTER)).stale, false);
  });
});

describe('DigestServer', () => {
  it('issues one challenge per algorithm with realm, quoted qop, opaque and an unpredictable nonce', () => {
    const server = makeServer({ algorithms: ['SHA-256', 'MD5'], qop: ['auth', 'auth-int'], opaque: 'op1' });
    const set = server.challenge();
    assert.equal(set.header, 'www-authenticate');
    assert.equal(set.values.length, 2);
    const parsed = set.values.map((v) => parseChallenge(v));
    assert.ok(parsed[0]?.ok && parsed[1]?.ok);
    assert.equal(parsed[0].value.algorithm, 'SHA-256');
    assert.equal(parsed[1].value.algorithm, 'MD5');
    assert.deepEqual(parsed[0].value.qop, ['auth', 'auth-int']);
    assert.equal(parsed[0].value.opaque, 'op1');
    assert.equal(parsed[0].value.realm, 'lab.example.net');
    assert.match(set.values[0] as string, /qop="auth,auth-int"/);
    assert.equal(parsed[0].value.stale, false);
    const nonces = new Set<string>();
    for (let i = 0; i < 100; i++) nonces.add(server.challenge().challenges[0]?.nonce as string);
    assert.equal(nonces.size, 100);
    assert.equal(makeServer({ kind: 'proxy' }).challenge().header, 'proxy-authenticate');
    assert.equal(set.split[0]?.['realm'], '"lab.example.net"');
  });

  it('accepts our client for every algorithm and qop', () => {
    for (const algorithm of DIGEST_ALGORITHMS) {
      for (const qop of ['auth', 'auth-int'] as const) {
        const server = makeServer({ algorithms: [algorithm], qop: [qop] });
        const client = new DigestClient({ username: 'bob', password: USERS['bob'] as string });
        const request = { method: 'MESSAGE', uri: 'sip:carol@lab.example.net', body: 'hi' };
        const answer = mustAnswer(client.answer(server.challenge().values, 'www', request));
        assert.deepEqual(server.verify(answer.value, request), { ok: true, username: 'bob', algorithm, qop });
        const next = client.reuse('www', request);
        assert.equal(server.verify(next?.value, request).ok, true, `${algorithm} ${qop} reuse`);
      }
    }
  });

  it('accepts the split form of credentials', () => {
    const server = makeServer();
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const answer = mustAnswer(client.answer(server.challenge().split, 'www', REGISTER));
    assert.equal(server.verify(answer.authorizations[0]?.split, REGISTER).ok, true);
  });

  it('rejects a wrong password and an unknown user', () => {
    const server = makeServer();
    const wrong = mustAnswer(new DigestClient({ username: 'alice', password: 'nope' }).answer(server.challenge().values, 'www', REGISTER));
    assert.deepEqual(server.verify(wrong.value, REGISTER), { ok: false, reason: 'bad-response', stale: false });
    const stranger = mustAnswer(new DigestClient({ username: 'mallory', password: 'x' }).answer(server.challenge().values, 'www', REGISTER));
    const result = server.verify(stranger.value, REGISTER);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, 'unknown-user');
  });

  it('rejects a replayed or decreasing nc and accepts an increasing one', () => {
    const server = makeServer();
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const first = mustAnswer(client.answer(server.challenge().values, 'www', REGISTER));
    assert.equal(server.verify(first.value, REGISTER).ok, true);
    const replay = server.verify(first.value, REGISTER);
    assert.equal(!replay.ok && replay.reason, 'replay');
    const n3 = client.reuse('www', REGISTER)?.value as string;
    const n4 = client.reuse('www', REGISTER)?.value as string;
    assert.equal(server.verify(n4, REGISTER).ok, true);
    const late = server.verify(n3, REGISTER);
    assert.equal(!late.ok && late.reason, 'replay');
  });

  it('rejects a digest-uri that is not the Request-URI, tolerating case only', () => {
    const server = makeServer();
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const answer = mustAnswer(client.answer(server.challenge().values, 'www', { method: 'REGISTER', uri: 'sip:other.example.net' }));
    const result = server.verify(answer.value, REGISTER);
    assert.equal(!result.ok && result.reason, 'uri-mismatch');
    const upper = mustAnswer(client.answer(server.challenge().values, 'www', { method: 'REGISTER', uri: 'SIP:LAB.example.net' }));
    assert.equal(server.verify(upper.value, REGISTER).ok, true);
  });

  it('rejects a response for another method or another body', () => {
    const server = makeServer({ qop: ['auth-int'] });
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const request = { method: 'MESSAGE', uri: 'sip:bob@lab.example.net', body: 'hello' };
    const answer = mustAnswer(client.answer(server.challenge().values, 'www', request));
    const otherBody = server.verify(answer.value, { ...request, body: 'hellO' });
    assert.equal(!otherBody.ok && otherBody.reason, 'bad-response');
    const otherMethod = server.verify(answer.value, { ...request, method: 'INVITE' });
    assert.equal(!otherMethod.ok && otherMethod.reason, 'bad-response');
    assert.equal(server.verify(answer.value, request).ok, true);
  });

  it('answers an expired nonce with stale, and the client recovers without new credentials', () => {
    let now = 1_000_000;
    const server = makeServer({ nonceTtlMs: 60_000, now: () => now });
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const first = mustAnswer(client.answer(server.challenge().values, 'www', REGISTER));
    now += 60_000;
    assert.equal(server.verify(first.value, REGISTER).ok, true);
    now += 1;
    const later = client.reuse('www', REGISTER)?.value as string;
    const expired = server.verify(later, REGISTER);
    assert.deepEqual(expired, { ok: false, reason: 'stale', stale: true, detail: 'nonce expired' });
    const rechallenge = server.challenge({ stale: expired.ok ? false : expired.stale });
    assert.match(rechallenge.values[0] as string, /stale=TRUE/);
    const retry = mustAnswer(client.answer(rechallenge.values, 'www', REGISTER));
    assert.equal(retry.stale, true);
    assert.equal(server.verify(retry.value, REGISTER).ok, true);
  });

  it('does not call an expired nonce stale when the password is wrong', () => {
    let now = 0;
    const server = makeServer({ nonceTtlMs: 10, now: () => now });
    const answer = mustAnswer(new DigestClient({ username: 'alice', password: 'bad' }).answer(server.challenge().values, 'www', REGISTER));
    now = 1000;
    assert.deepEqual(server.verify(answer.value, REGISTER), { ok: false, reason: 'bad-response', stale: false });
  });

  it("rejects another instance's nonce (stale only when the digest is right) and accepts it with a shared secret", () => {
    const other = makeServer();
    const server = makeServer();
    const good = mustAnswer(new DigestClient({ username: 'alice', password: 'wonderland' }).answer(other.challenge().values, 'www', REGISTER));
    assert.deepEqual(server.verify(good.value, REGISTER), { ok: false, reason: 'bad-nonce', stale: true });
    const bad = mustAnswer(new DigestClient({ username: 'alice', password: 'bad' }).answer(other.challenge().values, 'www', REGISTER));
    assert.deepEqual(server.verify(bad.value, REGISTER), { ok: false, reason: 'bad-nonce', stale: false });
    const secret = Buffer.alloc(32, 7);
    const a = makeServer({ secret });
    const b = makeServer({ secret });
    const shared = mustAnswer(new DigestClient({ username: 'alice', password: 'wonderland' }).answer(a.challenge().values, 'www', REGISTER));
    assert.equal(b.verify(shared.value, REGISTER).ok, true);
  });

  it('does not accept a nonce minted for another realm, even under a shared secret', () => {
    const secret = Buffer.alloc(32, 9);
    const a = makeServer({ secret, realm: 'a.example.net' });
    const b = makeServer({ secret, realm: 'b.example.net' });
    const challenge = a.challenge().challenges[0];
    assert.ok(challenge);
    const moved = formatChallenge({ ...challenge, realm: 'b.example.net' });
    const answer = mustAnswer(new DigestClient({ username: 'alice', password: 'wonderland' }).answer(moved, 'www', REGISTER));
    const result = b.verify(answer.value, REGISTER);
    assert.equal(!result.ok && result.reason, 'bad-nonce');
  });

  it('rejects a tampered nonce', () => {
    const server = makeServer();
    const challenge = server.challenge().challenges[0];
    assert.ok(challenge);
    const flipped = (challenge.nonce.startsWith('A') ? 'B' : 'A') + challenge.nonce.slice(1);
    const forged = formatChallenge({ ...challenge, nonce: flipped });
    const answer = mustAnswer(new DigestClient({ username: 'alice', password: 'wonderland' }).answer(forged, 'www', REGISTER));
    const result = server.verify(answer.value, REGISTER);
    assert.equal(!result.ok && result.reason, 'bad-nonce');
  });

  it('picks its own realm among several credentials and reports a foreign realm', () => {
    const server = makeServer();
    const mine = mustAnswer(new DigestClient({ username: 'alice', password: 'wonderland' }).answer(server.challenge().values, 'www', REGISTER));
    const foreign = 'Digest username="alice", realm="elsewhere", nonce="n", uri="sip:lab.example.net", response="00"';
    assert.equal(server.verify(['Basic YWxpY2U6eA==', foreign, mine.value], REGISTER).ok, true);
    const result = server.verify([foreign], REGISTER);
    assert.equal(!result.ok && result.reason, 'bad-realm');
  });

  it('rejects an algorithm or qop that was not offered, and a bad nc', () => {
    const server = makeServer({ algorithms: ['SHA-256'], qop: ['auth'] });
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const value = mustAnswer(client.answer(server.challenge().values, 'www', REGISTER)).value;
    const reasons = [
      tamper(value, { algorithm: 'MD5' }),
      tamper(value, { algorithm: undefined }),
      tamper(value, { qop: 'auth-int' }),
      tamper(value, { qop: undefined }),
      tamper(value, { nc: '1' }),
      tamper(value, { cnonce: undefined }),
    ].map((v) => {
      const r = server.verify(v, REGISTER);
      return r.ok ? 'ok' : r.reason;
    });
    assert.deepEqual(reasons, ['bad-algorithm', 'bad-algorithm', 'bad-qop', 'bad-qop', 'malformed', 'malformed']);
  });

  it('requires the opaque back unchanged', () => {
    const server = makeServer({ opaque: 'o-1' });
    const value = mustAnswer(new DigestClient({ username: 'alice', password: 'wonderland' }).answer(server.challenge().values, 'www', REGISTER)).value;
    for (const opaque of ['o-2', undefined]) {
      const r = server.verify(tamper(value, { opaque }), REGISTER);
      assert.equal(!r.ok && r.reason, 'bad-opaque');
    }
    assert.equal(server.verify(value, REGISTER).ok, true);
  });

  it('reports missing and malformed credentials without throwing', () => {
    const server = makeServer();
    const reasonOf = (input: unknown): string => {
      const r = server.verify(input as string, REGISTER);
      return r.ok ? 'ok' : r.reason;
    };
    assert.equal(reasonOf(undefined), 'no-credentials');
    assert.equal(reasonOf([]), 'no-credentials');
    assert.equal(reasonOf('Basic YWxpY2U6eA=='), 'no-credentials');
    assert.equal(reasonOf('Digest username="alice", realm="lab.example.net'), 'malformed');
    assert.equal(reasonOf('Digest username="alice", realm="lab.example.net"'), 'malformed');
    assert.equal(reasonOf(null), 'malformed');
    assert.equal(reasonOf({ scheme: 'Digest', username: 3 }), 'malformed');
    const r = server.verify('Digest realm="x', REGISTER);
    assert.ok(!r.ok && typeof r.detail === 'string' && r.detail.length > 0);
  });

  it('turns a lookup that throws into lookup-failed', () => {
    const server = makeServer({
      lookup: () => {
        throw new Error('db down');
      },
    });
    const value = mustAnswer(new DigestClient({ username: 'alice', password: 'x' }).answer(server.challenge().values, 'www', REGISTER)).value;
    assert.deepEqual(server.verify(value, REGISTER), { ok: false, reason: 'lookup-failed', stale: false, detail: 'db down' });
  });

  it('treats a nonce whose count history was evicted as stale rather than accepting a replay', () => {
    let now = 0;
    const server = makeServer({ maxTrackedNonces: 2, now: () => now });
    const clients = [0, 1, 2].map(() => new DigestClient({ username: 'alice', password: 'wonderland' }));
    const firsts = clients.map((client) => {
      now += 1;
      return mustAnswer(client.answer(server.challenge().values, 'www', REGISTER)).value;
    });
    for (const value of firsts) assert.equal(server.verify(value, REGISTER).ok, true);
    const replayOfEvicted = server.verify(firsts[0], REGISTER);
    assert.deepEqual(replayOfEvicted, { ok: false, reason: 'stale', stale: true, detail: 'nonce count history evicted' });
    const tracked = server.verify(firsts[2], REGISTER);
    assert.equal(!tracked.ok && tracked.reason, 'replay');
  });

  it('supports RFC 2069 style challenges when configured without qop', () => {
    const server = makeServer({ qop: [], algorithms: ['MD5'] });
    assert.doesNotMatch(server.challenge().values[0] as string, /qop/);
    const value = mustAnswer(new DigestClient({ username: 'alice', password: 'wonderland' }).answer(server.challenge().values, 'www', REGISTER)).value;
    assert.equal(creds(value).qop, undefined);
    assert.equal(server.verify(value, REGISTER).ok, true);
  });

  it('refuses configurations it cannot honour', () => {
    assert.throws(() => makeServer({ algorithms: ['MD5-sess'], qop: [] }), /requires a qop/);
    assert.throws(() => makeServer({ algorithms: [] }), /at least one/);
    assert.throws(() => makeServer({ algorithms: ['SHA-1' as DigestAlgorithm] }), /unsupported/);
    assert.throws(() => makeServer({ qop: ['auth-conf' as DigestQop] }), /qop/);
    assert.throws(() => makeServer({ realm: 'a\r\nb' }), /control/);
  });

  it('round-trips random credentials, realms and requests for every algorithm', () => {
    const rand = prng(20240607);
    for (const algorithm of DIGEST_ALGORITHMS) {
      for (let i = 0; i < 40; i++) {
        const username = randomText(rand, 1, 12);
        const password = randomText(rand, 0, 16);
        // Tabs are legal in quoted-strings but the server refuses control characters in its own config.
        const realm = randomText(rand, 0, 12).replace(/\t/g, ' ');
        const opaque = randomText(rand, 0, 6).replace(/\t/g, ' ');
        const qop: DigestQop = rand() < 0.5 ? 'auth' : 'auth-int';
        const server = new DigestServer({ realm, algorithms: [algorithm], qop: [qop], opaque, lookup: (u) => (u === username ? password : undefined) });
        const client = new DigestClient({ username, password });
        const request = { method: rand() < 0.5 ? 'REGISTER' : 'MESSAGE', uri: `sip:${randomText(rand, 1, 8, 'abc123.-')}@lab`, body: randomText(rand, 0, 30) };
        const answer = client.answer(server.challenge().values, 'www', request);
        const context = `seed case ${algorithm} #${i} ${JSON.stringify({ username, password, realm, qop, request })}`;
        if (isError(answer)) assert.fail(`${context}: ${answer.error}`);
        assert.deepEqual(server.verify(answer.value, request), { ok: true, username, algorithm, qop }, context);
        const again = client.reuse('www', request);
        assert.equal(server.verify(again?.value, request).ok, true, context);
        const wrong = new DigestClient({ username, password: `${password}x` }).answer(server.challenge().values, 'www', request);
        assert.ok(!isError(wrong));
        assert.equal(server.verify(wrong.value, request).ok, false, context);
      }
    }
  });
});
