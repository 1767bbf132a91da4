// The settings events through a real Kamailio (seed 002 steps 16-32): the core
// authenticates the client (407), asserts its identity, Record-Routes the
// SUBSCRIBE, and carries the NOTIFYs and refreshes of the dialog.
import assert from 'node:assert/strict';
import type { SipEndpoint } from '../../lib/sip/endpoint';
import { headerText } from '../../lib/sip/message';
import { parseUri } from '../../lib/sip/uri';
import { startKamailio, type KamailioInstance } from '../support/kamailio';
import { aliceSettingsSubscriber, assertProxiedPublish, forgedPublish, loopbackEndpoint, publishFrom, type Closers } from '../support/settings-client';
import { settingsServer, type SettingsServerFake } from '../support/settings-server-fake';

describe('integration: settings SUBSCRIBE / PUBLISH proxied by a real Kamailio', function () {
  this.timeout(60000);
  const closers: Closers = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function lab(): Promise<{ k: KamailioInstance; client: SipEndpoint; server: SettingsServerFake }> {
    const serverEp = await loopbackEndpoint(closers);
    const server = settingsServer(serverEp);
    const k = await startKamailio({ appServer: { host: '127.0.0.1', port: serverEp.port } });
    closers.push(() => k.stop());
    const client = await loopbackEndpoint(closers, k.port);
    return { k, client, server };
  }

  it('challenges the PUBLISH, forwards it with its Via below the core one and the asserted identity, and the 200 back', async () => {
    const { k, client, server } = await lab();
    const out = await forgedPublish(client);
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [407, 200], k.log().slice(-3000));
    assert.equal(headerText(out.result.response, 'sip-etag'), server.etag);
    assertProxiedPublish(await server.requests.next((r) => r.method === 'PUBLISH'), out, k.port);
  });

  it('Record-Routes the SUBSCRIBE; the NOTIFY reaches the client and the refresh the server, both through the core', async () => {
    const { k, client, server } = await lab();
    const { sub, notifies } = aliceSettingsSubscriber(client, closers);
    await sub.start();
    assert.ok(['pending', 'active'].includes(sub.current.state), `subscribed (${sub.current.error ?? sub.current.state})\n${k.log().slice(-3000)}`);

    const initial = await server.requests.next((r) => r.method === 'SUBSCRIBE');
    const rr = parseUri(initial.headers['record-route']?.[0]?.uri ?? '');
    assert.equal(rr?.port, k.port, "Kamailio's Record-Route");
    assert.ok(rr && 'lr' in rr.params);
    assert.equal(headerText(initial, 'p-asserted-identity'), '<sip:alice@lab.test>');

    const dialog = await server.dialog();
    assert.equal(await server.notify(dialog, '<poc-settings>first</poc-settings>'), 200);
    const n = await notifies.next();
    assert.equal(n.body, '<poc-settings>first</poc-settings>');
    assert.equal(n.request.message.headers.via[0]!.port, k.port, 'the NOTIFY came through the core');

    await sub.refresh();
    const refresh = await server.requests.next((r) => r.method === 'SUBSCRIBE' && Boolean(r.headers.to.params.tag));
    assert.equal(refresh.headers.via[0]!.port, k.port, 'the refresh came through the core');
    assert.equal(refresh.headers.via.length, 2);
    assert.equal(refresh.uri, dialog.localContact);
    assert.equal(headerText(refresh, 'p-asserted-identity'), '<sip:alice@lab.test>', 'the refresh is asserted too');
  });

  it('answers 483 to Max-Forwards 0', async () => {
    const { client, server } = await lab();
    const res = await client.request(publishFrom(client, 'alice', { 'max-forwards': '0' })());
    assert.equal(res.response.status, 483);
    assert.equal(server.requests.size, 0);
  });
});
