// Failures a flow can see and handle: a Catch node gets them with the message
// that caused or reports them, answers keep the input's properties, unknown
// actions are refused, and a per-message expiry or a new password is used.
import assert from 'node:assert/strict';
import { DigestServer } from '../../lib/auth/digest-server';
import { LabCore } from '../../lib/labcore/lab-core';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { collected, statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { labFlow } from '../support/lab-flow';
import { requireNodeRed } from '../support/node-red-under-test';
import { allNodes } from '../support/nodes';

const catchNode = requireNodeRed('@node-red/nodes/core/common/25-catch.js');
const nodes = [...allNodes, catchNode];

const CONFIG_TYPES = new Set(['oma-sip-endpoint', 'oma-sip-user']);

/**
 * Puts the flow's nodes on one tab (with a position, which is how Node-RED
 * tells them from config nodes), with a Catch node for the tab wired to a collector.
 */
function withCatch(flow: Record<string, unknown>[]): Record<string, unknown>[] {
  for (const n of flow) if (!CONFIG_TYPES.has(String(n.type))) Object.assign(n, { z: 'tab', x: 100, y: 100 });
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    ...flow,
    { id: 'catch', type: 'catch', z: 'tab', x: 100, y: 100, scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'collect', z: 'tab', x: 100, y: 100 },
  ];
}

const caught = (match: RegExp) => collected('caught').next((m) => match.test(String(m.error?.message)), 15000, `a caught error ${match}`);

describe('nodes: failures a flow can catch, and answers that keep the input', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  /** A lab core outside the flow, so a test can change a password under it. */
  async function core(users: Map<string, string>) {
    const port = await freePort();
    const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port });
    await ep.start();
    const c = new LabCore(ep, { domain: 'lab.test', users });
    c.start();
    closers.push(async () => {
      await c.stop();
      await ep.close();
    });
    return { port, core: c };
  }

  async function registerFlow(corePort: number, opts: { t1?: number } = {}) {
    const { flow, credentials } = labFlow({
      corePort,
      serverPort: await freePort(),
      withLabCore: false,
      t1: opts.t1,
      users: [{ id: 'alice', identity: 'alice', password: 'alice-pw', enabler: 'poc', registerOnStart: false }],
    });
    await helper.load(nodes, withCatch(flow), credentials);
    return { reg: helper.getNode('reg-alice'), out: collected('out-alice') };
  }

  it('a wrong password reaches a Catch node with the message that asked, and the answer keeps its properties', async () => {
    const { port } = await core(new Map([['alice', 'alice-pw']]));
    const { reg, out } = await registerFlow(port);
    reg.receive({ topic: 'job-7', correlationId: 'c-42', payload: { action: 'register', identity: 'alice', password: 'wrong' } });
    const failed = await out.event('failed');
    assert.equal(failed.topic, 'job-7');
    assert.equal(failed.correlationId, 'c-42');
    assert.match(failed.payload.error, /wrong password/);
    const c = await caught(/wrong password/);
    assert.equal(c.correlationId, 'c-42', 'the Catch node gets the message');
    assert.equal(c.error.source.id, 'reg-alice');

    reg.receive({ correlationId: 'c-43', payload: { action: 'register', identity: 'alice', password: 'alice-pw' } });
    const ok = await out.event('registered');
    assert.equal(ok.correlationId, 'c-43');
    assert.equal(ok.topic, 'sip:alice@lab.test', 'an input without a topic gets the user as topic');
  });

  it('an unreachable core reaches a Catch node', async () => {
    const { reg } = await registerFlow(await freePort(), { t1: 20 });
    reg.receive({ correlationId: 'c-1', payload: 'register' });
    const c = await caught(/no answer from the core/);
    assert.equal(c.correlationId, 'c-1');
  });

  it('a failure at start, with no input (the endpoint cannot bind), reaches a Catch node', async () => {
    const busy = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: await freePort() });
    await busy.start();
    closers.push(() => busy.close());
    const { flow, credentials } = labFlow({ corePort: await freePort(), serverPort: await freePort(), withLabCore: false, users: [{ id: 'alice', identity: 'alice', password: 'alice-pw', enabler: 'poc' }] });
    flow.find((n) => n.id === 'ep-client')!.port = busy.port;
    await helper.load(nodes, withCatch(flow), credentials);
    const c = await caught(/in use/);
    assert.equal(c.payload.event, 'failed');
    assert.equal(c.error.source.id, 'reg-alice');
  });

  it('refuses unknown actions on register and reg event, to the Catch node', async () => {
    const { port } = await core(new Map([['alice', 'alice-pw']]));
    const { flow, credentials } = labFlow({ corePort: port, serverPort: await freePort(), withLabCore: false, users: [{ id: 'alice', identity: 'alice', password: 'alice-pw', enabler: 'poc', registerOnStart: false }] });
    flow.push({ id: 're', type: 'oma-reg-event', endpoint: 'ep-client', user: 'user-alice', subscribeOnStart: false, wires: [['re-out']] }, { id: 're-out', type: 'collect' });
    await helper.load(nodes, withCatch(flow), credentials);
    helper.getNode('reg-alice').receive({ id: 1, payload: 'regster' });
    assert.equal((await caught(/unknown action "regster"/)).id, 1);
    helper.getNode('re').receive({ id: 2, payload: 'subscrbe' });
    assert.equal((await caught(/unknown action "subscrbe"/)).id, 2);
    helper.getNode('re').receive({ id: 3, payload: { action: 'watch', aor: 'alice' } });
    assert.equal((await caught(/unknown action "watch"/)).id, 3);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(collected('re-out').received.length, 0, 'no subscription was started');
  });

  it('a per-message expires re-registers a registered user with it', async () => {
    const { port } = await core(new Map([['alice', 'alice-pw']]));
    const { reg, out } = await registerFlow(port);
    reg.receive({ payload: 'register' });
    assert.equal((await out.event('registered')).payload.expires, 3600);
    reg.receive({ payload: { action: 'register', expires: 120 } });
    const again = await out.event('refreshed');
    assert.equal(again.payload.expires, 120);
    const sent = again.sip.exchange.filter((x: any) => x.direction === 'out').at(-1);
    assert.equal(sent.headers.expires, '120');
  });

  it('a changed password re-registers the same binding with the new credentials', async () => {
    const users = new Map([['alice', 'old-pw']]);
    const { port, core: c } = await core(users);
    const { reg, out } = await registerFlow(port);
    reg.receive({ payload: { identity: 'alice', password: 'old-pw' } });
    const first = await out.event('registered');
    users.set('alice', 'new-pw'); // the core's password changed
    reg.receive({ payload: { identity: 'alice', password: 'new-pw' } });
    const again = await out.event('refreshed');
    assert.equal(again.sip.callId, first.sip.callId, 'the same binding');
    assert.equal(again.payload.contact, first.payload.contact);
    const bindings = c.location.lookup('sip:alice@lab.test');
    assert.equal(bindings.length, 1, 'no stale binding left behind');
  });

  it('a server reg event node whose every subscription is challenged shows red with the reason; with a user it answers', async () => {
    // A core that wants proxy credentials for every SUBSCRIBE.
    const port = await freePort();
    const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port });
    await ep.start();
    closers.push(() => ep.close());
    const digest = new DigestServer({ realm: 'lab.test', kind: 'proxy', algorithms: ['MD5'], lookup: (u) => (u === 'poc-server' ? 'server-pw' : undefined) });
    ep.addHandler((req) => {
      if (req.message.method !== 'SUBSCRIBE') return false;
      const v = digest.verify(req.message.headers['proxy-authorization'] as never, { method: 'SUBSCRIBE', uri: req.message.uri });
      if (!v.ok) {
        const ch = digest.challenge();
        req.respond(407, { headers: { [ch.header]: [...ch.split] } });
      } else req.respond(403);
      return true;
    });
    const { flow, credentials } = labFlow({ corePort: port, serverPort: await freePort(), withLabCore: false, users: [] });
    flow.push(
      { id: 're', type: 'oma-reg-event', endpoint: 'ep-server', from: 'sip:poc-server@lab.test', wires: [['re-out']] },
      { id: 're-out', type: 'collect' },
      { id: 'server-user', type: 'oma-sip-user', identity: 'poc-server' },
      { id: 're-auth', type: 'oma-reg-event', endpoint: 'ep-server', user: 'server-user', subscribeOnStart: false, wires: [['re-auth-out']] },
      { id: 're-auth-out', type: 'collect' },
    );
    credentials['server-user'] = { password: 'server-pw' };
    await helper.load(nodes, withCatch(flow), credentials);
    const re = helper.getNode('re');
    re.receive({ payload: { action: 'subscribe', aor: 'alice' } });
    re.receive({ payload: { action: 'subscribe', aor: 'bob' } });
    const st = await statusOf(re, (s) => s.fill === 'red', 15000, 'red status');
    assert.match(st.text ?? '', /407/);
    const c = await caught(/407.*credentials/);
    assert.equal(c.payload.event, 'terminated');

    // With a user, the challenge is answered: the core then says what it thinks of the subscription.
    helper.getNode('re-auth').receive({ payload: { action: 'subscribe', aor: 'alice' } });
    const ended = await collected('re-auth-out').event('terminated');
    assert.match(ended.payload.error, /^403/, `answered the challenge: ${ended.payload.error}`);
  });
});
