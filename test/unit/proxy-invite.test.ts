// The lab core as a stateful proxy for sessions (RFC 3261 16, 9, 13): INVITE
// between registered users with Record-Route, ACK and BYE along the route set,
// CANCEL, a 486, a MESSAGE for a provisioned user who is not registered (to
// the IM server), and the server's own INVITE passing without a challenge.
import assert from 'node:assert/strict';
import { DigestClient } from '../../lib/auth/digest-client';
import { LabCore } from '../../lib/labcore/lab-core';
import { decode } from '../../lib/sip/codec';
import type { IncomingRequest, SipEndpoint, WireEvent } from '../../lib/sip/endpoint';
import { InviteSession } from '../../lib/sip/invite-session';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { requestWithAuth } from '../../lib/auth/authenticated-request';
import { Events } from '../support/events';
import { FakeScheduler } from '../support/fake-scheduler';
import { answerInvites, ANSWER, inviteRequest, registerUser, statesOf } from '../support/invite-peers';
import { loopbackEndpoint, type Closers } from '../support/settings-client';
import { Queue } from '../support/settings-server-fake';
import { aliceMessageTo } from '../support/sip-builders';

const USERS = new Map([
  ['alice', 'alice-pw'],
  ['bob', 'bob-pw'],
  ['carol', 'carol-pw'],
]);

describe('lab core: INVITE, CANCEL, ACK, BYE and MESSAGE through the proxy', function () {
  this.timeout(20000);
  const closers: Closers = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function lab(scheduler?: FakeScheduler) {
    const serverEp = await loopbackEndpoint(closers);
    const coreEp = await loopbackEndpoint(closers);
    const core = new LabCore(coreEp, { domain: 'lab.test', users: USERS, settingsServerUri: serverEp.contactUri(), imServerUri: serverEp.contactUri(), scheduler });
    core.start();
    closers.push(() => core.stop());
    const alice = await loopbackEndpoint(closers, coreEp.port);
    const bob = await loopbackEndpoint(closers, coreEp.port);
    await registerUser(bob, 'bob', closers);
    await registerUser(alice, 'alice', closers);
    return { serverEp, coreEp, core, alice, bob };
  }

  function inviteTo(from: SipEndpoint, fromUser: string, toUser: string): SipRequest {
    return inviteRequest(from, `sip:${toUser}@lab.test`, `sip:${fromUser}@lab.test`);
  }

  function incomingWires(ep: SipEndpoint, method: string): Events<SipRequest> {
    const e = new Events<SipRequest>();
    ep.on('wire', (w: WireEvent) => {
      if (w.direction === 'in' && w.wire.startsWith(method + ' ')) e.push(decode(w.wire) as SipRequest);
    });
    return e;
  }

  it('challenges the INVITE, forwards it Record-Routed and asserted; ACK and BYE follow the route set through the core', async () => {
    const { coreEp, alice, bob } = await lab();
    const calls = answerInvites(bob);
    const acksAtBob = incomingWires(bob, 'ACK');
    const uac = new InviteSession(alice, { digest: new DigestClient({ username: 'alice', password: 'alice-pw' }) });
    const uacStates = statesOf(uac);
    const done = uac.invite(inviteTo(alice, 'alice', 'bob'));
    const uas = await calls.next();
    assert.deepEqual(uas.dialogState!.routeSet.map((r) => r.uri), [coreEp.contactUri() + ';lr'], "the core's Record-Route");
    uas.progress(180);
    await uacStates.next((e) => e.state === 'early');
    uas.accept({ sdp: ANSWER });
    const out = await done;
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [407, 200]);
    assert.equal(out.established, true);
    assert.deepEqual(uac.dialogState!.routeSet.map((r) => r.uri), [coreEp.contactUri() + ';lr'], 'the caller learnt the route set from the 2xx');

    const ack = await acksAtBob.next();
    assert.equal(ack.headers.via.length, 2, 'the ACK came through the core');
    assert.equal(ack.headers.via[0]!.port, coreEp.port);
    assert.equal(ack.headers.route, undefined, 'the core removed its own Route entry');
    if (uas.state !== 'confirmed') await statesOf(uas).next((e) => e.state === 'confirmed');

    const byes = incomingWires(alice, 'BYE');
    const bye = await uas.bye();
    assert.equal(bye?.response.status, 200, 'the BYE passed the core without a challenge (in dialog)');
    const seen = await byes.next();
    assert.equal(seen.headers.via[0]!.port, coreEp.port, 'the BYE came through the core');
    assert.equal((await uacStates.next((e) => e.state === 'terminated')).cause, 'remote-bye');
  });

  it('an in-dialog request that did not come along our route set is challenged, not relayed freely', async () => {
    const { alice, bob } = await lab();
    const bye = inviteTo(alice, 'alice', 'bob');
    bye.method = 'BYE';
    bye.uri = bob.contactUri('bob');
    bye.headers.cseq = { seq: 2, method: 'BYE' };
    bye.headers.to.params.tag = 'forged';
    bye.headers.from.params.tag = 'x';
    delete bye.content;
    delete bye.headers['content-type'];
    const res = await alice.request(bye);
    assert.equal(res.response.status, 407);
  });

  it('the INVITE as the callee sees it: asserted identity of alice, Request-URI its contact', async () => {
    const { alice, bob } = await lab();
    const invites = incomingWires(bob, 'INVITE');
    const acks = incomingWires(bob, 'ACK');
    const calls = answerInvites(bob);
    const uac = new InviteSession(alice, { digest: new DigestClient({ username: 'alice', password: 'alice-pw' }) });
    const done = uac.invite(inviteTo(alice, 'alice', 'bob'));
    (await calls.next()).reject(486);
    const out = await done;
    assert.equal(out.response.status, 486, "the callee's 486 reached the caller");
    const inv = await invites.next();
    assert.equal(headerText(inv, 'p-asserted-identity'), '<sip:alice@lab.test>');
    assert.equal(inv.uri, bob.contactUri('bob'));
    assert.equal(inv.headers['proxy-authorization'], undefined, "alice's credentials end at the core");
    const ack = await acks.next();
    assert.equal(ack.headers.via[0]!.params.branch, inv.headers.via[0]!.params.branch, "the core's own ACK for the 486, hop by hop");
  });

  it('a CANCEL from the caller cancels the forwarded INVITE; both sides end with 487', async () => {
    const { alice, bob } = await lab();
    const calls = answerInvites(bob);
    const uac = new InviteSession(alice, { digest: new DigestClient({ username: 'alice', password: 'alice-pw' }) });
    const uacStates = statesOf(uac);
    const done = uac.invite(inviteTo(alice, 'alice', 'bob'));
    const uas = await calls.next();
    const uasStates = statesOf(uas);
    uas.progress(180);
    await uacStates.next((e) => e.state === 'early');
    uac.cancel();
    const out = await done;
    assert.equal(out.response.status, 487);
    assert.equal(uac.state, 'terminated');
    assert.equal((await uasStates.next((e) => e.state === 'terminated')).cause, 'cancelled', 'the CANCEL reached the callee');
  });

  it('Timer C: an INVITE that rings for ever is cancelled downstream and answered 487 upstream', async () => {
    const clock = new FakeScheduler();
    const { alice, bob } = await lab(clock);
    const calls = answerInvites(bob);
    const uac = new InviteSession(alice, { digest: new DigestClient({ username: 'alice', password: 'alice-pw' }) });
    const uacStates = statesOf(uac);
    const done = uac.invite(inviteTo(alice, 'alice', 'bob'));
    const uas = await calls.next();
    const uasStates = statesOf(uas);
    uas.progress(180);
    await uacStates.next((e) => e.state === 'early');
    clock.advance(180_000);
    assert.equal((await uasStates.next((e) => e.state === 'terminated')).cause, 'cancelled', "the core's CANCEL reached the callee");
    const out = await done;
    assert.equal(out.response.status, 487);
  });

  it('a MESSAGE for a provisioned user who is not registered goes to the IM server; an unknown user gets 404', async () => {
    const { serverEp, alice } = await lab();
    const got = new Queue<IncomingRequest>();
    serverEp.addHandler((r) => {
      if (r.message.method !== 'MESSAGE') return false;
      got.push(r);
      r.respond(202);
      return true;
    });
    const digest = new DigestClient({ username: 'alice', password: 'alice-pw' });
    const message = (to: string) => (): SipRequest => aliceMessageTo(alice, to, 'for later');
    const out = await requestWithAuth({ ua: alice, digest, build: message('sip:carol@lab.test') });
    assert.equal(out.result.response.status, 202);
    const m = await got.next();
    assert.equal(m.message.uri, 'sip:carol@lab.test', 'the Request-URI stays the recipient identity');
    assert.equal(headerText(m.message, 'p-asserted-identity'), '<sip:alice@lab.test>');
    const none = await requestWithAuth({ ua: alice, digest, build: message('sip:nobody@lab.test') });
    assert.equal(none.result.response.status, 404);
  });

  it("the server's INVITE to a user passes unchallenged and keeps its identity", async () => {
    const { serverEp, coreEp, alice } = await lab();
    const calls = answerInvites(alice);
    const invites = incomingWires(alice, 'INVITE');
    const uac = new InviteSession(serverEp);
    const req = inviteTo(serverEp, 'im-server', 'alice');
    req.headers['p-asserted-identity'] = '<sip:bob@lab.test>';
    // The server has no outbound proxy: it names the core as its next hop, as an AS does.
    req.headers.route = [{ uri: coreEp.contactUri() + ';lr', params: {} }];
    const done = uac.invite(req);
    const uas = await calls.next();
    uas.accept({ sdp: ANSWER });
    const out = await done;
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [200]);
    assert.equal(headerText(await invites.next(), 'p-asserted-identity'), '<sip:bob@lab.test>');
    await uac.bye();
    assert.equal(uas.state, 'terminated');
  });
});
