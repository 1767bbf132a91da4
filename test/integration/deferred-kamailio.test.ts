// Deferred messages as a user meets them, through a real Kamailio and no lab
// core: bob (registered with Kamailio) writes to alice, who is not
// registered; Kamailio hands the MESSAGE to the server (terminating
// unregistered), which keeps it (202). alice registers and publishes her IM
// settings through Kamailio; with offline delivery active the server's
// delivery INVITE goes through Kamailio to her inbox and the message comes
// over MSRP; with it off her inbox fetches the list (SUBSCRIBE to the
// deferred-messages package, Expires 0) through Kamailio. A callee that
// answers 486 leaves the message stored. The stories are the lab core's
// (test/nodes/deferred.test.ts); here Kamailio is the core.
import assert from 'node:assert/strict';
import { statusOf } from '../support/collect';
import { ALICE, bobWrites, deferredFlow, deferredLab, deliveredOnReturn, fetchedWhileOff } from '../support/deferred-flow';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { answerInvites, registerUser } from '../support/invite-peers';
import { startKamailio, type KamailioInstance } from '../support/kamailio';
import { allNodes } from '../support/nodes';
import { loopbackEndpoint, type Closers } from '../support/settings-client';

describe('integration: deferred messages through a real Kamailio', function () {
  this.timeout(90000);
  const helper = useNodeRedHelper();
  const closers: Closers = [];
  afterEach(async () => {
    await helper.unload();
    for (const c of closers.splice(0).reverse()) await c();
  });

  /** Kamailio, the flow pointed at it (no lab core), and bob registered with Kamailio. */
  async function start(offlineDelivery: 'true' | 'false', transport: 'udp' | 'tcp' = 'udp', apart = false) {
    const serverPort = await freePort();
    const imServerPort = apart ? await freePort() : undefined;
    const imServer = imServerPort === undefined ? undefined : { host: '127.0.0.1', port: imServerPort, transport };
    const k = await startKamailio({ appServer: { host: '127.0.0.1', port: serverPort, transport }, imServer });
    closers.push(() => k.stop());
    const { flow, credentials } = deferredFlow({ corePort: k.port, serverPort, withLabCore: false, offlineDelivery, transport, imServerPort });
    await helper.load(allNodes, flow, credentials);
    const bob = await loopbackEndpoint(closers, k.port, transport);
    await registerUser(bob, 'bob', closers);
    return { k, lab: deferredLab(helper, bob) };
  }

  /** A header naming this Kamailio as a loose-routing hop. */
  const hop = (k: KamailioInstance, header: string) => new RegExp(`^${header}: <sip:127\\.0\\.0\\.1:${k.port};lr`, 'm');

  it('keeps bob’s MESSAGE for the unregistered alice (202) and delivers it over INVITE and MSRP once she publishes offline delivery active', async () => {
    const { k, lab } = await start('true');
    const session = await deliveredOnReturn(lab);
    // The session went through Kamailio: it Record-Routed the INVITE, and the BYE followed that route.
    const exchange = session.sip.exchange as { method: string; status?: number; raw: string }[];
    assert.deepEqual(exchange.map((x) => `${x.method} ${x.status ?? ''}`.trim()), ['INVITE', 'INVITE 200', 'BYE', 'BYE 200']);
    assert.match(exchange[1]!.raw, hop(k, 'Record-Route'), "Kamailio's Record-Route in the 200");
    assert.match(exchange[2]!.raw, hop(k, 'Route'), 'the BYE routed through Kamailio');
    // Nothing is left to fetch.
    lab.node('inbox').receive({ payload: 'fetch' });
    const list = await lab.inboxOut.event('waiting', 30000);
    assert.deepEqual(list.payload.messages, []);
  });

  // Over TCP the server's requests reach Kamailio from a fresh port of its own
  // connection: Kamailio must still know its delivery INVITE as the server's
  // (and not challenge it, 407), as it does over UDP.
  it('over TCP too: the delivery INVITE passes Kamailio as the server’s and the message reaches the inbox', async () => {
    const { lab } = await start('true', 'tcp');
    const session = await deliveredOnReturn(lab);
    assert.match(session.sip.exchange[0].raw, /^INVITE [^\r\n]*\r\nVia: SIP\/2\.0\/TCP /, 'the INVITE went over TCP');
  });

  // kamailio.cfg's IM_URI names an IM server apart from the settings server:
  // the deliver node on its own endpoint gets the MESSAGEs for unregistered
  // users and the deferred-messages SUBSCRIBEs, and its delivery INVITE passes
  // Kamailio as a server's (not challenged, 407).
  it('an IM server apart from the settings server keeps bob’s MESSAGE and delivers it', async () => {
    await deliveredOnReturn((await start('true', 'udp', true)).lab);
  });

  it('an IM server apart from the settings server answers the inbox’s fetch', async () => {
    await fetchedWhileOff((await start('false', 'udp', true)).lab);
  });

  it('with offline delivery off pushes nothing, and the inbox’s fetch through Kamailio lists the waiting message', async () => {
    const { k, lab } = await start('false');
    const list = await fetchedWhileOff(lab);
    assert.match(list.sip.raw, new RegExp(`^Via: SIP/2\\.0/UDP 127\\.0\\.0\\.1:${k.port};`, 'm'), 'the NOTIFY came through Kamailio');
  });

  it('a callee that answers 486 to the delivery INVITE leaves the message stored', async () => {
    const { k, lab } = await start('true');
    assert.equal(await bobWrites(lab.bob, 'are you there?'), 202);
    const stored = await lab.deliverOut.event('stored');
    // alice's other client, busy: registered with Kamailio (IM tag), answers every INVITE 486.
    const busy = await loopbackEndpoint(closers, k.port);
    const calls = answerInvites(busy);
    await registerUser(busy, 'alice', closers);

    lab.node('deliver').receive({ topic: 'retry', payload: { action: 'deliver', aor: ALICE } });
    (await calls.next()).reject(486);
    const session = await lab.deliverOut.event('session', 30000);
    assert.equal(session.topic, 'retry');
    assert.equal(session.payload.outcome, 'failed', JSON.stringify(session.payload));
    assert.equal(session.payload.status, 486);
    assert.equal(session.payload.remaining, 1);
    await statusOf(lab.node('deliver'), (s) => s.text === '1 waiting for 1 user', 5000, 'still waiting');
    lab.node('inbox').receive({ payload: 'fetch' });
    const list = await lab.inboxOut.event('waiting', 30000);
    assert.deepEqual(list.payload.messages.map((m: any) => m.id), [stored.payload.id], 'the message still waits');
  });
});
