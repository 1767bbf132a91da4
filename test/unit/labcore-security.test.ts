// The lab core as a stranger meets it: challenge first for everyone, one MD5
// challenge unless SHA-256 is asked for, failed logins logged once per user
// and interval, and reg event SUBSCRIBE only for the user or the app server.
import assert from 'node:assert/strict';
import { requestWithAuth } from '../../lib/auth/authenticated-request';
import { DigestClient } from '../../lib/auth/digest-client';
import { LabCore } from '../../lib/labcore/lab-core';
import { LoginFailureLog } from '../../lib/labcore/login-failures';
import { WITH_SHA256, type RegistrarEvent } from '../../lib/labcore/registrar';
import { SipEndpoint } from '../../lib/sip/endpoint';
import type { SipRequest, SipResponse } from '../../lib/sip/message';
import { FakeScheduler } from '../support/fake-scheduler';

const USERS = new Map([
  ['alice', 'alice-pw'],
  ['bob', 'bob-pw'],
]);

function request(ep: SipEndpoint, method: 'REGISTER' | 'SUBSCRIBE', uri: string, user: string, extra: Record<string, unknown> = {}): SipRequest {
  const aor = `sip:${user}@lab.test`;
  return {
    method,
    uri,
    version: '2.0',
    headers: {
      via: [],
      to: { uri: method === 'REGISTER' ? aor : uri, params: {} },
      from: { uri: aor, params: { tag: ep.newTag() } },
      'call-id': ep.newCallId(),
      cseq: { seq: 1, method },
      contact: [{ uri: ep.contactUri(user), params: {} }],
      ...(method === 'SUBSCRIBE' ? { event: 'reg', accept: 'application/reginfo+xml', expires: '600' } : { expires: '600' }),
      ...extra,
    },
  };
}

/** Credentials that look right but cannot be: a failed login. */
const WRONG = [{ scheme: 'Digest', username: '"alice"', realm: '"lab.test"', nonce: '"x"', uri: '"sip:lab.test"', response: '"0123456789abcdef0123456789abcdef"', algorithm: 'MD5' }];

describe('lab core: who gets in', function () {
  this.timeout(15000);
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function endpoint(outboundPort?: number): Promise<SipEndpoint> {
    const e = new SipEndpoint({
      transport: 'udp',
      address: '127.0.0.1',
      port: 0,
      outboundProxy: outboundPort ? { host: '127.0.0.1', port: outboundPort } : undefined,
    });
    await e.start();
    closers.push(() => e.close());
    return e;
  }

  async function lab(opts: { sha256?: boolean; appServerPort?: number; scheduler?: FakeScheduler } = {}) {
    const coreEp = await endpoint();
    const core = new LabCore(coreEp, {
      domain: 'lab.test',
      users: USERS,
      algorithms: opts.sha256 ? WITH_SHA256 : undefined,
      appServerSources: opts.appServerPort ? [{ host: '127.0.0.1', port: opts.appServerPort }] : [],
      scheduler: opts.scheduler,
    });
    const auth: RegistrarEvent[] = [];
    core.on('auth', (e: RegistrarEvent) => auth.push(e));
    core.start();
    closers.push(() => core.stop());
    return { core, coreEp, auth };
  }

  const challenges = (r: SipResponse, h = 'www-authenticate') => (r.headers[h] as Record<string, string>[] | undefined) ?? [];

  it('challenges an unknown user exactly like a known one: 401, never 404 first', async () => {
    const { coreEp } = await lab();
    const client = await endpoint(coreEp.port);
    const known = (await client.request(request(client, 'REGISTER', 'sip:lab.test', 'alice'))).response;
    const unknown = (await client.request(request(client, 'REGISTER', 'sip:lab.test', 'mallory'))).response;
    assert.equal(known.status, 401);
    assert.equal(unknown.status, 401);
    assert.deepEqual(
      challenges(unknown).map((c) => [c.realm, c.algorithm, c.qop]),
      challenges(known).map((c) => [c.realm, c.algorithm, c.qop]),
    );
    // With credentials of a user that does not exist: the same 401 as a wrong password.
    const answered = await requestWithAuth({
      ua: client,
      digest: new DigestClient({ username: 'mallory', password: 'guess' }),
      username: 'mallory',
      build: () => request(client, 'REGISTER', 'sip:lab.test', 'mallory'),
    });
    assert.equal(answered.result.response.status, 401);
    assert.match(answered.fatal ?? '', /wrong password/);
  });

  it('offers one MD5 challenge with qop=auth by default, as Kamailio does', async () => {
    const { coreEp } = await lab();
    const client = await endpoint(coreEp.port);
    const r = (await client.request(request(client, 'REGISTER', 'sip:lab.test', 'alice'))).response;
    assert.deepEqual(
      challenges(r).map((c) => [c.algorithm, c.qop]),
      [['MD5', '"auth"']],
    );
  });

  it('offers SHA-256 first and MD5 beside it when the option is on, and both work', async () => {
    const { coreEp } = await lab({ sha256: true });
    const client = await endpoint(coreEp.port);
    const r = (await client.request(request(client, 'REGISTER', 'sip:lab.test', 'alice'))).response;
    assert.deepEqual(challenges(r).map((c) => c.algorithm), ['SHA-256', 'MD5']);
    const ok = await requestWithAuth({
      ua: client,
      digest: new DigestClient({ username: 'alice', password: 'alice-pw' }),
      build: () => request(client, 'REGISTER', 'sip:lab.test', 'alice'),
    });
    assert.equal(ok.result.response.status, 200);
    const sent = ok.exchanges.at(-1)!.request!.headers.authorization as Record<string, string>[];
    assert.equal(sent[0]!.algorithm, 'SHA-256');
  });

  it('reports failed logins once per user and interval, with their count', async () => {
    const clock = new FakeScheduler();
    const { coreEp, auth } = await lab({ scheduler: clock });
    const client = await endpoint(coreEp.port);
    for (let i = 0; i < 5; i++) {
      const r = await client.request(request(client, 'REGISTER', 'sip:lab.test', 'alice', { authorization: WRONG }));
      assert.equal(r.response.status, 401);
    }
    assert.deepEqual(auth.map((e) => [e.kind, e.user, e.count]), [['rejected', 'alice', 1]]);
    clock.advance(61_000);
    await client.request(request(client, 'REGISTER', 'sip:lab.test', 'alice', { authorization: WRONG }));
    assert.deepEqual(auth.map((e) => [e.user, e.count]), [
      ['alice', 1],
      ['alice', 5],
    ]);
    // The first challenge of a login is not a failure.
    await client.request(request(client, 'REGISTER', 'sip:lab.test', 'bob'));
    assert.equal(auth.length, 2);
  });

  describe('reg event SUBSCRIBE', () => {
    const subscribeAs = async (client: SipEndpoint, target: string, user: string, password?: string) =>
      requestWithAuth({
        ua: client,
        digest: password === undefined ? undefined : new DigestClient({ username: user, password }),
        username: user,
        build: () => request(client, 'SUBSCRIBE', target, user),
      });

    it("challenges a stranger's SUBSCRIBE with 407 and sends no NOTIFY", async () => {
      const { core, coreEp } = await lab();
      const client = await endpoint(coreEp.port);
      const r = await subscribeAs(client, 'sip:bob@lab.test', 'mallory');
      assert.equal(r.result.response.status, 407);
      assert.deepEqual(challenges(r.result.response, 'proxy-authenticate').map((c) => [c.realm, c.algorithm]), [['"lab.test"', 'MD5']]);
      assert.equal(core.regEvents.size, 0);
    });

    it('lets a user watch their own registration once authenticated, and refuses them anyone else (403)', async () => {
      const { core, coreEp } = await lab();
      const subscribed: string[] = [];
      core.on('subscription', (r: { aor: string; event: string }) => r.event === 'subscribed' && subscribed.push(r.aor));
      const client = await endpoint(coreEp.port);
      const own = await subscribeAs(client, 'sip:alice@lab.test', 'alice', 'alice-pw');
      assert.deepEqual(own.exchanges.map((x) => x.response.status), [407, 200]);
      const other = await subscribeAs(client, 'sip:bob@lab.test', 'alice', 'alice-pw');
      assert.equal(other.result.response.status, 403);
      const unknownTarget = await subscribeAs(client, 'sip:nobody@lab.test', 'alice', 'alice-pw');
      assert.equal(unknownTarget.result.response.status, 403, 'no hint whether the target exists');
      const wrong = await subscribeAs(client, 'sip:alice@lab.test', 'alice', 'nope');
      assert.equal(wrong.result.response.status, 407);
      assert.deepEqual(subscribed, ['sip:alice@lab.test'], 'only the own subscription was made');
    });

    it('lets the app server, known by its address and port, watch every user without credentials', async () => {
      const server = await endpoint();
      const { core, coreEp } = await lab({ appServerPort: server.port });
      const subscribers: string[] = [];
      core.on('subscription', (r: { subscriber: string; event: string }) => r.event === 'subscribed' && subscribers.push(r.subscriber));
      // The server's endpoint has no outbound proxy: a Route header takes the SUBSCRIBE to the core.
      const route = [{ uri: `sip:127.0.0.1:${coreEp.port};lr`, params: {} }];
      const a = await server.request(request(server, 'SUBSCRIBE', 'sip:alice@lab.test', 'poc-server', { route }));
      assert.equal(a.response.status, 200);
      assert.deepEqual(subscribers, ['sip:poc-server@lab.test']);
      // Same host, another port: a stranger, challenged.
      const other = await endpoint(coreEp.port);
      const r = await subscribeAs(other, 'sip:alice@lab.test', 'poc-server');
      assert.equal(r.result.response.status, 407);
    });
  });
});

describe('lab core: failed login log', () => {
  it('reports the first failure, counts the rest, and reports again after the interval', () => {
    const clock = new FakeScheduler();
    const log = new LoginFailureLog({ now: () => clock.now(), intervalMs: 60_000 });
    assert.deepEqual(log.record('alice', 'bad-response'), { user: 'alice', reason: 'bad-response', count: 1 });
    assert.equal(log.record('alice', 'bad-response'), undefined);
    assert.equal(log.record('alice', 'bad-response'), undefined);
    assert.deepEqual(log.record('bob', 'unknown-user'), { user: 'bob', reason: 'unknown-user', count: 1 });
    clock.advance(60_000);
    assert.deepEqual(log.record('alice', 'bad-response'), { user: 'alice', reason: 'bad-response', count: 3 });
  });

  it('remembers a bounded number of users: a guesser inventing names costs no memory', () => {
    const clock = new FakeScheduler();
    const log = new LoginFailureLog({ now: () => clock.now(), maxUsers: 3 });
    for (let i = 0; i < 1000; i++) log.record(`guess${i}`, 'unknown-user');
    assert.equal((log as unknown as { recent: Map<string, unknown> }).recent.size, 3);
  });
});
