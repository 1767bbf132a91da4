// Every example flow runs as imported, moved to free ports as a user would
// move it in the editor (5060 and 5070 belong to whatever else runs here): its
// clients reach `registered` and its server sees them. A port that is taken
// shows at once as a red status saying so.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { statusOf } from '../support/collect';
import { coreNodes } from '../support/core-nodes';
import * as dgram from 'node:dgram';
import { EXAMPLE_PORTS, exampleFiles, freeExamplePorts, loadExample, movePorts } from '../support/examples';
import { checkExample } from '../support/example-checks';
import { allNodes } from '../support/nodes';


describe('examples run as imported', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();

  const files = exampleFiles();
  it('there is an example for every node type of the pack', () => {
    const types = new Set(files.flatMap((f) => loadExample(f).flow.map((n) => String(n.type))));
    for (const t of ['oma-sip-endpoint', 'oma-sip-user', 'oma-register', 'oma-third-party-register', 'oma-lab-core', 'oma-reg-event', 'oma-publish-settings', 'oma-settings-watch', 'oma-settings-server', 'oma-sip-trace', 'oma-deliver-deferred', 'oma-inbox']) {
      assert.ok(types.has(t), `no example uses ${t}`);
    }
  });

  for (const file of files) {
    it(path.basename(file, '.json'), async () => {
      const ex = loadExample(file);
      movePorts(ex.flow, await freeExamplePorts());
      for (const n of ex.flow) {
        for (const [k, v] of Object.entries(n)) {
          if (/port$/i.test(k)) assert.ok(!EXAMPLE_PORTS.includes(String(v) as '5060'), `${n.id}.${k} still on ${v}`);
        }
      }
      for (const n of ex.flow) {
        if (n.type === 'oma-sip-user' || n.type === 'oma-lab-core') {
          assert.ok(!JSON.stringify(n).includes('-pw"'), `${n.id}: no password outside credentials`);
        }
      }
      await helper.load([...coreNodes, ...allNodes], ex.flow, ex.credentials);
      await checkExample(helper, ex);
      const core = ex.flow.find((n) => n.type === 'oma-lab-core');
      await statusOf(helper.getNode(String(core!.id)), (s) => s.fill === 'green' && /users? registered/.test(s.text ?? ''), 3000, 'core green');
    });
  }

  it('says at once that a port is in use when the lab core\'s port is taken', async () => {
    const ex = loadExample(files[0]!);
    const ports = await freeExamplePorts();
    movePorts(ex.flow, ports);
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(ports['5060'], '127.0.0.1', () => r()));
    try {
      await helper.load([...coreNodes, ...allNodes], ex.flow, ex.credentials);
      const core = ex.flow.find((n) => n.type === 'oma-lab-core')!;
      const red = await statusOf(helper.getNode(String(core.id)), (s) => s.fill === 'red', 5000, 'core red');
      assert.match(red.text ?? '', new RegExp(`port ${ports['5060']} .*already in use`));
    } finally {
      squatter.close();
    }
  });
});

