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
import { collected, statusOf } from '../support/collect';
import { ALICE, BOB, bobWrites, deferredFlow, deferredLab, deliveredOnReturn, fetchedWhileOff } from '../support/deferred-flow';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { allNodes } from '../support/nodes';
import { loopbackEndpoint, type Closers } from '../support/settings-client';

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
  async function start(offlineDelivery: 'true' | 'false', o: { inbox?: boolean; inboxAfterRegistration?: boolean; persist?: boolean } = {}) {
    if (o.persist) {
      userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-deferred-'));
      helper.settings({ userDir });
    }
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = deferredFlow({ corePort, serverPort, withLabCore: true, offlineDelivery, ...o });
    await helper.load(allNodes, flow, credentials);
    const lab = deferredLab(helper, await loopbackEndpoint(closers, corePort));
    return { ...lab, flow, credentials, pubOut: collected('pub-out') };
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

  it('keeps bob’s MESSAGE for alice (202) and delivers it to her inbox once she publishes offline delivery active', async () => {
    await deliveredOnReturn(await start('true'));
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

  it('a message the inbox cannot read is a node error of the inbox, not output, and stays stored at the server', async () => {
    const { bob, deliverOut, inboxOut } = await start('true');
    const inbox = helper.getNode('inbox');
    const errors: Array<{ text: string; msg: any }> = [];
    inbox.on('call:error', (c: { args: unknown[] }) => errors.push({ text: String(c.args[0]), msg: c.args[1] }));
    // A line separator in bob's display name: stored as his name, wrapped by the server, unreadable for the inbox.
    assert.equal(await bobWrites(bob, 'unreadable', 'Bob\u2028Builder'), 202);
    const stored = await deliverOut.event('stored');
    helper.getNode('reg-alice').receive({ payload: 'register' });
    const session = await deliverOut.event('session', 30000);
    assert.deepEqual(session.payload.delivered, [], JSON.stringify(session.payload));
    assert.equal(session.payload.remaining, 1, 'the message stays stored');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0]!.text, new RegExp(`Message ${stored.payload.id} refused \\(400, it stays at the server\\): unreadable message/cpim`));
    assert.equal(errors[0]!.msg.payload.id, stored.payload.id);
    assert.ok(!inboxOut.received.some((m) => m.payload.event === 'message'), 'nothing output');
  });

  it('with offline delivery off delivers nothing, and the inbox’s fetch lists the waiting message', async () => {
    await fetchedWhileOff(await start('false'));
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
