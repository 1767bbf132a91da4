// Runs the examples of one folder unchanged against a real Kamailio, as the
// README tells a user to point them there: the lab core node left out, the
// endpoints' core set to Kamailio, the server on the port Kamailio sends
// third-party REGISTER, the settings and deferred-message info events and the
// MESSAGEs for unregistered users to (test/kamailio/kamailio.cfg). Each
// example then has to pass the same checks as on the lab core (checkExample).
import * as path from 'node:path';
import { checkExample } from './example-checks';
import { exampleFiles, loadExample, movePorts } from './examples';
import { freePort } from './free-port';
import { coreNodes } from './core-nodes';
import { useNodeRedHelper } from './helper-lifecycle';
import { startKamailio, type KamailioInstance } from './kamailio';
import { allNodes } from './nodes';

/** One test per example file in `examples/<folder>/`, each against its own Kamailio; call inside a describe. */
export function examplesAgainstKamailio(folder: string): void {
  const helper = useNodeRedHelper();
  let kamailio: KamailioInstance | undefined;
  afterEach(async () => {
    await helper.unload();
    await kamailio?.stop();
    kamailio = undefined;
  });

  const files = exampleFiles().filter((f) => path.basename(path.dirname(f)) === folder);
  it(`examples/${folder} holds examples`, () => {
    if (files.length === 0) throw new Error(`no example in examples/${folder}`);
  });
  for (const file of files) {
    it(path.basename(file, '.json'), async () => {
      const serverPort = await freePort();
      kamailio = await startKamailio({ appServer: { host: '127.0.0.1', port: serverPort } });
      const ex = loadExample(file);
      // Step 1 of "Pointing at your own core": no lab core (and no endpoint bound for it).
      const core = ex.flow.find((n) => n.type === 'oma-lab-core')!;
      ex.flow = ex.flow.filter((n) => n.id !== core.id && n.id !== core.endpoint);
      // Steps 2 and 3: the endpoints' core is Kamailio; the users are Kamailio's (alice, bob, carol, as in the examples).
      movePorts(ex.flow, { '5060': kamailio.port, '5070': serverPort });
      await helper.load([...coreNodes, ...allNodes], ex.flow, ex.credentials);
      await checkExample(helper, ex);
    });
  }
}
