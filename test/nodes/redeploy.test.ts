// On redeploy every node closes at once: the clients de-register, and the core
// tells the server by third-party REGISTER while the server is closing too.
// The server keeps answering until the clients' goodbyes are done.
import assert from 'node:assert/strict';
import { LabCore } from '../../lib/labcore/lab-core';
import type { ThirdPartyResult } from '../../lib/labcore/third-party';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { collected } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { labFlow } from '../support/lab-flow';
import { allNodes } from '../support/nodes';

describe('nodes: redeploy', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();

  it("the server answers the core's last third-party REGISTERs while the flow stops", async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const coreEndpoint = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: corePort });
    await coreEndpoint.start();
    const core = new LabCore(coreEndpoint, {
      domain: 'lab.test',
      users: new Map([['alice', 'alice-pw'], ['bob', 'bob-pw']]),
      appServerUri: `sip:127.0.0.1:${serverPort}`,
    });
    const results: ThirdPartyResult[] = [];
    let twoAnswered: () => void = () => undefined;
    const answered = new Promise<void>((r) => (twoAnswered = r));
    core.on('third-party', (r: ThirdPartyResult) => {
      results.push(r);
      if (results.length === 2) twoAnswered();
    });
    core.start();
    try {
      const { flow, credentials } = labFlow({
        corePort,
        serverPort,
        withLabCore: false,
        users: [
          { id: 'alice', identity: 'alice', password: 'alice-pw', enabler: 'poc' },
          { id: 'bob', identity: 'bob', password: 'bob-pw', enabler: 'im' },
        ],
      });
      await helper.load(allNodes, flow, credentials);
      const server = collected('tpr-out');
      await server.event('registered');
      await server.event('registered');
      await answered;
      assert.deepEqual(results.map((r) => r.status), [200, 200]);

      await helper.unload();
      const goodbyes = results.filter((r) => r.expires === 0);
      assert.deepEqual(
        goodbyes.map((r) => [r.aor, r.status]).sort(),
        [['sip:alice@lab.test', 200], ['sip:bob@lab.test', 200]],
        `the server answered the de-registrations: ${JSON.stringify(results)}`,
      );
    } finally {
      await core.stop();
      await coreEndpoint.close();
    }
  });
});
