// The reg event node as a user wires it: after the client's register node,
// and after the server's third-party register node (seed 002 steps 5-15).
import assert from 'node:assert/strict';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { collected, statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { labFlow, type FlowUser } from '../support/lab-flow';
import { allNodes } from '../support/nodes';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { LabCore } from '../../lib/labcore/lab-core';


const USERS: FlowUser[] = [
  { id: 'alice', identity: 'alice', password: 'alice-pw', enabler: 'poc' },
  { id: 'bob', identity: 'bob', password: 'bob-pw', enabler: 'im' },
  { id: 'carol', identity: 'carol', password: 'carol-pw', enabler: 'cpm' },
];

/** The README promises `msg.sip` with the wire text on every output: check each one the node sent. */
function assertEverySipRaw(received: Array<{ payload: { event: string; aor: string }; sip?: { raw?: unknown } }>): void {
  assert.ok(received.length > 0);
  for (const m of received) {
    assert.equal(typeof m.sip?.raw, 'string', `${m.payload.event} for ${m.payload.aor} has msg.sip.raw`);
    assert.match(m.sip!.raw as string, /^(NOTIFY |SIP\/2\.0 )/);
  }
}

describe('nodes: reg event', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();

  it('the client watches its own registration: registered, then unregistered', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: true, users: [USERS[0]!] });
    // register -> reg event (client side), with the same user.
    const reg = flow.find((n) => n.id === 'reg-alice')!;
    (reg.wires as string[][])[0]!.push('re-alice');
    flow.push(
      { id: 're-alice', type: 'oma-reg-event', endpoint: 'ep-client', user: 'user-alice', expires: 600, subscribeOnStart: false, wires: [['re-out']] },
      { id: 're-out', type: 'collect' },
    );
    await helper.load(allNodes, flow, credentials);
    const out = collected('re-out');
    const first = await out.next((m) => m.payload.event === 'update' && m.payload.registrations.length > 0);
    assert.equal(first.payload.aor, 'sip:alice@lab.test');
    assert.equal(first.payload.full, true);
    const contact = first.payload.registrations[0].contacts[0];
    assert.equal(contact.state, 'active');
    assert.ok(contact.unknownParams.some((p: { name: string }) => p.name === '+g.poc.talkburst'));
    assert.match(first.sip.raw, /^NOTIFY sip:alice@127\.0\.0\.1:\d+ SIP\/2\.0\r\n/);
    assert.match(first.sip.headers['subscription-state'], /^active;expires=\d+$/);
    await statusOf(helper.getNode('re-alice'), (s) => s.fill === 'green' && /^active: 1 contact$/.test(s.text ?? ''), 3000, 'active: 1 contact');

    helper.getNode('reg-alice').receive({ payload: 'deregister' });
    const gone = await out.next((m) => m.payload.event === 'update' && m.payload.changes.some((c: any) => c.event === 'unregistered'));
    assert.ok(gone.payload.changes.some((c: any) => c.kind === 'contact' && c.state === 'terminated'));
    const ended = await out.event('terminated');
    assert.equal(ended.payload.subscription, 'terminated');
    assertEverySipRaw(out.received);
  });

  it('the server subscribes for each user it learns from third-party REGISTER, once per user', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: true, users: USERS });
    (flow.find((n) => n.id === 'tpr')!.wires as string[][])[0]!.push('re-server');
    flow.push(
      { id: 're-server', type: 'oma-reg-event', endpoint: 'ep-server', from: 'sip:poc-server@lab.test', expires: 600, wires: [['re-out']] },
      { id: 're-out', type: 'collect' },
    );
    await helper.load(allNodes, flow, credentials);
    const out = collected('re-out');
    const core = collected('core-out');
    const seen = new Set<string>();
    while (seen.size < 3) {
      const m = await out.next((x) => x.payload.event === 'update' && x.payload.registrations.some((r: any) => r.state === 'active'));
      seen.add(m.payload.aor);
    }
    assert.deepEqual([...seen].sort(), ['sip:alice@lab.test', 'sip:bob@lab.test', 'sip:carol@lab.test']);

    // Each refresh brings another third-party REGISTER; the subscriptions stay as they are.
    for (const u of USERS) helper.getNode(`reg-${u.id}`).receive({ payload: 'refresh' });
    const server = collected('tpr-out');
    for (let i = 0; i < 3; i++) await server.event('refreshed');
    await new Promise((r) => setTimeout(r, 300));
    const subscribed = core.received.filter((m) => m.payload.kind === 'subscription' && m.payload.event === 'subscribed');
    assert.equal(subscribed.length, 3, 'one subscription per user');
    assert.ok(subscribed.every((m) => m.payload.subscriber === 'sip:poc-server@lab.test'));
    await statusOf(helper.getNode('re-server'), (s) => /3 active/.test(s.text ?? ''), 3000, '3 active');

    // A user leaves: the server sees it in the reg event and then un-subscribes.
    helper.getNode('reg-bob').receive({ payload: 'deregister' });
    const left = await out.next((m) => m.payload.aor === 'sip:bob@lab.test' && m.payload.event === 'update' && m.payload.changes.some((c: any) => c.event === 'unregistered'));
    assert.ok(left);
    await out.next((m) => m.payload.aor === 'sip:bob@lab.test' && m.payload.event === 'terminated');
    assertEverySipRaw(out.received);
  });

  it('ends its subscriptions politely when the flow stops', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const coreEndpoint = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: corePort });
    await coreEndpoint.start();
    const core = new LabCore(coreEndpoint, {
      domain: 'lab.test',
      users: new Map([['alice', 'alice-pw']]),
      appServerSources: [{ host: '127.0.0.1', port: serverPort }],
    });
    const reports: string[] = [];
    core.on('subscription', (r: { event: string; reason?: string }) => reports.push(`${r.event}${r.reason ? ':' + r.reason : ''}`));
    core.start();
    try {
      const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: false, users: [] });
      flow.push(
        { id: 're', type: 'oma-reg-event', endpoint: 'ep-server', from: 'sip:poc-server@lab.test', expires: 600, subscribeOnStart: false, wires: [['re-out']] },
        { id: 're-out', type: 'collect' },
      );
      await helper.load(allNodes, flow, credentials);
      helper.getNode('re').receive({ payload: { action: 'subscribe', aor: 'alice' } });
      await collected('re-out').event('subscribed');
      assert.equal(core.regEvents.size, 1);
      await helper.unload();
      assert.equal(core.regEvents.size, 0, 'the core holds no subscription after the flow stopped');
      assert.deepEqual(reports, ['subscribed', 'terminated:timeout']);
    } finally {
      await core.stop();
      await coreEndpoint.close();
    }
  });
});
