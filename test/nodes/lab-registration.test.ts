// The registration slice as a user sees it, all inside Node-RED: a lab core,
// PoC/IM/CPM clients and the server, over UDP and TCP.
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
  { id: 'bob', identity: 'sip:bob@lab.test', password: 'bob-pw', enabler: 'im' },
  { id: 'carol', identity: 'carol@lab.test', password: 'carol-pw', enabler: 'cpm', displayName: 'Carol CPM' },
];

describe('nodes: registration against the lab core node', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();

  for (const transport of ['udp', 'tcp'] as const) {
    it(`registers PoC, IM and CPM clients over ${transport.toUpperCase()}, and the server sees third-party REGISTERs`, async () => {
      const corePort = await freePort();
      const serverPort = await freePort();
      const { flow, credentials } = labFlow({ transport, corePort, serverPort, withLabCore: true, users: USERS });
      await helper.load(allNodes, flow, credentials);
      const server = collected('tpr-out');
      const outs = Object.fromEntries(USERS.map((u) => [u.id, collected(`out-${u.id}`)]));

      const clientContacts = new Map<string, string>();
      for (const u of USERS) {
        const msg = await outs[u.id]!.event('registered');
        clientContacts.set(msg.payload.aor, msg.payload.contact);
        assert.equal(msg.payload.state, 'registered');
        assert.equal(msg.payload.expires, 3600);
        assert.ok(msg.sip.exchange.length >= 4, 'REGISTER, 401, REGISTER, 200');
        assert.equal(msg.sip.exchange[1].status, 401);
        assert.equal(msg.sip.status, 200);
        assert.match(msg.sip.raw, /^SIP\/2\.0 200 OK\r\n/);
        if (transport === 'tcp') assert.match(msg.payload.contact, /;transport=tcp$/);
      }

      const seen = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const m = await server.event('registered');
        seen.add(m.payload.user);
        assert.equal(m.payload.expires, 3600);
        assert.equal(m.payload.core, `sip:127.0.0.1:${corePort}${transport === 'tcp' ? ';transport=tcp' : ''}`, 'From is the core as it listens');
        // The lab core includes the client's REGISTER (message/sip): the server sees the client's own Contact and tags.
        assert.equal(m.payload.contact, clientContacts.get(m.payload.user));
        assert.ok(m.payload.featureTags.some((t: string) => ['+g.poc.talkburst', '+g.oma.sip-im', '+g.3gpp.icsi-ref'].includes(t)));
        assert.doesNotMatch(m.sip.raw, /Authorization/i, "the client's credentials stay with the core");
        assert.match(m.sip.raw, /^REGISTER sip:127\.0\.0\.1:\d+/);
      }
      assert.deepEqual([...seen].sort(), ['sip:alice@lab.test', 'sip:bob@lab.test', 'sip:carol@lab.test']);
    });
  }

  it('sends the enabler headers on the wire and reports the CPM GRUUs', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: true, users: USERS });
    await helper.load(allNodes, flow, credentials);
    const outs = Object.fromEntries(USERS.map((u) => [u.id, collected(`out-${u.id}`)]));
    const poc = await outs.alice!.event('registered');
    const im = await outs.bob!.event('registered');
    const cpm = await outs.carol!.event('registered');
    const sentOf = (m: any) => m.sip.exchange.filter((x: any) => x.direction === 'out').at(-1);
    assert.match(sentOf(poc).headers.contact, /;\+g\.poc\.talkburst/);
    assert.equal(sentOf(poc).headers['user-agent'], 'PoC-client/OMA2.0');
    assert.match(sentOf(im).headers.contact, /\+g\.oma\.sip-im;\+g\.oma\.sip-im\.system-message;\+g\.oma\.sip-im\.large-message/);
    assert.equal(sentOf(im).headers.require, 'pref');
    assert.match(sentOf(cpm).headers.contact, /^"Carol CPM" <sip:carol@/);
    assert.match(sentOf(cpm).headers.contact, /\+g\.3gpp\.icsi-ref="urn%3Aurn-7%3A3gpp-service\.ims\.icsi\.oma\.cpm\.session,/);
    assert.match(sentOf(cpm).headers.contact, /\+sip\.instance="<urn:uuid:[0-9a-f-]{36}>"/);
    assert.equal(sentOf(cpm).headers.supported, 'gruu');
    assert.equal(sentOf(cpm).headers.require, 'gruu');
    assert.match(cpm.payload.gruu.public, /^sip:carol@lab\.test;gr=urn:uuid:/);
    assert.match(cpm.payload.gruu.temporary, /^sip:tgruu\./);
    assert.deepEqual(cpm.payload.associatedUris, ['sip:carol@lab.test']);
  });

  it('de-registers both ways on input, and the server sees the user leave', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: true, users: [USERS[0]!] });
    await helper.load(allNodes, flow, credentials);
    const out = collected('out-alice');
    const server = collected('tpr-out');
    await out.event('registered');
    await server.event('registered');

    helper.getNode('reg-alice').receive({ payload: 'deregister-service' });
    const svc = await out.event('service-deregistered');
    assert.equal(svc.payload.state, 'core-only');
    assert.equal(svc.payload.services, false);
    assert.doesNotMatch(svc.sip.exchange.filter((x: any) => x.direction === 'out').at(-1).headers.contact, /talkburst/);
    await server.event('deregistered'); // the core stops telling the server once the tag is gone

    helper.getNode('reg-alice').receive({ payload: 'register' });
    await out.event('registered');
    await server.event('registered');

    helper.getNode('reg-alice').receive({ payload: 'deregister' });
    const gone = await out.event('deregistered');
    assert.equal(gone.payload.state, 'unregistered');
    assert.equal(gone.sip.exchange.filter((x: any) => x.direction === 'out').at(-1).headers.expires, '0');
    const left = await server.event('deregistered');
    assert.equal(left.payload.expires, 0);
  });

  it('refreshes at half of a short expiry, and retries with Min-Expires after 423', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({
      corePort,
      serverPort,
      withLabCore: true,
      minExpires: 4,
      users: [
        { ...USERS[0]!, expires: 4 },
        { ...USERS[1]!, expires: 2 },
      ],
    });
    await helper.load(allNodes, flow, credentials);
    const alice = collected('out-alice');
    const bobOut = collected('out-bob');
    const server = collected('tpr-out');
    const first = await alice.event('registered');
    assert.equal(first.payload.expires, 4);
    const again = await alice.event('refreshed', 4000);
    assert.equal(again.sip.callId, first.sip.callId);
    assert.ok(again.sip.cseq > first.sip.cseq);
    await server.event('refreshed', 2000);

    const bob = await bobOut.event('registered');
    assert.ok(bob.sip.exchange.some((x: any) => x.status === 423 && x.headers['min-expires'] === '4'));
    assert.equal(bob.payload.expires, 4);
  });

  it('registers a list of users through one node from input messages', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({
      corePort,
      serverPort,
      withLabCore: true,
      users: [{ ...USERS[0]!, registerOnStart: false }],
      coreUsers: Array.from({ length: 20 }, (_, i) => `u${i}:pw${i}`).join('\n'),
    });
    await helper.load(allNodes, flow, credentials);
    const out = collected('out-alice');
    const reg = helper.getNode('reg-alice');
    for (let i = 0; i < 20; i++) reg.receive({ payload: { identity: `u${i}`, password: `pw${i}` } });
    const aors = new Set<string>();
    for (let i = 0; i < 20; i++) aors.add((await out.event('registered')).payload.aor);
    assert.equal(aors.size, 20);
    await statusOf(reg, (s) => s.fill === 'green' && /^20 of 20 registered$/.test(s.text ?? ''), 5000, '20 of 20 registered');
  });

  it('shows a wrong password as a red status with a clear error, without retrying', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({
      corePort,
      serverPort,
      withLabCore: true,
      users: [{ ...USERS[0]!, password: 'wrong' }],
    });
    await helper.load(allNodes, flow, credentials);
    const reg = helper.getNode('reg-alice');
    const errors: string[] = [];
    reg.on('call:error', (c: { args: unknown[] }) => errors.push(String(c.args[0])));
    const out = collected('out-alice');
    const failedMsg = await out.event('failed');
    assert.match(failedMsg.payload.error, /wrong password for alice/);
    assert.equal(failedMsg.payload.nextAttemptAt, undefined);
    const st = await statusOf(reg, (s) => s.fill === 'red', 2000, 'red status');
    assert.equal(st.shape, 'ring');
    assert.match(st.text ?? '', /wrong password/);
    assert.ok(errors.some((e) => /wrong password/.test(e)), `node.error was called: ${errors}`);
  });

  it('keeps Node-RED up and says why when the core is not there, and recovers when it comes', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: false, users: [USERS[0]!], t1: 20 });
    await helper.load(allNodes, flow, credentials);
    const reg = helper.getNode('reg-alice');
    const out = collected('out-alice');
    const failedMsg = await out.event('failed', 8000);
    assert.match(failedMsg.payload.error, /no answer from the core/);
    assert.ok(failedMsg.payload.nextAttemptAt, 'a retry is scheduled');
    await statusOf(reg, (s) => s.fill === 'red' && /no answer/.test(s.text ?? ''), 2000, 'red status');

    // The core comes up; the next retry (2.5-5 s after the first failure) registers.
    const coreEndpoint = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: corePort });
    await coreEndpoint.start();
    const core = new LabCore(coreEndpoint, { domain: 'lab.test', users: new Map([['alice', 'alice-pw']]) });
    core.start();
    try {
      const ok = await out.event('registered', 12000);
      assert.equal(ok.payload.failures, 0);
      await statusOf(reg, (s) => s.fill === 'green', 2000, 'green status');
    } finally {
      await core.stop();
      await coreEndpoint.close();
    }
  });

  it('de-registers when the flow stops, so the core holds no stale binding', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const coreEndpoint = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: corePort });
    await coreEndpoint.start();
    const core = new LabCore(coreEndpoint, { domain: 'lab.test', users: new Map([['alice', 'alice-pw']]) });
    const events: string[] = [];
    core.on('binding', (b: { event: string }) => events.push(b.event));
    core.start();
    try {
      const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: false, users: [USERS[0]!] });
      await helper.load(allNodes, flow, credentials);
      await collected('out-alice').event('registered');
      assert.equal(core.location.lookup('sip:alice@lab.test').length, 1);
      await helper.unload();
      assert.deepEqual(events, ['registered', 'unregistered']);
      assert.equal(core.location.lookup('sip:alice@lab.test').length, 0);
    } finally {
      await core.stop();
      await coreEndpoint.close();
    }
  });

  it('reports a busy port on the endpoint as a red status on the nodes that use it', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: true, users: [USERS[0]!] });
    // A second core endpoint on the same port as the first one.
    flow.push(
      { id: 'ep-dup', type: 'oma-sip-endpoint', transport: 'udp', address: '127.0.0.1', port: corePort, coreHost: '', domain: 'lab.test' },
      { id: 'core-dup', type: 'oma-lab-core', endpoint: 'ep-dup', wires: [[]] },
    );
    credentials['core-dup'] = { users: 'x:y' };
    await helper.load(allNodes, flow, credentials);
    const red = await Promise.any([
      statusOf(helper.getNode('core'), (s) => s.fill === 'red', 3000, 'red'),
      statusOf(helper.getNode('core-dup'), (s) => s.fill === 'red', 3000, 'red'),
    ]);
    assert.match(red.text ?? '', /already in use/);
  });
});
