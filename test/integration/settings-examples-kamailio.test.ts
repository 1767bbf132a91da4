// Talks to a real SIP core: the settings examples run unchanged against
// Kamailio, as the README tells a user to point them there: the lab core node
// left out, the endpoints' core set to Kamailio, the server on the port the
// core sends third-party REGISTER and the settings events to. Kamailio
// challenges the clients' SUBSCRIBE and PUBLISH, asserts the user, and keeps
// itself in the path of the NOTIFYs (test/kamailio/kamailio.cfg).
import * as path from 'node:path';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { coreNodes } from '../support/core-nodes';
import { checkExample } from '../support/example-checks';
import { exampleFiles, loadExample, movePorts } from '../support/examples';
import { freePort } from '../support/free-port';
import { startKamailio, type KamailioInstance } from '../support/kamailio';
import { allNodes } from '../support/nodes';

describe('integration: the settings examples against a real Kamailio', function () {
  this.timeout(60000);
  const helper = useNodeRedHelper();
  let kamailio: KamailioInstance | undefined;
  afterEach(async () => {
    await helper.unload();
    await kamailio?.stop();
    kamailio = undefined;
  });

  for (const file of exampleFiles().filter((f) => path.basename(path.dirname(f)) === '3 settings')) {
    it(path.basename(file, '.json'), async () => {
      const serverPort = await freePort();
      kamailio = await startKamailio({ appServer: { host: '127.0.0.1', port: serverPort } });
      const ex = loadExample(file);
      // Step 1 of "Pointing at your own core": no lab core (and no endpoint bound for it).
      const core = ex.flow.find((n) => n.type === 'oma-lab-core')!;
      ex.flow = ex.flow.filter((n) => n.id !== core.id && n.id !== core.endpoint);
      // Steps 2 and 3: the endpoints' core is Kamailio; the users are Kamailio's (alice, bob, as in the example).
      movePorts(ex.flow, { '5060': kamailio.port, '5070': serverPort });
      await helper.load([...coreNodes, ...allNodes], ex.flow, ex.credentials);
      await checkExample(helper, ex);
    });
  }
});
