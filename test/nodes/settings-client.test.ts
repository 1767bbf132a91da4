// The publish settings and settings watch nodes as a user wires them after a
// register node (seed 002 steps 16-32), against a small in-test core that
// serves REGISTER, PUBLISH and SUBSCRIBE poc-settings.
/* eslint-disable @typescript-eslint/no-require-imports */
import assert from 'node:assert/strict';
import { LabCore } from '../../lib/labcore/lab-core';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { headerText } from '../../lib/sip/message';
import { collected, statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { MiniSettingsCore } from '../support/mini-settings-core';
import { settingsFlow } from '../support/settings-flow';
import { allNodes } from '../support/nodes';
import type { TestNode } from '../support/test-helper-types';

const nodes = allNodes;
const AOR = 'sip:alice@lab.test';

/** Errors the node reports (done(err) ends in node.error), and a wait for the n-th. */
function errorsOf(node: TestNode) {
  const seen: Array<{ error: string; msg: any }> = [];
  let wake: (() => void) | undefined;
  node.on('call:error', (c: { args: unknown[] }) => {
    seen.push({ error: String(c.args[0]), msg: c.args[1] });
    wake?.();
  });
  const reach = (n: number, ms = 10000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} errors; got ${JSON.stringify(seen)}`)), ms);
      wake = () => {
        if (seen.length < n) return;
        clearTimeout(timer);
        resolve();
      };
      wake();
    });
  return { seen, reach };
}

describe('nodes: publish settings and settings watch', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();
  let core: MiniSettingsCore;

  beforeEach(async () => {
    core = new MiniSettingsCore(await freePort());
    await core.start();
  });
  afterEach(async () => {
    await helper.unload();
    await core.close();
  });

  const flow = (clients: string[], publish: Record<string, unknown> = {}, enabler: 'poc' | 'im' = 'poc') => {
    const { flow: f, credentials } = settingsFlow({ corePort: core.port, clients, publish, enabler });
    return { f, credentials };
  };

  it('publishes once after the registration, with its expiry and Service-Route, and not on a refresh', async () => {
    const { f, credentials } = flow(['a']);
    await helper.load(nodes, f, credentials);
    const pubOut = collected('pub-out-a');
    const published = await pubOut.event('published');
    assert.equal(published.payload.aor, AOR);
    assert.equal(published.payload.etag, 'e1');
    assert.equal(published.payload.expires, 1800, 'the registration’s expiry');
    assert.deepEqual(published.payload.settings, { id: 'a', poc: { incomingSessionBarring: false, answerMode: 'manual' }, extensions: [] });
    assert.equal(published.topic, AOR, 'the register output’s properties are kept');
    assert.equal(published.sip.status, 200);
    assert.deepEqual(published.sip.exchange.map((s: any) => s.status ?? s.method), ['PUBLISH', 200]);
    const [first] = core.publishes();
    assert.equal(first!.uri, AOR);
    assert.equal(headerText(first!, 'event'), 'poc-settings');
    assert.equal(headerText(first!, 'accept-contact'), '*;+g.poc.talkburst;require;explicit');
    assert.equal(headerText(first!, 'expires'), '1800');
    assert.deepEqual(first!.headers.route?.map((r) => r.uri), [`sip:orig@127.0.0.1:${core.port};lr`]);
    await statusOf(helper.getNode('pub-a'), (s) => s.fill === 'green' && /published \(1800 s\)/.test(s.text ?? ''), 5000, 'published (1800 s)');

    // A re-registration is not an initial registration: no PUBLISH for it.
    const pubNode = helper.getNode('pub-a');
    const heard = new Promise<void>((resolve) => pubNode.on('input', (m: any) => m.payload?.event === 'refreshed' && resolve()));
    helper.getNode('reg-a').receive({ payload: 'refresh' });
    await collected('reg-out-a').event('refreshed');
    await heard;
    // Input is handled in order: had the refresh published, that PUBLISH would come before this one.
    helper.getNode('pub-a').receive({ topic: 'mine', payload: { answerMode: 'automatic' } });
    const modified = await pubOut.event('modified');
    assert.equal(modified.topic, 'mine');
    assert.equal(core.publishes().length, 2, 'initial PUBLISH and the modify, nothing for the refresh');
    assert.equal(headerText(core.publishes()[1]!, 'sip-if-match'), 'e1');
    assert.equal(modified.payload.etag, 'e2');
    assert.equal(modified.payload.settings.poc.answerMode, 'automatic');
  });

  it('an IM client publishes the six IM settings of the editor with the IM feature tag', async () => {
    const im = { imIsb: 'false', imPagerBarring: 'true', imInvisibility: 'false', imOfflineDelivery: 'true', imHistorySession: 'true', imHistoryPager: 'false', pocAnswerMode: 'manual' };
    const { f, credentials } = flow(['a'], im, 'im');
    await helper.load(nodes, f, credentials);
    const published = await collected('pub-out-a').event('published');
    assert.deepEqual(published.payload.settings, {
      id: 'a',
      im: { incomingSessionBarring: false, incomingPagerLargeModeBarring: true, invisibility: false, offlineDelivery: true, historySessionMode: true, historyPagerLargeMode: false },
      extensions: [],
    }, 'the IM set only: the PoC field does not fit an IM user');
    const req = core.publishes()[0]!;
    assert.equal(headerText(req, 'accept-contact'), '*;+g.oma.sip-im;require;explicit');
    assert.match(headerText(req, 'user-agent') ?? '', /^IM-client\//);
    assert.match(req.content ?? '', /urn:oma:xml:im:service-settings/);
  });

  it('refuses unknown actions and wrong settings with a clear error, sending nothing', async () => {
    const { f, credentials } = flow(['a']);
    await helper.load(nodes, f, credentials);
    await collected('pub-out-a').event('published');
    const pub = helper.getNode('pub-a');
    const { seen: errors, reach } = errorsOf(pub);
    pub.receive({ topic: 't1', payload: 'dance' });
    pub.receive({ topic: 't2', payload: { answerMode: 'sometimes' } });
    pub.receive({ topic: 't3', payload: { colour: 'blue' } });
    await reach(3);
    assert.match(errors[0]!.error, /unknown action "dance"/);
    assert.match(errors[1]!.error, /answerMode must be 'automatic' or 'manual'/);
    assert.match(errors[2]!.error, /unknown key 'colour'/);
    assert.deepEqual(errors.map((e) => e.msg.topic), ['t1', 't2', 't3'], 'each error carries the message that caused it');
    assert.equal(core.publishes().length, 1);

    pub.receive({ payload: 'remove' });
    const removed = await collected('pub-out-a').event('removed');
    assert.equal(headerText(core.publishes()[1]!, 'expires'), '0');
    assert.equal(removed.payload.settings, undefined);
    assert.equal(core.held, 0);
  });

  it('the watch sees an empty document first, then its own settings; two clients of one user see each other', async () => {
    const { f, credentials } = flow(['a', 'b'], { pocAnswerMode: 'automatic' });
    await helper.load(nodes, f, credentials);
    const watchA = collected('watch-out-a');
    // Both clients publish right after registering; whichever NOTIFY comes, the last one holds both entities.
    const both = await watchA.next((m) => m.payload.event === 'settings' && m.payload.entities.length === 2, 15000, 'both entities');
    assert.equal(both.payload.aor, AOR);
    assert.equal(both.payload.empty, false);
    assert.equal(both.payload.own, 'a');
    assert.deepEqual(both.payload.others, ['b']);
    assert.deepEqual(both.payload.settings.entities.map((e: any) => e.poc.answerMode), ['automatic', 'automatic']);
    assert.match(both.sip.raw, /^NOTIFY /);
    const b = await collected('watch-out-b').next((m) => m.payload.event === 'settings' && m.payload.entities.length === 2, 15000, 'both entities at b');
    assert.equal(b.payload.own, 'b');
    await statusOf(helper.getNode('watch-a'), (s) => s.fill === 'green' && /2 clients/.test(s.text ?? ''), 5000, 'watching 2 clients');

    // Client b changes its answer mode: a sees it, as set by b.
    helper.getNode('pub-b').receive({ payload: { answerMode: 'manual' } });
    const changed = await watchA.next((m) => m.payload.event === 'settings' && m.payload.settings.entities.some((e: any) => e.id === 'b' && e.poc.answerMode === 'manual'));
    assert.equal(changed.payload.settings.entities.find((e: any) => e.id === 'a').poc.answerMode, 'automatic');
  });

  it('shows an empty document as no settings yet, and on close un-subscribes and removes the publication', async () => {
    const { f, credentials } = flow(['a']);
    // No publish wiring here: the watch alone sees what the server has (nothing).
    (f.find((n) => n.id === 'reg-a')!.wires as string[][])[0] = ['reg-out-a', 'watch-a'];
    await helper.load(nodes, f, credentials);
    const first = await collected('watch-out-a').event('settings');
    assert.equal(first.payload.empty, true);
    assert.deepEqual(first.payload.entities, []);
    assert.equal(first.payload.own, undefined);
    const sub = core.requests.find((r) => r.method === 'SUBSCRIBE')!;
    assert.deepEqual(sub.headers.route?.map((r) => r.uri), [`sip:orig@127.0.0.1:${core.port};lr`], 'the Service-Route of the registration');
    await statusOf(helper.getNode('watch-a'), (s) => s.fill === 'green' && /no settings yet/.test(s.text ?? ''), 5000, 'no settings yet');

    // A broken document: answered, reported (with the NOTIFY) and the settings stay as they were.
    const { seen: errors, reach } = errorsOf(helper.getNode('watch-a'));
    assert.deepEqual(await core.notifyAll('<poc-settings xmlns="urn:oma:params:xml:ns:poc:poc-settings"><entity'), [200]);
    const bad = await collected('watch-out-a').event('invalid');
    assert.match(bad.payload.error, /XML malformed/);
    await reach(1);
    assert.match(errors[0]!.error, /settings NOTIFY refused, last good settings kept/);
    assert.match(errors[0]!.msg.sip.raw, /^NOTIFY /);
    await statusOf(helper.getNode('watch-a'), (s) => s.fill === 'green' && /no settings yet/.test(s.text ?? ''), 5000, 'still no settings yet');

    helper.getNode('pub-a').receive({ payload: 'publish' });
    await collected('pub-out-a').event('published');
    await collected('watch-out-a').next((m) => m.payload.event === 'settings' && m.payload.own === 'a');
    await helper.unload();
    const last = core.requests.slice(-2);
    assert.ok(last.some((r) => r.method === 'PUBLISH' && headerText(r, 'expires') === '0'), 'the publication was removed');
    assert.ok(last.some((r) => r.method === 'SUBSCRIBE' && headerText(r, 'expires') === '0'), 'the subscription was ended');
    assert.equal(core.held, 0);
  });

  it('works through the lab core as proxy: challenged, asserted, and the NOTIFYs come back through it', async () => {
    const coreEndpoint = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: await freePort() });
    await coreEndpoint.start();
    const lab = new LabCore(coreEndpoint, { domain: 'lab.test', users: new Map([['alice', 'alice-pw']]), settingsServerUri: `sip:127.0.0.1:${core.port}` });
    lab.start();
    try {
      const { flow: f, credentials } = settingsFlow({ corePort: coreEndpoint.port, clients: ['a', 'b'] });
      await helper.load(nodes, f, credentials);
      const published = await collected('pub-out-a').event('published');
      assert.ok(published.sip.exchange.some((m: any) => m.status === 407 || m.status === 401), 'the core challenged the PUBLISH');
      const atServer = core.publishes()[0]!;
      assert.match(headerText(atServer, 'p-asserted-identity') ?? '', /sip:alice@lab\.test/, 'the core asserts the user');
      const both = await collected('watch-out-a').next((m) => m.payload.event === 'settings' && m.payload.entities.length === 2, 15000, 'both entities');
      assert.equal(both.payload.own, 'a');
      assert.match(both.sip.headers.via, new RegExp(`127\\.0\\.0\\.1:${coreEndpoint.port}`), 'the NOTIFY came through the core');
      await helper.unload();
      assert.equal(core.held, 0, 'both publications removed on close');
    } finally {
      await lab.stop();
      await coreEndpoint.close();
    }
  });
});
