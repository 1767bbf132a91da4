// Talks to a real SIP core: the registration slice against Kamailio started by
// the suite (test/kamailio/kamailio.cfg), through the Node-RED nodes.
import assert from 'node:assert/strict';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { collected, statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { startKamailio, type KamailioInstance } from '../support/kamailio';
import { labFlow, type FlowUser } from '../support/lab-flow';
import { allNodes } from '../support/nodes';


const USERS: FlowUser[] = [
  { id: 'alice', identity: 'alice', password: 'alice-pw', enabler: 'poc' },
  { id: 'bob', identity: 'bob', password: 'bob-pw', enabler: 'im' },
  { id: 'carol', identity: 'carol', password: 'carol-pw', enabler: 'cpm', displayName: 'Carol' },
];

const sentOf = (m: any) => m.sip.exchange.filter((x: any) => x.direction === 'out').at(-1);

describe('integration: registration against a real Kamailio', function () {
  this.timeout(60000);
  let kamailio: KamailioInstance | undefined;
  let serverPort = 0;

  const helper = useNodeRedHelper();
  afterEach(async () => {
    await kamailio?.stop();
    kamailio = undefined;
  });

  async function core(opts: { minExpires?: number; reginfo?: boolean } = {}) {
    serverPort = await freePort();
    kamailio = await startKamailio({ appServer: { host: '127.0.0.1', port: serverPort }, ...opts });
    return kamailio;
  }

  for (const transport of ['udp', 'tcp'] as const) {
    it(`registers PoC, IM and CPM clients over ${transport.toUpperCase()}; the server gets their third-party REGISTERs`, async () => {
      const k = await core();
      const { flow, credentials } = labFlow({ transport, corePort: k.port, serverPort, withLabCore: false, users: USERS });
      await helper.load(allNodes, flow, credentials);
      const server = collected('tpr-out');
      const clientContacts = new Map<string, string>();
      for (const u of USERS) {
        const m = await collected(`out-${u.id}`).event('registered');
        clientContacts.set(m.payload.aor, m.payload.contact);
        assert.equal(m.payload.expires, 3600);
        assert.equal(m.sip.exchange[1].status, 401, 'Kamailio challenged the first REGISTER');
        assert.match(m.sip.exchange[1].headers['www-authenticate'], /realm="lab\.test"/);
        assert.match(m.sip.raw, /^SIP\/2\.0 200 OK\r\n/);
        assert.ok(m.payload.bindings.includes(m.payload.contact), 'our Contact is among the bindings Kamailio lists');
        if (transport === 'tcp') assert.match(m.payload.contact, /;transport=tcp$/);
        await statusOf(helper.getNode(`reg-${u.id}`), (s) => s.fill === 'green', 3000, 'green');
      }
      const users = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const m = await server.event('registered');
        users.add(m.payload.user);
        assert.equal(m.payload.expires, 3600, 'the server answers with the Expires it got');
        // Kamailio includes the client's REGISTER as message/sip: the server reads the client's own Contact and tags.
        assert.match(m.sip.headers['content-type'], /^message\/sip/);
        assert.equal(m.payload.contact, clientContacts.get(m.payload.user));
        assert.ok(m.payload.featureTags.length > 0, 'the client\'s feature tags');
      }
      assert.deepEqual([...users].sort(), ['sip:alice@lab.test', 'sip:bob@lab.test', 'sip:carol@lab.test']);
    });
  }

  it('sends what Kamailio needs for CPM and gets GRUUs back', async () => {
    const k = await core();
    const { flow, credentials } = labFlow({ corePort: k.port, serverPort, withLabCore: false, users: [USERS[2]!] });
    await helper.load(allNodes, flow, credentials);
    const m = await collected('out-carol').event('registered');
    assert.match(sentOf(m).headers.contact, /\+sip\.instance="<urn:uuid:/);
    assert.equal(sentOf(m).headers.require, 'gruu');
    assert.match(m.payload.gruu.public ?? '', /^sip:carol@lab\.test;gr=urn:uuid:/);
    assert.ok(m.payload.gruu.temporary, 'a temporary GRUU');
  });

  it('refreshes before expiry (half of a short interval)', async () => {
    const k = await core({ minExpires: 10 });
    const { flow, credentials } = labFlow({ corePort: k.port, serverPort, withLabCore: false, users: [{ ...USERS[0]!, expires: 10 }] });
    await helper.load(allNodes, flow, credentials);
    const out = collected('out-alice');
    const first = await out.event('registered');
    assert.equal(first.payload.expires, 10);
    const refreshed = await out.event('refreshed', 9000);
    assert.equal(refreshed.payload.expires, 10);
    assert.equal(refreshed.sip.callId, first.sip.callId, 'same Call-ID');
    assert.ok(refreshed.sip.cseq > first.sip.cseq, 'higher CSeq');
    // The refresh signs with the last nonce and nc=2, and Kamailio accepts it without a new challenge.
    assert.deepEqual(refreshed.sip.exchange.map((x: any) => x.status ?? x.method), ['REGISTER', 200]);
    assert.match(refreshed.sip.exchange[0].headers.authorization, /nc=00000002/);
    await collected('tpr-out').event('refreshed', 3000);
  });

  it('retries with Min-Expires after 423 Interval Too Brief', async () => {
    const k = await core({ minExpires: 120 });
    const { flow, credentials } = labFlow({ corePort: k.port, serverPort, withLabCore: false, users: [{ ...USERS[0]!, expires: 60 }] });
    await helper.load(allNodes, flow, credentials);
    const m = await collected('out-alice').event('registered');
    assert.ok(m.sip.exchange.some((x: any) => x.status === 423), 'Kamailio answered 423 first');
    assert.equal(m.payload.expires, 120);
  });

  it('de-registers both ways: without the feature tag (stays on the core), then Expires 0', async () => {
    const k = await core();
    const { flow, credentials } = labFlow({ corePort: k.port, serverPort, withLabCore: false, users: [USERS[0]!] });
    await helper.load(allNodes, flow, credentials);
    const out = collected('out-alice');
    const server = collected('tpr-out');
    await out.event('registered');
    await server.event('registered');

    helper.getNode('reg-alice').receive({ payload: 'deregister-service' });
    const svc = await out.event('service-deregistered');
    assert.doesNotMatch(sentOf(svc).headers.contact, /talkburst/);
    assert.ok(svc.payload.bindings.includes(svc.payload.contact), 'still bound at the core');
    assert.equal((await server.event('deregistered')).payload.expires, 0, 'the server hears the service is gone');

    helper.getNode('reg-alice').receive({ payload: 'register' });
    await out.event('registered');
    await server.event('registered');
    helper.getNode('reg-alice').receive({ payload: 'deregister' });
    const gone = await out.event('deregistered');
    assert.equal(sentOf(gone).headers.expires, '0');
    assert.ok(!gone.payload.bindings.includes(gone.payload.contact), 'Kamailio no longer lists our Contact');
    await server.event('deregistered');
  });

  it('says "wrong password" in red and stops; Node-RED stays up', async () => {
    const k = await core();
    const { flow, credentials } = labFlow({ corePort: k.port, serverPort, withLabCore: false, users: [{ ...USERS[0]!, password: 'nope' }, USERS[1]!] });
    await helper.load(allNodes, flow, credentials);
    const bad = await collected('out-alice').event('failed');
    assert.match(bad.payload.error, /wrong password for alice/);
    assert.equal(bad.payload.nextAttemptAt, undefined, 'no retry');
    const st = await statusOf(helper.getNode('reg-alice'), (s) => s.fill === 'red', 3000, 'red');
    assert.match(st.text ?? '', /wrong password/);
    // The rest of the flow works on.
    await collected('out-bob').event('registered');
  });

  it('shows a core that goes away in red, keeps trying with back-off, and recovers when it comes back', async () => {
    const k = await core({ minExpires: 10 });
    const port = k.port;
    const { flow, credentials } = labFlow({ corePort: port, serverPort, withLabCore: false, users: [{ ...USERS[0]!, expires: 10 }], t1: 25 });
    await helper.load(allNodes, flow, credentials);
    const out = collected('out-alice');
    await out.event('registered');
    await k.stop();
    kamailio = undefined;
    // The refresh at 5 s finds nobody (64*T1 = 1.6 s here).
    const down = await out.event('failed', 12000);
    assert.match(down.payload.error, /no answer from the core/);
    assert.ok(down.payload.nextAttemptAt, 'a retry is scheduled');
    await statusOf(helper.getNode('reg-alice'), (s) => s.fill === 'red', 3000, 'red');
    kamailio = await startKamailio({ port, minExpires: 10, appServer: { host: '127.0.0.1', port: serverPort } });
    const back = await out.event('registered', 20000);
    assert.equal(back.payload.failures, 0);
  });
});
