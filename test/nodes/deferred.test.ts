// The deferred-message nodes as a user wires them, through the lab core: bob
// writes to alice while she is not registered (the core hands the MESSAGE to
// the server, which keeps it: 202); alice registers and publishes her IM
// settings; the settings server's output tells the deliver node, which pushes
// the message to alice's inbox when offline delivery is active, and otherwise
// leaves it waiting for her inbox to fetch the list.
import assert from 'node:assert/strict';
import { requestWithAuth } from '../../lib/auth/authenticated-request';
import { DigestClient } from '../../lib/auth/digest-client';
import type { SipEndpoint } from '../../lib/sip/endpoint';
import { collected, statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { labFlow } from '../support/lab-flow';
import { allNodes } from '../support/nodes';
import { loopbackEndpoint, type Closers } from '../support/settings-client';
import { pagerMessage } from '../support/sip-builders';

const ALICE = 'sip:alice@lab.test';
const BOB = 'sip:bob@lab.test';

describe('nodes: deliver deferred and inbox', function () {
  this.timeout(60000);
  const helper = useNodeRedHelper();
  const closers: Closers = [];
  afterEach(async () => {
    await helper.unload();
    for (const c of closers.splice(0).reverse()) await c();
  });

  /** The lab flow with alice (not registered until told), her publisher and inbox, the settings server and the deliver node. */
  async function start(offlineDelivery: 'true' | 'false', o: { inbox?: boolean; inboxAfterRegistration?: boolean } = {}) {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({
      corePort,
      serverPort,
      withLabCore: true,
      users: [{ id: 'alice', identity: ALICE, password: 'alice-pw', enabler: 'im', registerOnStart: false }],
    });
    // The core hands the deferred-message info SUBSCRIBEs to the server too.
    flow.find((n) => n.id === 'core')!.settingsEvents = 'poc-settings deferred-messages';
    const reg = flow.find((n) => n.id === 'reg-alice')!;
    (reg.wires as string[][])[0]!.push('pub');
    if (o.inboxAfterRegistration) (reg.wires as string[][])[0]!.push('inbox');
    flow.push(
      { id: 'pub', type: 'oma-publish-settings', endpoint: 'ep-client', user: 'user-alice', imOfflineDelivery: offlineDelivery, imIsb: 'false', wires: [['pub-out']] },
      { id: 'pub-out', type: 'collect' },
      { id: 'inbox-out', type: 'collect' },
      { id: 'settings', type: 'oma-settings-server', endpoint: 'ep-server', persist: false, wires: [['settings-out', 'deliver']] },
      { id: 'settings-out', type: 'collect' },
      { id: 'deliver', type: 'oma-deliver-deferred', endpoint: 'ep-server', persist: false, infoEvent: 'deferred-messages', wires: [['deliver-out']] },
      { id: 'deliver-out', type: 'collect' },
    );
    if (o.inbox !== false) flow.push({ id: 'inbox', type: 'oma-inbox', endpoint: 'ep-client', user: 'user-alice', infoEvent: 'deferred-messages', wires: [['inbox-out']] });
    await helper.load(allNodes, flow, credentials);
    const bob = await loopbackEndpoint(closers, corePort);
    return { bob, deliverOut: collected('deliver-out'), inboxOut: collected('inbox-out'), settingsOut: collected('settings-out') };
  }

  async function bobWrites(bob: SipEndpoint, body: string) {
    const out = await requestWithAuth({ ua: bob, digest: new DigestClient({ username: 'bob', password: 'bob-pw' }), build: () => pagerMessage(bob, BOB, ALICE, body) });
    return out.result.response.status;
  }

  it('keeps bob’s MESSAGE for alice (202) and delivers it to her inbox once she publishes offline delivery active', async () => {
    const { bob, deliverOut, inboxOut } = await start('true');
    assert.equal(await bobWrites(bob, 'while you were away'), 202);
    const stored = await deliverOut.event('stored');
    assert.equal(stored.payload.to, ALICE);
    assert.equal(stored.payload.from, BOB, 'the sender the core asserted');
    assert.equal(stored.sip.method, 'MESSAGE');
    await statusOf(helper.getNode('deliver'), (s) => s.fill === 'green' && s.text === '1 waiting for 1 user', 5000, '1 waiting for 1 user');

    helper.getNode('reg-alice').receive({ payload: 'register' });
    const got = await inboxOut.event('message', 30000);
    assert.equal(got.payload.from, BOB, 'bob is the sender');
    assert.equal(got.payload.body, 'while you were away');
    assert.equal(got.payload.time, stored.payload.time, 'the time bob wrote it');
    assert.deepEqual(got.payload.to, [ALICE]);
    assert.equal(got.payload.via, 'msrp');

    const delivered = await deliverOut.event('delivered', 30000);
    assert.equal(delivered.payload.id, stored.payload.id);
    const session = await deliverOut.event('session', 30000);
    assert.equal(session.payload.outcome, 'delivered', JSON.stringify(session.payload));
    assert.deepEqual(session.payload.delivered, [stored.payload.id]);
    assert.equal(session.payload.remaining, 0);
    assert.equal(session.payload.event, 'session');
    await statusOf(helper.getNode('deliver'), (s) => s.fill === 'green' && s.text === '0 waiting for 0 users', 5000, 'nothing waits');
    await statusOf(helper.getNode('inbox'), (s) => s.text === '1 message received', 5000, '1 message received');

    // Now that alice is registered, the core routes bob's next MESSAGE straight to her inbox.
    assert.equal(await bobWrites(bob, 'welcome back'), 200);
    const direct = await inboxOut.event('message', 30000);
    assert.equal(direct.payload.via, 'pager');
    assert.equal(direct.payload.from, BOB);
    assert.equal(direct.payload.body, 'welcome back');
    assert.ok(!deliverOut.received.some((m) => m.payload.event === 'stored'), 'the server keeps nothing more');
  });

  it('a callee that refuses the INVITE is an outcome on the output and in the status, not a node error; the message stays', async () => {
    const { bob, deliverOut } = await start('true', { inbox: false });
    const deliver = helper.getNode('deliver');
    const errors: string[] = [];
    deliver.on('call:error', (c: { args: unknown[] }) => errors.push(String(c.args[0])));
    assert.equal(await bobWrites(bob, 'are you there?'), 202);
    const stored = await deliverOut.event('stored');
    helper.getNode('reg-alice').receive({ payload: 'register' });
    // alice's endpoint has no inbox: it answers the INVITE 405 with its Allow list.
    const session = await deliverOut.event('session', 30000);
    assert.equal(session.payload.outcome, 'failed', JSON.stringify(session.payload));
    assert.equal(session.payload.failure, 'declined');
    assert.equal(session.payload.status, 405);
    assert.match(session.payload.reason, /INVITE answered 405/);
    assert.match(session.payload.allow, /\bMESSAGE\b/, "the callee's Allow, as 12.2.2.2 has the server store it");
    assert.deepEqual(session.payload.delivered, []);
    assert.equal(session.payload.remaining, 1);
    await statusOf(deliver, (s) => s.fill === 'green' && /^1 waiting for 1 user; alice@lab\.test: INVITE answered 405/.test(String(s.text)), 5000, 'the outcome in the status');
    assert.deepEqual(errors, [], 'no node.error for an answer of the callee');
    assert.ok(!deliverOut.received.some((m) => m.payload.event === 'delivered' || m.payload.event === 'failed'), 'no message was sent');
    assert.equal(stored.payload.to, ALICE);
  });

  it('with offline delivery off delivers nothing, and the inbox’s fetch lists the waiting message', async () => {
    const { bob, deliverOut, inboxOut, settingsOut } = await start('false');
    assert.equal(await bobWrites(bob, 'call me'), 202);
    const stored = await deliverOut.event('stored');
    helper.getNode('reg-alice').receive({ payload: 'register' });
    const published = await settingsOut.next((m) => m.payload.event === 'published' && m.payload.aor === ALICE, 30000, 'alice’s settings');
    assert.equal(published.payload.offlineDelivery, false);

    helper.getNode('inbox').receive({ payload: 'fetch', topic: 'what waits', correlation: 7 });
    const list = await inboxOut.event('waiting', 30000);
    assert.equal(list.topic, 'what waits', 'the input’s properties are kept');
    assert.equal(list.correlation, 7);
    assert.equal(list.payload.aor, ALICE);
    assert.deepEqual(
      list.payload.messages.map((m: any) => ({ id: m.id, from: m.from, time: m.time })),
      [{ id: stored.payload.id, from: BOB, time: stored.payload.time }],
    );
    assert.match(list.sip.raw, /^NOTIFY /);
    assert.ok(!deliverOut.received.some((m) => m.payload.event === 'session' || m.payload.event === 'delivered'), 'no delivery');
    assert.ok(!inboxOut.received.some((m) => m.payload.event === 'message'), 'nothing in the inbox');
    await statusOf(helper.getNode('deliver'), (s) => s.text === '1 waiting for 1 user', 5000, 'still waiting');
  });

  it('wired to alice’s register node, the inbox lists what waits after her registration and leaves other outputs alone', async () => {
    const { bob, deliverOut, inboxOut } = await start('false', { inboxAfterRegistration: true });
    assert.equal(await bobWrites(bob, 'call me'), 202);
    const stored = await deliverOut.event('stored');
    const inbox = helper.getNode('inbox');
    const errors: string[] = [];
    inbox.on('call:error', (c: { args: unknown[] }) => errors.push(String(c.args[0])));
    helper.getNode('reg-alice').receive({ payload: 'register' });
    const list = await inboxOut.event('waiting', 30000);
    assert.equal(list.topic, ALICE);
    assert.equal(list.payload.aor, ALICE);
    assert.deepEqual(
      list.payload.messages.map((m: any) => ({ id: m.id, from: m.from, time: m.time, size: m.size })),
      [{ id: stored.payload.id, from: BOB, time: stored.payload.time, size: stored.payload.size }],
    );
    assert.match(list.sip.raw, /^NOTIFY /);
    await statusOf(inbox, (s) => s.fill === 'green' && s.text === '0 messages received, 1 waiting', 5000, 'the status says what waits');

    // A refresh, another user's registration and a de-registration fetch nothing; a fetch after them answers alone.
    const before = inboxOut.received.length;
    inbox.receive({ payload: { event: 'refreshed', aor: ALICE } });
    inbox.receive({ payload: { event: 'registered', aor: 'sip:carol@lab.test' } });
    inbox.receive({ payload: { event: 'deregistered', aor: ALICE } });
    inbox.receive({ topic: 'asked', payload: 'fetch' });
    const asked = await inboxOut.next((m) => m.payload.event === 'waiting' && m.topic === 'asked', 30000, 'the asked fetch');
    assert.equal(asked.payload.messages.length, 1);
    assert.equal(inboxOut.received.length, before, 'only the fetch was answered');
    assert.deepEqual(errors, []);

    inbox.receive({ payload: { state: 'registered' } });
    inbox.receive({ payload: 'list' });
    const deadline = Date.now() + 10000;
    while (errors.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(errors.length, 2, JSON.stringify(errors));
    for (const e of errors) assert.match(e, /msg\.payload must be "fetch".*register node/);

    // Delivered after all: the message is received, and the status no longer counts it as waiting.
    helper.getNode('deliver').receive({ payload: { action: 'deliver', aor: ALICE } });
    const got = await inboxOut.event('message', 30000);
    assert.equal(got.payload.id, stored.payload.id, 'the stored id travels as the Message-ID');
    await statusOf(inbox, (s) => s.text === '1 message received, 0 waiting', 5000, 'nothing waits any more');
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
