// The trace as a lab user meets it: an oma-sip-trace node beside a register
// node outputs the REGISTER / 401 / REGISTER / 200 exchange with the digest
// response masked, and the editor's history endpoint serves the same trace.
import assert from 'node:assert/strict';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { collected, statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { labFlow } from '../support/lab-flow';
import { allNodes } from '../support/nodes';

const ALICE = { id: 'alice', identity: 'alice', password: 'alice-pw', enabler: 'poc' as const };

/** A lab core, alice's register node, and trace nodes (placed first, so they see the first REGISTER). */
async function traceFlow(trace: Record<string, unknown>[]) {
  const corePort = await freePort();
  const serverPort = await freePort();
  const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: true, users: [ALICE] });
  const configs = flow.filter((n) => n.type === 'oma-sip-endpoint' || n.type === 'oma-sip-user');
  const others = flow.filter((n) => !configs.includes(n));
  return { flow: [...configs, ...trace, ...others], credentials, corePort };
}

describe('nodes: SIP trace', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();

  it('outputs the client side of a registration: REGISTER, 401, REGISTER with a masked response, 200', async () => {
    const { flow, credentials, corePort } = await traceFlow([
      { id: 'trace', type: 'oma-sip-trace', endpoint: 'ep-client', methods: 'register', direction: 'both', wires: [['trace-out']] },
      { id: 'trace-out', type: 'collect' },
    ]);
    await helper.load(allNodes, flow, credentials);
    const registered = await collected('out-alice').event('registered');
    const callId: string = registered.sip.callId;
    const out = collected('trace-out');
    const seq = [];
    for (let i = 0; i < 4; i++) seq.push(await out.next((m) => m.payload.callId === callId, 10000, `message ${i + 1} of the registration`));
    assert.deepEqual(
      seq.map((m) => `${m.payload.direction} ${m.payload.status ?? m.payload.method} ${m.payload.cseq}`),
      ['out REGISTER 1', 'in 401 1', 'out REGISTER 2', 'in 200 2'],
    );
    for (const m of seq) {
      assert.equal(m.payload.endpoint, `UDP ${m.payload.local}`, 'an unnamed endpoint is named by its transport and address');
      assert.equal(m.payload.peer, `127.0.0.1:${corePort}`);
      assert.equal(m.payload.from, 'alice');
      assert.equal(m.topic, m.payload.summary);
    }
    assert.match(seq[1]!.payload.summary, /^401 Unauthorized \(CSeq 1 REGISTER\) alice → alice$/);
    const answer = seq[2]!.payload;
    assert.match(answer.headers.authorization, /^Digest /);
    assert.match(answer.raw, /\r\nAuthorization: Digest [^\r\n]*response="\*{8}"/i);
    assert.match(answer.headers.authorization, /cnonce="[^"*]+"/, 'cnonce is left as it was');
    assert.doesNotMatch(answer.raw, /response="[0-9a-f]{32}"/, 'the digest response never shows');
    assert.doesNotMatch(answer.raw, /alice-pw/);
    await statusOf(helper.getNode('trace'), (s) => s.fill === 'green' && /^\d+ messages$/.test(s.text ?? ''), 5000, 'n messages');
  });

  it('filters by direction, and sees every endpoint when none is chosen (the core receives what the client sends)', async () => {
    const { flow, credentials } = await traceFlow([
      { id: 'all-in', type: 'oma-sip-trace', endpoint: '', methods: '', direction: 'in', wires: [['all-in-out']] },
      { id: 'all-in-out', type: 'collect' },
    ]);
    await helper.load(allNodes, flow, credentials);
    const registered = await collected('out-alice').event('registered');
    const callId: string = registered.sip.callId;
    const out = collected('all-in-out');
    const atCore = await out.next((m) => m.payload.callId === callId && m.payload.method === 'REGISTER' && m.payload.status === undefined);
    assert.equal(atCore.payload.direction, 'in');
    assert.equal(atCore.payload.cseq, 1, 'the lab core received the first REGISTER');
    const atClient = await out.next((m) => m.payload.callId === callId && m.payload.status === 401);
    assert.equal(atClient.payload.direction, 'in');
    assert.ok(out.received.every((m) => m.payload.direction === 'in'));
  });

  it('says so when its endpoint is missing', async () => {
    await helper.load(allNodes, [{ id: 'lost', type: 'oma-sip-trace', endpoint: 'gone', wires: [[]] }], {});
    await statusOf(helper.getNode('lost'), (s) => s.fill === 'red' && s.text === 'endpoint missing', 3000, 'endpoint missing');
  });

  it('serves the history to the editor: every endpoint, oldest first, the digest response masked', async () => {
    const { flow, credentials } = await traceFlow([]);
    await helper.load(allNodes, flow, credentials);
    const registered = await collected('out-alice').event('registered');
    const callId: string = registered.sip.callId;
    const res = await helper.request().get('/oma-sip/trace').expect(200);
    const names = res.body.endpoints.map((e: { id: string }) => e.id).sort();
    assert.deepEqual(names, ['ep-client', 'ep-core', 'ep-server']);
    const ids: number[] = res.body.entries.map((e: { id: number }) => e.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'oldest first');
    const call = res.body.entries.filter((e: { callId: string }) => e.callId === callId);
    const client = call.filter((e: { endpointId: string }) => e.endpointId === 'ep-client');
    assert.deepEqual(
      client.map((e: { direction: string; status?: number; method: string }) => `${e.direction} ${e.status ?? e.method}`),
      ['out REGISTER', 'in 401', 'out REGISTER', 'in 200'],
    );
    const core = call.filter((e: { endpointId: string }) => e.endpointId === 'ep-core');
    assert.deepEqual(
      core.map((e: { direction: string; status?: number; method: string }) => `${e.direction} ${e.status ?? e.method}`),
      ['in REGISTER', 'out 401', 'in REGISTER', 'out 200'],
    );
    for (const e of call) assert.doesNotMatch(e.raw, /response="[0-9a-f]{32}"/);
    assert.match(client[2].raw, /response="\*{8}"/);

    const later = await helper.request().get('/oma-sip/trace').query({ after: client[2].id, endpoint: 'ep-client' }).expect(200);
    assert.ok(later.body.entries.length > 0);
    assert.ok(later.body.entries.every((e: { id: number; endpointId: string }) => e.id > client[2].id && e.endpointId === 'ep-client'));
  });
});
