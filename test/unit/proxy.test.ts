// The lab core as a stateful proxy between a client and a settings server
// (seed 002 steps 16-32): three endpoints on loopback, each on a free port.
import assert from 'node:assert/strict';
import { requestWithAuth } from '../../lib/auth/authenticated-request';
import { DigestClient } from '../../lib/auth/digest-client';
import { LabCore } from '../../lib/labcore/lab-core';
import { profileFor } from '../../lib/registration/enablers';
import { Registration } from '../../lib/registration/registration';
import { SipEndpoint, type IncomingRequest } from '../../lib/sip/endpoint';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { Subscriber, type NotifyEvent } from '../../lib/subscription/subscriber';
import { Queue, settingsServer, type SettingsServerFake } from '../support/settings-server-fake';

const USERS = new Map([
  ['alice', 'alice-pw'],
  ['bob', 'bob-pw'],
]);

function publishFrom(ep: SipEndpoint, user: string, extra: Record<string, string> = {}): () => SipRequest {
  const callId = ep.newCallId();
  const tag = ep.newTag();
  let seq = 0;
  return () => ({
    method: 'PUBLISH',
    uri: `sip:${user}@lab.test`,
    version: '2.0',
    headers: {
      via: [],
      to: { uri: `sip:${user}@lab.test`, params: {} },
      from: { uri: `sip:${user}@lab.test`, params: { tag } },
      'call-id': callId,
      cseq: { seq: ++seq, method: 'PUBLISH' },
      event: 'poc-settings',
      expires: '3600',
      'content-type': 'application/poc-settings+xml',
      ...extra,
    },
    content: '<poc-settings/>',
  });
}

describe('lab core: stateful proxy for settings (RFC 3261 16, RFC 3325)', function () {
  this.timeout(20000);
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function endpoint(outboundProxyPort?: number): Promise<SipEndpoint> {
    const outboundProxy = outboundProxyPort ? { host: '127.0.0.1', port: outboundProxyPort } : undefined;
    const e = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, outboundProxy });
    await e.start();
    closers.push(() => e.close());
    return e;
  }

  async function lab(): Promise<{ client: SipEndpoint; coreEp: SipEndpoint; core: LabCore; server: SettingsServerFake }> {
    const serverEp = await endpoint();
    const server = settingsServer(serverEp);
    const coreEp = await endpoint();
    const core = new LabCore(coreEp, { domain: 'lab.test', users: USERS, settingsServerUri: `sip:127.0.0.1:${serverEp.port}` });
    core.start();
    closers.push(() => core.stop());
    const client = await endpoint(coreEp.port);
    return { client, coreEp, core, server };
  }

  it('challenges a PUBLISH with 407, then forwards it with one Via more and the asserted identity', async () => {
    const { client, coreEp, server } = await lab();
    const build = publishFrom(client, 'alice', {
      'p-asserted-identity': '<sip:bob@lab.test>',
      'p-preferred-identity': '<sip:bob@lab.test>',
    });
    const out = await requestWithAuth({ ua: client, digest: new DigestClient({ username: 'alice', password: 'alice-pw' }), build });
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [407, 200]);
    assert.ok(out.exchanges[0]!.response.headers['proxy-authenticate'], 'the 407 carries a Proxy-Authenticate challenge');
    assert.equal(headerText(out.result.response, 'sip-etag'), server.etag, "the server's 200 reaches the client");

    const got = await server.requests.next((r) => r.method === 'PUBLISH');
    const sent = out.exchanges[1]!.request!;
    assert.equal(got.headers.via.length, 2, 'exactly one Via more than the client sent');
    assert.equal(got.headers.via[0]!.port, coreEp.port, "the core's Via on top");
    assert.equal(got.headers.via[1]!.params.branch, sent.headers.via[0]!.params.branch, "the client's Via kept below");
    assert.equal(headerText(got, 'p-asserted-identity'), '<sip:alice@lab.test>', 'the authenticated user, not the forged bob');
    assert.equal(got.headers['p-preferred-identity'], undefined);
    assert.equal(got.headers['proxy-authorization'], undefined, "the core's credentials end at the core");
    assert.equal(got.uri, 'sip:alice@lab.test', 'the Request-URI stays the user identity');
    assert.equal(headerText(got, 'max-forwards'), '69');
    assert.equal(got.headers['record-route'], undefined, 'PUBLISH creates no dialog: no Record-Route');
  });

  it('carries a SUBSCRIBE dialog through the core: Record-Route, NOTIFY to the client, refresh to the server', async () => {
    const { client, coreEp, server } = await lab();
    const sub = new Subscriber(client, {
      target: 'sip:alice@lab.test',
      from: 'sip:alice@lab.test',
      event: 'poc-settings',
      accept: ['application/poc-settings+xml'],
      expires: 600,
      username: 'alice',
      password: 'alice-pw',
    });
    closers.push(() => sub.stop());
    const notifies = new Queue<NotifyEvent>();
    sub.on('notify', notifies.push);
    await sub.start();
    assert.equal(sub.current.state === 'pending' || sub.current.state === 'active', true, `subscribed (${sub.current.error ?? sub.current.state})`);

    const initial = await server.requests.next((r) => r.method === 'SUBSCRIBE');
    const rr = initial.headers['record-route'];
    assert.deepEqual(rr?.map((r) => r.uri), [`sip:127.0.0.1:${coreEp.port};lr`], "the core's Record-Route, loose");
    assert.equal(headerText(initial, 'p-asserted-identity'), '<sip:alice@lab.test>');

    const dialog = await server.dialog();
    await server.notify(dialog, '<poc-settings>first</poc-settings>');
    const n = await notifies.next();
    assert.equal(n.body, '<poc-settings>first</poc-settings>');
    assert.equal(n.request.message.headers.via.length, 2, 'the NOTIFY came through the core (its Via above the server one)');
    assert.equal(n.request.message.headers.via[0]!.port, coreEp.port);
    assert.equal(headerText(n.request.message, 'p-asserted-identity'), undefined, "the server's request passes as it is");

    await sub.refresh();
    const refresh = await server.requests.next((r) => r.method === 'SUBSCRIBE' && Boolean(r.headers.to.params.tag));
    assert.equal(refresh.headers.via[0]!.port, coreEp.port, 'the refresh came through the core');
    assert.equal(refresh.headers.via.length, 2);
    assert.equal(refresh.headers.route, undefined, 'the core popped its own Route entry');
    assert.equal(headerText(refresh, 'p-asserted-identity'), '<sip:alice@lab.test>');
    assert.equal(refresh.uri, dialog.localContact, "the Request-URI is the server's contact");
  });

  it('answers 483 to a request with Max-Forwards 0 and forwards nothing', async () => {
    const { client, server } = await lab();
    const res = await client.request(publishFrom(client, 'alice', { 'max-forwards': '0' })());
    assert.equal(res.response.status, 483);
    assert.equal(server.requests.size, 0);
  });

  it('routes a MESSAGE for a registered user to the registered contact; 404 for an unknown user, 480 once de-registered', async () => {
    const { client, coreEp } = await lab();
    const bobEp = await endpoint(coreEp.port);
    const reg = new Registration(bobEp, {
      aor: 'sip:bob@lab.test',
      registrar: 'sip:lab.test',
      username: 'bob',
      password: 'bob-pw',
      contactUser: 'bob',
      profile: profileFor({ enabler: 'im' }),
      expires: 600,
    });
    closers.push(() => reg.stop());
    await reg.register();
    const got = new Queue<IncomingRequest>();
    bobEp.addHandler((r) => {
      if (r.message.method !== 'MESSAGE') return false;
      got.push(r);
      r.respond(200);
      return true;
    });
    const message = (to: string) => () => ({
      ...publishFrom(client, 'alice')(),
      method: 'MESSAGE',
      uri: to,
      headers: {
        via: [],
        to: { uri: to, params: {} },
        from: { uri: 'sip:alice@lab.test', params: { tag: client.newTag() } },
        'call-id': client.newCallId(),
        cseq: { seq: 1, method: 'MESSAGE' },
        'content-type': 'text/plain',
      },
      content: 'hello',
    });
    const digest = new DigestClient({ username: 'alice', password: 'alice-pw' });
    const out = await requestWithAuth({ ua: client, digest, build: message('sip:bob@lab.test') });
    assert.equal(out.result.response.status, 200);
    const m = await got.next();
    assert.equal(m.message.uri, reg.current.contact, "Request-URI rewritten to bob's contact");
    assert.equal(headerText(m.message, 'p-asserted-identity'), '<sip:alice@lab.test>');
    const none = await requestWithAuth({ ua: client, digest, build: message('sip:nobody@lab.test') });
    assert.equal(none.result.response.status, 404);
    await reg.deregister('all');
    const gone = await requestWithAuth({ ua: client, digest, build: message('sip:bob@lab.test') });
    assert.equal(gone.result.response.status, 480);
  });
});
