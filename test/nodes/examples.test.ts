// Every example flow runs as imported: loaded unchanged (ports 5060 and 5070
// included), its clients reach `registered` and its server sees them.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { collected, statusOf } from '../support/collect';
import { coreNodes } from '../support/core-nodes';
import { exampleFiles, loadExample } from '../support/examples';
import { allNodes } from '../support/nodes';


describe('examples run as imported', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();

  const files = exampleFiles();
  it('there is an example for every node type of the pack', () => {
    const types = new Set(files.flatMap((f) => loadExample(f).flow.map((n) => String(n.type))));
    for (const t of ['oma-sip-endpoint', 'oma-sip-user', 'oma-register', 'oma-third-party-register', 'oma-lab-core', 'oma-reg-event', 'oma-sip-trace']) {
      assert.ok(types.has(t), `no example uses ${t}`);
    }
  });

  for (const file of files) {
    it(path.basename(file, '.json'), async () => {
      const ex = loadExample(file);
      for (const n of ex.flow) {
        if (n.type === 'oma-sip-user' || n.type === 'oma-lab-core') {
          assert.ok(!JSON.stringify(n).includes('-pw"'), `${n.id}: no password outside credentials`);
        }
      }
      const registers = ex.flow.filter((n) => n.type === 'oma-register');
      const injects = ex.flow.filter((n) => n.type === 'inject');
      await helper.load([...coreNodes, ...allNodes], ex.flow, ex.credentials);
      const taps = new Map(Object.entries(ex.taps).map(([dbg, tap]) => [dbg, collected(tap)]));

      // A list-registering node starts from an inject, as a user would click it.
      for (const r of registers.filter((n) => n.registerOnStart === false)) {
        const feeder = injects.find((i) => String(i.payload) === 'register');
        assert.ok(feeder, `${r.id} needs an inject to start`);
        helper.getNode(String(feeder.id)).receive({ payload: 'register' });
      }
      for (const r of registers) {
        const dbg = (r.wires as string[][])[0]![0]!;
        const m = await taps.get(dbg)!.event('registered');
        assert.equal(m.payload.state, 'registered');
        await statusOf(helper.getNode(String(r.id)), (s) => s.fill === 'green', 3000, `${r.id} green`);
      }
      const tpr = ex.flow.find((n) => n.type === 'oma-third-party-register');
      const serverTap = taps.get((tpr!.wires as string[][])[0]![0]!)!;
      const m = await serverTap.event('registered');
      assert.match(m.payload.user, /^sip:(alice|bob|carol)@lab\.test$/);
      // Reg event nodes report the registration state of their users.
      for (const re of ex.flow.filter((n) => n.type === 'oma-reg-event')) {
        const tap = taps.get((re.wires as string[][])[0]![0]!)!;
        const u = await tap.next((x) => x.payload.event === 'update' && x.payload.registrations.some((r: any) => r.state === 'active'), 10000, 'an active reg event update');
        assert.match(u.payload.aor, /^sip:(alice|bob|carol)@lab\.test$/);
        await statusOf(helper.getNode(String(re.id)), (s) => s.fill === 'green', 3000, `${re.id} green`);
      }
      // Trace nodes show the challenged REGISTER, its digest response masked.
      for (const tr of ex.flow.filter((n) => n.type === 'oma-sip-trace')) {
        const tap = taps.get((tr.wires as string[][])[0]![0]!)!;
        const answer = await tap.next((x) => x.payload.method === 'REGISTER' && /\r\nAuthorization: /i.test(x.payload.raw ?? ''), 10000, 'a REGISTER with credentials');
        assert.match(answer.payload.raw, /response="\*{8}"/);
      }
      const core = ex.flow.find((n) => n.type === 'oma-lab-core');
      await statusOf(helper.getNode(String(core!.id)), (s) => s.fill === 'green' && /users registered/.test(s.text ?? ''), 3000, 'core green');
    });
  }
});
