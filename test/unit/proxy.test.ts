// The lab core as a stateful proxy between a client and a settings server
// (seed 002 steps 16-32): three endpoints on loopback, each on a free port.
import assert from 'node:assert/strict';
import { requestWithAuth } from '../../lib/auth/authenticated-request';
import { DigestClient } from '../../lib/auth/digest-client';
import { LabCore } from '../../lib/labcore/lab-core';
import { profileFor } from '../../lib/registration/enablers';
import { Registration } from '../../lib/registration/registration';
import type { IncomingRequest, SipEndpoint } from '../../lib/sip/endpoint';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { aliceSettingsSubscriber, assertProxiedPublish, forgedPublish, loopbackEndpoint, publishFrom, type Closers } from '../support/settings-client';
import { freePort } from '../support/free-port';
import { aliceMessageTo } from '../support/sip-builders';
import { Queue, settingsServer, type SettingsServerFake } from '../support/settings-server-fake';

const USERS = new Map([
  ['alice', 'alice-pw'],
  ['bob', 'bob-pw'],
]);

describe('lab core: stateful proxy for settings (RFC 3261 16, RFC 3325)', function () {
  this.timeout(20000);
  const closers: Closers = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function lab(transport: 'udp' | 'tcp' = 'udp'): Promise<{ client: SipEndpoint; coreEp: SipEndpoint; core: LabCore; server: SettingsServerFake }> {
    const serverEp = await loopbackEndpoint(closers, undefined, transport);
    const server = settingsServer(serverEp);
    const { client, coreEp, core } = await coreWith(serverEp.contactUri(), transport);
    return { client, coreEp, core, server };
  }

  /** A core whose settings server is `settingsServerUri` (a port or the core itself), and a client behind it. */
  async function coreWith(settingsServerUri: string | ((corePort: number) => string), transport: 'udp' | 'tcp' = 'udp') {
    const coreEp = await loopbackEndpoint(closers, undefined, transport);
    const uri = typeof settingsServerUri === 'string' ? settingsServerUri : settingsServerUri(coreEp.port);
    const core = new LabCore(coreEp, { domain: 'lab.test', users: USERS, settingsServerUri: uri });
    core.start();
    closers.push(() => core.stop());
    const client = await loopbackEndpoint(closers, coreEp.port, transport);
    return { client, coreEp, core };
  }

  it('challenges a PUBLISH with 407, then forwards it with one Via more and the asserted identity', async () => {
    const { client, coreEp, server } = await lab();
    const out = await forgedPublish(client);
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [407, 200]);
    assert.ok(out.exchanges[0]!.response.headers['proxy-authenticate'], 'the 407 carries a Proxy-Authenticate challenge');
    assert.equal(headerText(out.result.response, 'sip-etag'), server.etag, "the server's 200 reaches the client");

    const got = await server.requests.next((r) => r.method === 'PUBLISH');
    assertProxiedPublish(got, out, coreEp.port);
    assert.equal(headerText(got, 'max-forwards'), '69');
    assert.equal(got.headers['record-route'], undefined, 'PUBLISH creates no dialog: no Record-Route');
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`carries a SUBSCRIBE dialog through the core over ${transport.toUpperCase()}: Record-Route, NOTIFY to the client, refresh to the server`, async () => {
      const { client, coreEp, server } = await lab(transport);
      const { sub, notifies } = aliceSettingsSubscriber(client, closers);
      await sub.start();
      assert.ok(['pending', 'active'].includes(sub.current.state), `subscribed (${sub.current.error ?? sub.current.state})`);

      const initial = await server.requests.next((r) => r.method === 'SUBSCRIBE');
      const rr = initial.headers['record-route'];
      assert.deepEqual(rr?.map((r) => r.uri), [coreEp.contactUri() + ';lr'], "the core's Record-Route, loose");
      assert.equal(headerText(initial, 'p-asserted-identity'), '<sip:alice@lab.test>');

      const dialog = await server.dialog();
      assert.equal(await server.notify(dialog, '<poc-settings>first</poc-settings>'), 200, "the client's 200 came back to the server");
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
  }

  it('answers 483 to a request with Max-Forwards 0 and forwards nothing', async () => {
    const { client, server } = await lab();
    const res = await client.request(publishFrom(client, 'alice', { 'max-forwards': '0' })());
    assert.equal(res.response.status, 483);
    assert.equal(server.requests.size, 0);
  });

  it('answers 503 upstream when the settings server cannot be reached', async () => {
    const { client } = await coreWith(`sip:127.0.0.1:${await freePort()};transport=tcp`);
    const out = await forgedPublish(client);
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [407, 503]);
  });

  it('answers 482 to a request that comes back to the core unchanged', async () => {
    // A settings server URI naming the core itself: the forwarded PUBLISH returns to it.
    const { client } = await coreWith((port) => `sip:127.0.0.1:${port}`);
    const out = await forgedPublish(client);
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [407, 482]);
  });

  it('routes a MESSAGE for a registered user to the registered contact; 404 for an unknown user, 480 once de-registered', async () => {
    const { client, coreEp } = await lab();
    const bobEp = await loopbackEndpoint(closers, coreEp.port);
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
    const message = (to: string) => (): SipRequest => aliceMessageTo(client, to, 'hello');
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
