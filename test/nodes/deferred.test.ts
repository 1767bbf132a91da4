// The deferred-message nodes as a user wires them, through the lab core: bob
// writes to alice while she is not registered (the core hands the MESSAGE to
// the server, which keeps it: 202); alice registers and publishes her IM
// settings; the settings server's output tells the deliver node, which pushes
// the message to alice's inbox when offline delivery is active, and otherwise
// leaves it waiting for her inbox to fetch the list.
import assert from 'node:assert/strict';
import { statusOf } from '../support/collect';
import { ALICE, BOB, deferredFlow, deferredLab, deliveredOnReturn, fetchedWhileOff } from '../support/deferred-flow';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { allNodes } from '../support/nodes';
import { loopbackEndpoint, type Closers } from '../support/settings-client';

describe('nodes: deliver deferred and inbox', function () {
  this.timeout(60000);
  const helper = useNodeRedHelper();
  const closers: Closers = [];
  afterEach(async () => {
    await helper.unload();
    for (const c of closers.splice(0).reverse()) await c();
  });

  /** The lab flow with alice (not registered until told), her publisher and inbox, the settings server and the deliver node. */
  async function start(offlineDelivery: 'true' | 'false') {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = deferredFlow({ corePort, serverPort, withLabCore: true, offlineDelivery });
    await helper.load(allNodes, flow, credentials);
    return deferredLab(helper, await loopbackEndpoint(closers, corePort));
  }

  it('keeps bob’s MESSAGE for alice (202) and delivers it to her inbox once she publishes offline delivery active', async () => {
    await deliveredOnReturn(await start('true'));
  });

  it('with offline delivery off delivers nothing, and the inbox’s fetch lists the waiting message', async () => {
    await fetchedWhileOff(await start('false'));
  });

  it('stores a message from the flow, keeps the input’s properties, and refuses bad input with an error', async () => {
    const { deliverOut } = await start('false');
    const deliver = helper.getNode('deliver');
    const errors: string[] = [];
    deliver.on('call:error', (c: { args: unknown[] }) => errors.push(String(c.args[0])));
    deliver.receive({ topic: 'note', payload: { to: 'alice', from: BOB, body: 'from the flow', time: '2026-01-02T03:04:05Z' } });
    const stored = await deliverOut.event('stored');
    assert.equal(stored.topic, 'note');
    assert.equal(stored.payload.to, ALICE, 'a user name is taken in the endpoint’s domain');
    assert.equal(stored.payload.time, '2026-01-02T03:04:05.000Z');
    deliver.receive({ payload: { to: ALICE, from: BOB } });
    deliver.receive({ payload: { to: ALICE, from: BOB, body: 'x', time: 'yesterday' } });
    deliver.receive({ payload: 'deliver' });
    const deadline = Date.now() + 10000;
    while (errors.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(errors.length, 3, JSON.stringify(errors));
    // Each says what is wrong (the time is checked by the store, so that one comes last or in between).
    assert.ok(errors.some((e) => /body must be text/.test(e)), 'no body');
    assert.ok(errors.some((e) => /time "yesterday"/.test(e)), 'a time that is none');
    assert.ok(errors.some((e) => /msg\.payload must be a message/.test(e)), 'a word instead of an object');
    await statusOf(deliver, (s) => s.text === '1 waiting for 1 user', 5000, 'only the good one is kept');
  });
});
