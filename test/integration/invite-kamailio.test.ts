// Sessions through a real Kamailio: INVITE (challenged, Record-Routed,
// asserted) -> 200 -> ACK -> BYE between two registered users, a callee that
// answers 486, a MESSAGE for a provisioned user who is not registered going
// to the IM server, and the server's own INVITE passing unchallenged.
import assert from 'node:assert/strict';
import { requestWithAuth } from '../../lib/auth/authenticated-request';
import { DigestClient } from '../../lib/auth/digest-client';
import { decode } from '../../lib/sip/codec';
import type { IncomingRequest, SipEndpoint, WireEvent } from '../../lib/sip/endpoint';
import { InviteSession } from '../../lib/sip/invite-session';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { parseUri } from '../../lib/sip/uri';
import { Events } from '../support/events';
import { answerInvites, ANSWER, inviteRequest, registerUser, statesOf } from '../support/invite-peers';
import { startKamailio, type KamailioInstance } from '../support/kamailio';
import { loopbackEndpoint, type Closers } from '../support/settings-client';
import { Queue } from '../support/settings-server-fake';
import { aliceMessageTo } from '../support/sip-builders';

describe('integration: INVITE sessions and MESSAGE through a real Kamailio', function () {
  this.timeout(60000);
  const closers: Closers = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function lab(): Promise<{ k: KamailioInstance; server: SipEndpoint; alice: SipEndpoint; bob: SipEndpoint }> {
    const server = await loopbackEndpoint(closers);
    // The core sends third-party REGISTERs here; the server accepts them.
    server.addHandler((r) => (r.message.method === 'REGISTER' ? (r.respond(200, { headers: { expires: headerText(r.message, 'expires') ?? '0' } }), true) : false));
    const k = await startKamailio({ appServer: { host: '127.0.0.1', port: server.port } });
    closers.push(() => k.stop());
    const alice = await loopbackEndpoint(closers, k.port);
    const bob = await loopbackEndpoint(closers, k.port);
    await registerUser(alice, 'alice', closers);
    await registerUser(bob, 'bob', closers);
    return { k, server, alice, bob };
  }

  function incoming(ep: SipEndpoint, method: string): Events<SipRequest> {
    const e = new Events<SipRequest>();
    ep.on('wire', (w: WireEvent) => {
      if (w.direction === 'in' && w.wire.startsWith(method + ' ')) e.push(decode(w.wire) as SipRequest);
    });
    return e;
  }

  const aliceDigest = () => new DigestClient({ username: 'alice', password: 'alice-pw' });

  it('INVITE -> 200 -> ACK -> BYE between alice and bob, Record-Routed by the core', async () => {
    const { k, alice, bob } = await lab();
    const calls = answerInvites(bob);
    const invites = incoming(bob, 'INVITE');
    const acks = incoming(bob, 'ACK');
    const uac = new InviteSession(alice, { digest: aliceDigest() });
    const uacStates = statesOf(uac);
    const done = uac.invite(inviteRequest(alice, 'sip:bob@lab.test'));
    const uas = await calls.next();
    uas.progress(180);
    await uacStates.next((e) => e.state === 'early');
    uas.accept({ sdp: ANSWER });
    const out = await done;
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [407, 200], k.log().slice(-3000));
    assert.equal(out.established, true);

    const inv = await invites.next();
    assert.equal(headerText(inv, 'p-asserted-identity'), '<sip:alice@lab.test>', 'the core asserted alice');
    assert.equal(inv.uri, bob.contactUri('bob'), "Request-URI rewritten to bob's contact");
    const rr = parseUri(inv.headers['record-route']?.[0]?.uri ?? '');
    assert.equal(rr?.port, k.port, "the core's Record-Route");
    assert.equal(uac.dialogState?.routeSet.length, 1, 'alice routes in-dialog requests through the core');

    const ack = await acks.next();
    assert.equal(ack.headers.via[1]?.port, alice.port, "the ACK is alice's, loose-routed end to end");
    assert.equal(ack.headers.via[0]?.port, k.port);

    const byes = incoming(alice, 'BYE');
    const bye = await uas.bye();
    assert.equal(bye?.response.status, 200);
    assert.equal((await byes.next()).headers.via[0]?.port, k.port, 'the BYE came through the core');
    assert.equal((await uacStates.next((e) => e.state === 'terminated')).cause, 'remote-bye');
  });

  it('a callee that answers 486: the caller gets 486, the session ends rejected', async () => {
    const { alice, bob } = await lab();
    const calls = answerInvites(bob);
    const uac = new InviteSession(alice, { digest: aliceDigest() });
    const done = uac.invite(inviteRequest(alice, 'sip:bob@lab.test'));
    const uas = await calls.next();
    uas.reject(486);
    const out = await done;
    assert.equal(out.response.status, 486);
    assert.equal(out.established, false);
    assert.equal(uac.state, 'terminated');
    assert.equal(uas.state, 'terminated');
  });

  it('a MESSAGE for a provisioned user who is not registered goes to the IM server; unknown users get 404', async () => {
    const { server, alice } = await lab();
    const got = new Queue<IncomingRequest>();
    server.addHandler((r) => {
      if (r.message.method !== 'MESSAGE') return false;
      got.push(r);
      r.respond(202);
      return true;
    });
    const digest = aliceDigest();
    const out = await requestWithAuth({ ua: alice, digest, build: () => aliceMessageTo(alice, 'sip:carol@lab.test', 'while you were away') });
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [407, 202]);
    const m = await got.next();
    assert.equal(m.message.uri, 'sip:carol@lab.test', 'the Request-URI stays the recipient identity');
    assert.equal(headerText(m.message, 'p-asserted-identity'), '<sip:alice@lab.test>');
    assert.equal(m.message.content, 'while you were away');
    const none = await requestWithAuth({ ua: alice, digest, build: () => aliceMessageTo(alice, 'sip:nobody@lab.test', 'x') });
    assert.equal(none.result.response.status, 404);

    // Addressed to the server itself: relayed there, asserted too.
    const direct = await requestWithAuth({ ua: alice, digest, build: () => aliceMessageTo(alice, server.contactUri(), 'to the server') });
    assert.equal(direct.result.response.status, 202);
    const d = await got.next();
    assert.equal(d.message.content, 'to the server');
    assert.equal(headerText(d.message, 'p-asserted-identity'), '<sip:alice@lab.test>');
  });

  it("the server's INVITE to a registered user passes unchallenged", async () => {
    const { k, server, alice } = await lab();
    const calls = answerInvites(alice);
    const uac = new InviteSession(server);
    const req = inviteRequest(server, 'sip:alice@lab.test', `sip:${server.hostPort}`);
    req.headers.route = [{ uri: `sip:127.0.0.1:${k.port};lr`, params: {} }];
    const done = uac.invite(req);
    const uas = await calls.next();
    uas.accept({ sdp: ANSWER });
    const out = await done;
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [200]);
    const bye = await uac.bye();
    assert.equal(bye?.response.status, 200);
    assert.equal(uas.state, 'terminated');
  });
});
