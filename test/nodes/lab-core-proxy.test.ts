// The lab core node's settings server option: SUBSCRIBE / PUBLISH of the
// settings events go to the server it names (by default the app server),
// through the core's proxy with the asserted identity.
import assert from 'node:assert/strict';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { allNodes } from '../support/nodes';
import { assertProxiedPublish, forgedPublish, loopbackEndpoint, type Closers } from '../support/settings-client';
import { settingsServer } from '../support/settings-server-fake';

describe('nodes: lab core proxying the settings events', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();
  const closers: Closers = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  function coreFlow(corePort: number, core: Record<string, unknown>) {
    return [
      { id: 'ep-core', type: 'oma-sip-endpoint', transport: 'udp', address: '127.0.0.1', port: corePort, coreHost: '', domain: 'lab.test' },
      { id: 'core', type: 'oma-lab-core', endpoint: 'ep-core', appServerHost: '', wires: [[]], ...core },
    ];
  }

  for (const [what, option] of [
    ['the settings server URI', (port: number) => ({ settingsServer: `sip:127.0.0.1:${port}` })],
    ['the app server when no settings server is given', (port: number) => ({ appServerHost: '127.0.0.1', appServerPort: port })],
  ] as const) {
    it(`forwards PUBLISH poc-settings to ${what}, asserting the authenticated user`, async () => {
      const serverEp = await loopbackEndpoint(closers);
      const server = settingsServer(serverEp);
      const corePort = await freePort();
      await helper.load(allNodes, coreFlow(corePort, option(serverEp.port)), { core: { users: 'alice:alice-pw' } });
      await statusOf(helper.getNode('core'), (s) => s.fill === 'green', 10000, 'core running');
      const client = await loopbackEndpoint(closers, corePort);
      const out = await forgedPublish(client);
      assert.deepEqual(out.exchanges.map((e) => e.response.status), [407, 200]);
      assertProxiedPublish(await server.requests.next((r) => r.method === 'PUBLISH'), out, corePort);
    });
  }

  it('refuses a settings server that is not a SIP URI with an error and a red status', async () => {
    const corePort = await freePort();
    await helper.load(allNodes, coreFlow(corePort, { settingsServer: 'http://example.test' }), { core: { users: 'alice:alice-pw' } });
    const s = await statusOf(helper.getNode('core'), (x) => x.fill === 'red', 10000, 'red status');
    assert.match(String(s.text), /not a SIP URI: http:\/\/example\.test/);
  });
});
