// Talks to a real SIP core: reg event subscriptions against Kamailio's
// presence_reginfo / pua_reginfo, through the Node-RED nodes.
import assert from 'node:assert/strict';
import { profileFor } from '../../lib/registration/enablers';
import { Registration } from '../../lib/registration/registration';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { collected, statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { startKamailio, type KamailioInstance } from '../support/kamailio';
import { labFlow, type FlowUser } from '../support/lab-flow';
import { allNodes } from '../support/nodes';


const USERS: FlowUser[] = [
  { id: 'alice', identity: 'alice', password: 'alice-pw', enabler: 'poc' },
  { id: 'bob', identity: 'bob', password: 'bob-pw', enabler: 'im' },
  { id: 'carol', identity: 'carol', password: 'carol-pw', enabler: 'cpm' },
];

const activeContacts = (m: any): string[] =>
  m.payload.registrations.flatMap((r: any) => r.contacts.filter((c: any) => c.state === 'active').map((c: any) => c.uri));

describe('integration: reg event against a real Kamailio', function () {
  this.timeout(60000);
  let kamailio: KamailioInstance | undefined;
  const cleanup: Array<() => Promise<void> | void> = [];

  const helper = useNodeRedHelper();
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
    await kamailio?.stop();
    kamailio = undefined;
  });

  async function setup(opts: { users: FlowUser[]; serverWatch?: boolean; clientWatch?: string; expires?: number; minExpires?: number }) {
    const serverPort = await freePort();
    kamailio = await startKamailio({ appServer: { host: '127.0.0.1', port: serverPort }, minExpires: opts.minExpires });
    const { flow, credentials } = labFlow({ corePort: kamailio.port, serverPort, withLabCore: false, users: opts.users });
    if (opts.clientWatch) {
      (flow.find((n) => n.id === `reg-${opts.clientWatch}`)!.wires as string[][])[0]!.push('re');
      flow.push({ id: 're', type: 'oma-reg-event', endpoint: 'ep-client', user: `user-${opts.clientWatch}`, expires: opts.expires ?? 600, subscribeOnStart: false, wires: [['re-out']] });
    }
    if (opts.serverWatch) {
      (flow.find((n) => n.id === 'tpr')!.wires as string[][])[0]!.push('re');
      flow.push({ id: 're', type: 'oma-reg-event', endpoint: 'ep-server', from: 'sip:poc-server@lab.test', expires: opts.expires ?? 600, wires: [['re-out']] });
    }
    flow.push({ id: 're-out', type: 'collect' });
    await helper.load(allNodes, flow, credentials);
    return { out: collected('re-out'), k: kamailio };
  }

  it('the client sees its own registration, and its de-registration as unregistered', async () => {
    const { out } = await setup({ users: [USERS[0]!], clientWatch: 'alice' });
    const reg = await collected('out-alice').event('registered');
    const up = await out.next((m) => m.payload.event === 'update' && activeContacts(m).length === 1);
    assert.deepEqual(activeContacts(up), [reg.payload.contact]);
    assert.equal(up.payload.aor, 'sip:alice@lab.test');
    assert.match(up.sip.headers['content-type'], /application\/reginfo\+xml/);
    await statusOf(helper.getNode('re'), (s) => s.fill === 'green', 3000, 'green');

    helper.getNode('reg-alice').receive({ payload: 'deregister' });
    const down = await out.next((m) => m.payload.event === 'update' && m.payload.changes.some((c: any) => c.kind === 'contact' && c.state === 'terminated'));
    const change = down.payload.changes.find((c: any) => c.kind === 'contact');
    assert.equal(change.uri, reg.payload.contact);
    assert.equal(change.event, 'unregistered');
    assert.ok(down.payload.changes.some((c: any) => c.kind === 'registration' && c.event === 'unregistered'));
    // The register node's "deregistered" output also un-subscribes.
    const end = await out.event('terminated');
    assert.equal(end.payload.subscription, 'terminated');
  });

  it('the server subscribes for each user from third-party REGISTER and keeps one subscription per user', async () => {
    const { out } = await setup({ users: USERS, serverWatch: true });
    const seen = new Set<string>();
    while (seen.size < 3) {
      const m = await out.next((x) => x.payload.event === 'update' && activeContacts(x).length > 0);
      seen.add(m.payload.aor);
    }
    assert.deepEqual([...seen].sort(), ['sip:alice@lab.test', 'sip:bob@lab.test', 'sip:carol@lab.test']);
    for (const u of USERS) helper.getNode(`reg-${u.id}`).receive({ payload: 'refresh' });
    const server = collected('tpr-out');
    for (let i = 0; i < 3; i++) await server.event('refreshed');
    await new Promise((r) => setTimeout(r, 500));
    const subscribed = out.received.filter((m) => m.payload.event === 'subscribed').map((m) => m.payload.aor);
    assert.deepEqual(subscribed.sort(), ['sip:alice@lab.test', 'sip:bob@lab.test', 'sip:carol@lab.test'], 'one subscription per user, none added by the refreshes');
    await statusOf(helper.getNode('re'), (s) => /3 active/.test(s.text ?? ''), 3000, '3 active');
  });

  it('refreshes the subscription inside its dialog before it expires', async () => {
    const { out } = await setup({ users: [USERS[0]!], clientWatch: 'alice', expires: 10 });
    await out.next((m) => m.payload.event === 'update' && activeContacts(m).length === 1);
    const sub = helper.getNode('re');
    // Past the first expiry (10 s): still active, and the refresh brought a NOTIFY in the same dialog.
    const again = await out.next((m) => m.payload.event === 'update', 9000);
    assert.ok(again);
    await new Promise((r) => setTimeout(r, 6000));
    const st = await statusOf(sub, (s) => s.fill === 'green', 1000, 'green after expiry time');
    assert.match(st.text ?? '', /active/);
    assert.equal(out.received.filter((m) => m.payload.event === 'terminated').length, 0);
  });

  it('reports a binding that expired without refresh', async () => {
    const serverPort = await freePort();
    kamailio = await startKamailio({ appServer: { host: '127.0.0.1', port: serverPort }, minExpires: 5 });
    // Bob registers outside Node-RED and never refreshes.
    const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, outboundProxy: { host: '127.0.0.1', port: kamailio.port } });
    await ep.start();
    cleanup.push(() => ep.close());
    const bob = new Registration(ep, {
      aor: 'sip:bob@lab.test', registrar: 'sip:lab.test', username: 'bob', password: 'bob-pw', contactUser: 'bob',
      profile: profileFor({ enabler: 'im' }), expires: 5,
    });
    await bob.register();
    bob.stop();
    const { flow, credentials } = labFlow({ corePort: kamailio.port, serverPort, withLabCore: false, users: [] });
    flow.push(
      { id: 're', type: 'oma-reg-event', endpoint: 'ep-server', from: 'sip:poc-server@lab.test', expires: 600, subscribeOnStart: false, wires: [['re-out']] },
      { id: 're-out', type: 'collect' },
    );
    await helper.load(allNodes, flow, credentials);
    const out = collected('re-out');
    helper.getNode('re').receive({ payload: { action: 'subscribe', aor: 'sip:bob@lab.test' } });
    await out.next((m) => m.payload.event === 'update' && activeContacts(m).length === 1);
    const expired = await out.next((m) => m.payload.event === 'update' && m.payload.changes.some((c: any) => c.kind === 'contact'), 20000);
    const c = expired.payload.changes.find((x: any) => x.kind === 'contact');
    assert.equal(c.state, 'terminated');
    assert.equal(c.event, 'expired');
    assert.equal(c.inferred, true, 'Kamailio leaves the contact out; the node infers it');
  });

  it('a restarted Kamailio forgets the binding; the client\'s own reg event says so and the client registers again within about a minute', async function () {
    this.timeout(120000);
    const serverPort = await freePort();
    kamailio = await startKamailio({ appServer: { host: '127.0.0.1', port: serverPort } });
    const port = kamailio.port;
    const { flow, credentials } = labFlow({ corePort: port, serverPort, withLabCore: false, users: [USERS[0]!] });
    // As in the reg event example 01: register -> reg event -> back to register, with a 60 s reg event expiry.
    (flow.find((n) => n.id === 'reg-alice')!.wires as string[][])[0]!.push('re');
    flow.push(
      { id: 're', type: 'oma-reg-event', endpoint: 'ep-client', user: 'user-alice', expires: 60, subscribeOnStart: false, wires: [['re-out', 'reg-alice']] },
      { id: 're-out', type: 'collect' },
    );
    await helper.load(allNodes, flow, credentials);
    const out = collected('re-out');
    const regOut = collected('out-alice');
    const first = await regOut.event('registered');
    await out.next((m) => m.payload.event === 'update' && activeContacts(m).length === 1);

    await kamailio.stop();
    kamailio = await startKamailio({ port, appServer: { host: '127.0.0.1', port: serverPort } });

    const lost = await out.next(
      (m) => m.payload.event === 'update' && m.payload.changes.some((c: any) => c.kind === 'contact' && c.state === 'terminated' && c.uri === first.payload.contact),
      75000, // the subscription's refresh at half of 60 s finds the restarted core
      'the reg event reporting the lost binding',
    );
    assert.ok(lost.payload.changes.some((c: any) => c.inferred === true));
    const back = await regOut.next((m) => m.payload.event === 'registered' || m.payload.event === 'refreshed', 20000, 'registered again');
    assert.ok(back.payload.bindings.includes(first.payload.contact), 'Kamailio lists our Contact again');
    await out.next((m) => m.payload.event === 'update' && activeContacts(m).includes(first.payload.contact), 20000, 'the reg event shows the binding again');
  });

  it('un-subscribes on input, and Kamailio ends the subscription', async () => {
    const { out } = await setup({ users: [USERS[0]!], clientWatch: 'alice' });
    await out.next((m) => m.payload.event === 'update' && activeContacts(m).length === 1);
    helper.getNode('re').receive({ payload: 'unsubscribe' });
    const end = await out.event('terminated');
    assert.equal(end.payload.reason, 'unsubscribed');
    await statusOf(helper.getNode('re'), (s) => s.fill === 'grey', 3000, 'grey: no subscription');
  });
});
