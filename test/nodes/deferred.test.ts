// The deferred-message nodes as a user wires them, through the lab core: bob
// writes to alice while she is not registered (the core hands the MESSAGE to
// the server, which keeps it: 202); alice registers and publishes her IM
// settings; the settings server's output tells the deliver node, which pushes
// the message to alice's inbox when offline delivery is active, and otherwise
// leaves it waiting for her inbox to fetch the list. After a redeploy of the
// server's nodes the deliver node delivers on alice's next refresh, and a
// message stored while her settings allow delivery goes at once.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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
  let userDir: string | undefined;
  afterEach(async () => {
    await helper.unload();
    for (const c of closers.splice(0).reverse()) await c();
    helper.settings({ userDir: undefined });
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
    userDir = undefined;
  });

  /**
   * The lab flow with alice (not registered until told), her publisher and
   * inbox, the settings server and the deliver node. `persist`: both server
   * nodes keep their state in a user directory.
   */
  async function start(offlineDelivery: 'true' | 'false', o: { persist?: boolean } = {}) {
    if (o.persist) {
      userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-deferred-'));
      helper.settings({ userDir });
    }
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
    flow.push(
      { id: 'pub', type: 'oma-publish-settings', endpoint: 'ep-client', user: 'user-alice', imOfflineDelivery: offlineDelivery, imIsb: 'false', wires: [['pub-out']] },
      { id: 'pub-out', type: 'collect' },
      { id: 'inbox', type: 'oma-inbox', endpoint: 'ep-client', user: 'user-alice', infoEvent: 'deferred-messages', wires: [['inbox-out']] },
      { id: 'inbox-out', type: 'collect' },
      { id: 'settings', type: 'oma-settings-server', endpoint: 'ep-server', persist: !!o.persist, wires: [['settings-out', 'deliver']] },
      { id: 'settings-out', type: 'collect' },
      { id: 'deliver', type: 'oma-deliver-deferred', endpoint: 'ep-server', persist: !!o.persist, infoEvent: 'deferred-messages', wires: [['deliver-out']] },
      { id: 'deliver-out', type: 'collect' },
    );
    await helper.load(allNodes, flow, credentials);
    const bob = await loopbackEndpoint(closers, corePort);
    return { bob, flow, credentials, deliverOut: collected('deliver-out'), inboxOut: collected('inbox-out'), settingsOut: collected('settings-out'), pubOut: collected('pub-out') };
  }

  /** The deliver node's decisions (its debug log), as they come. */
  function decisionsOf(node: any) {
    const queue: string[] = [];
    const waiters: Array<(line: string) => void> = [];
    node.on('call:debug', (c: { args: unknown[] }) => {
      const line = String(c.args[0]);
      if (!/: (deliver|wait) \(/.test(line)) return;
      const w = waiters.shift();
      if (w) w(line);
      else queue.push(line);
    });
    return {
      next: (ms = 30000): Promise<string> =>
        queue.length
          ? Promise.resolve(queue.shift()!)
          : new Promise<string>((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error('no decision of the deliver node')), ms);
              waiters.push((line) => {
                clearTimeout(timer);
                resolve(line);
              });
            }),
    };
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

  it('after a redeploy of the server’s nodes, alice’s next settings refresh delivers what waits', async () => {
    const { bob, flow, credentials, deliverOut, inboxOut, pubOut, settingsOut } = await start('true', { persist: true });
    await statusOf(helper.getNode('deliver'), (s) => s.fill === 'green', 10000, 'the store read');
    assert.equal(await bobWrites(bob, 'before the redeploy'), 202);
    const stored = await deliverOut.event('stored');
    // The operator disables the deliver node (a deploy of the changed node) while alice comes back and publishes.
    const deliverDef = flow.find((n) => n.id === 'deliver')!;
    deliverDef.d = true;
    await helper.setFlows(flow, 'nodes', credentials);
    helper.getNode('reg-alice').receive({ payload: 'register' });
    await settingsOut.next((m) => m.payload.event === 'published' && m.payload.aor === ALICE, 30000, 'alice’s settings');

    // Enabled again, with the settings server changed too: both start again from their files.
    delete deliverDef.d;
    flow.find((n) => n.id === 'settings')!.name = 'settings server';
    await helper.setFlows(flow, 'nodes', credentials);
    const deliver = helper.getNode('deliver');
    const decisions = decisionsOf(deliver);
    await statusOf(deliver, (s) => s.fill === 'green' && s.text === '1 waiting for 1 user', 10000, 'the message read back');
    assert.ok(!deliverOut.received.some((m) => m.payload.event === 'session'), 'no delivery before the refresh');

    helper.getNode('pub').receive({ payload: 'refresh' });
    await pubOut.event('refreshed', 30000);
    const refreshed = await settingsOut.next((m) => m.payload.event === 'refreshed', 30000, 'the refresh at the server');
    assert.equal(refreshed.payload.offlineDelivery, true, 'the publication survived the redeploy');
    assert.match(await decisions.next(), /^sip:alice@lab\.test: deliver \(refresh-first\)$/);
    const got = await inboxOut.event('message', 30000);
    assert.equal(got.payload.id, stored.payload.id);
    assert.equal(got.payload.body, 'before the redeploy');
    assert.equal(got.payload.from, BOB);
    const session = await deliverOut.event('session', 30000);
    assert.equal(session.payload.outcome, 'delivered', JSON.stringify(session.payload));
    assert.deepEqual(session.payload.delivered, [stored.payload.id]);
    await statusOf(deliver, (s) => s.text === '0 waiting for 0 users', 5000, 'nothing waits');

    // A second refresh with nothing waiting starts no session.
    helper.getNode('pub').receive({ payload: 'refresh' });
    await settingsOut.next((m) => m.payload.event === 'refreshed', 30000, 'the second refresh at the server');
    helper.getNode('inbox').receive({ payload: 'fetch' });
    await inboxOut.event('waiting', 30000);
    assert.ok(!deliverOut.received.some((m) => m.payload.event === 'session'), 'one session only');
    assert.ok(!inboxOut.received.some((m) => m.payload.event === 'message'), 'nothing more in the inbox');
  });

  it('delivers a message stored from the flow at once while alice’s settings allow it', async () => {
    const { deliverOut, inboxOut } = await start('true');
    const decisions = decisionsOf(helper.getNode('deliver'));
    helper.getNode('reg-alice').receive({ payload: 'register' });
    assert.equal(await decisions.next(), `${ALICE}: wait (nothing-waiting)`, 'the deliver node has taken alice’s settings');
    helper.getNode('deliver').receive({ topic: 'memo', payload: { to: ALICE, from: BOB, body: 'from the flow, while you are here' } });
    const stored = await deliverOut.event('stored');
    const got = await inboxOut.event('message', 30000);
    assert.equal(got.payload.id, stored.payload.id);
    assert.equal(got.payload.via, 'msrp');
    assert.equal(got.payload.body, 'from the flow, while you are here');
    assert.equal(await decisions.next(), `${ALICE}: deliver (stored-while-active)`);
    const session = await deliverOut.event('session', 30000);
    assert.equal(session.topic, 'memo', 'the session answers the input that stored the message');
    assert.equal(session.payload.outcome, 'delivered', JSON.stringify(session.payload));
  });
});
