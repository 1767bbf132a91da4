// The settings client nodes through a real SIP core: Kamailio registers the
// client, challenges (407) and asserts it, and relays PUBLISH and SUBSCRIBE poc-settings to the application
// server (here the small in-test settings server), with Record-Route, so the
// NOTIFYs and the un-SUBSCRIBE travel through the core (seed 002 steps 16-32).
/* eslint-disable @typescript-eslint/no-require-imports */
import assert from 'node:assert/strict';
import { headerText } from '../../lib/sip/message';
import { collected, statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { startKamailio, type KamailioInstance } from '../support/kamailio';
import { MiniSettingsCore } from '../support/mini-settings-core';
import { allNodes } from '../support/nodes';
import { settingsFlow } from '../support/settings-flow';

const nodes = allNodes;

describe('integration: settings clients through a real Kamailio', function () {
  this.timeout(60000);
  const helper = useNodeRedHelper();
  let kamailio: KamailioInstance | undefined;
  let server: MiniSettingsCore | undefined;

  afterEach(async () => {
    await helper.unload();
    await kamailio?.stop();
    await server?.close();
    kamailio = undefined;
    server = undefined;
  });

  it('two clients of one user publish after registering and each watches both entities; close removes and un-subscribes', async () => {
    server = new MiniSettingsCore(await freePort());
    await server.start();
    kamailio = await startKamailio({ appServer: { host: '127.0.0.1', port: server.port } });
    const { flow, credentials } = settingsFlow({ corePort: kamailio.port, clients: ['a', 'b'], publish: { pocAnswerMode: 'automatic' } });
    await helper.load(nodes, flow, credentials);

    const published = await collected('pub-out-a').event('published');
    assert.equal(published.payload.aor, 'sip:alice@lab.test');
    assert.ok(published.payload.etag);
    await collected('pub-out-b').event('published');
    const atServer = server.publishes()[0]!;
    assert.equal(atServer.uri, 'sip:alice@lab.test', 'Request-URI stays the user through the core');
    assert.ok(atServer.headers.via.length >= 2, 'the core is on the path (its Via on top)');
    assert.equal(headerText(atServer, 'accept-contact'), '*;+g.poc.talkburst;require;explicit');
    assert.deepEqual(published.sip.exchange.map((m: any) => m.status ?? m.method), ['PUBLISH', 407, 'PUBLISH', 200], 'the core challenges, the client answers');
    assert.match(headerText(atServer, 'p-asserted-identity') ?? '', /sip:alice@lab\.test/, 'the core asserts the user');
    assert.equal(headerText(atServer, 'p-preferred-identity'), undefined, 'the client’s preferred identity does not pass the core');

    const both = await collected('watch-out-a').next((m) => m.payload.event === 'settings' && m.payload.entities.length === 2, 20000, 'both entities');
    assert.equal(both.payload.own, 'a');
    assert.deepEqual(both.payload.others, ['b']);
    assert.match(both.sip.headers.via, new RegExp(`127\\.0\\.0\\.1:${kamailio.port}`), 'the NOTIFY came through the core');
    const sub = server.requests.find((r) => r.method === 'SUBSCRIBE')!;
    assert.ok(sub.headers['record-route']?.length, 'the core record-routes the settings subscription');
    await statusOf(helper.getNode('watch-b'), (s) => s.fill === 'green' && /2 clients/.test(s.text ?? ''), 10000, 'b watching 2 clients');

    await helper.unload();
    assert.equal(server.held, 0, 'both publications removed on close');
    const unsubscribes = server.requests.filter((r) => r.method === 'SUBSCRIBE' && headerText(r, 'expires') === '0');
    assert.equal(unsubscribes.length, 2, 'each watch un-subscribed through the core');
  });
});
