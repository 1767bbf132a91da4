// INVITE sessions between two endpoints on loopback (RFC 3261 13-15, 9,
// RFC 3311): setup with early dialog, ACK for 2xx end to end, CANCEL,
// rejection, re-INVITE, UPDATE and BYE.
import assert from 'node:assert/strict';
import { decode, encode } from '../../lib/sip/codec';
import { SipEndpoint, type WireEvent } from '../../lib/sip/endpoint';
import { InviteSession, type RefreshEvent } from '../../lib/sip/invite-session';
import type { SipRequest } from '../../lib/sip/message';
import { makeResponse } from '../../lib/sip/responses';
import { answerInvites, ANSWER, inviteRequest, OFFER, statesOf } from '../support/invite-peers';
import { FakeScheduler } from '../support/fake-scheduler';
import { RawUdpPeer } from '../support/raw-peer';
import { loopbackEndpoint, type Closers } from '../support/settings-client';
import { waitFor } from '../support/wait';

describe('INVITE session (RFC 3261 13-15, RFC 3311)', function () {
  this.timeout(20000);
  const closers: Closers = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function pair() {
    const alice = await loopbackEndpoint(closers);
    const bob = await loopbackEndpoint(closers);
    return { alice, bob, incoming: answerInvites(bob) };
  }

  it('sets up a session: 100, 180 with early dialog, 200 with SDP, ACK on a new branch; then re-INVITE, UPDATE and BYE from the callee', async () => {
    const { alice, bob, incoming } = await pair();
    const uac = new InviteSession(alice);
    const uacStates = statesOf(uac);
    const provisional: number[] = [];
    const acks: SipRequest[] = [];
    bob.on('wire', (w: WireEvent) => {
      if (w.direction === 'in' && w.wire.startsWith('ACK ')) acks.push(decode(w.wire) as SipRequest);
    });
    const done = uac.invite(inviteRequest(alice, bob), { onProvisional: (r) => provisional.push(r.status) });
    const uas = await incoming.next();
    const uasStates = statesOf(uas);
    assert.equal(uas.remoteSdp, OFFER);
    uas.progress(180);
    await uacStates.next((e) => e.state === 'early');
    assert.equal(uac.dialogState?.remoteTag, uas.dialogState?.localTag, 'early dialog with the callee tag');
    uas.accept({ sdp: ANSWER });
    const out = await done;
    assert.equal(out.established, true);
    assert.deepEqual(provisional, [100, 180]);
    assert.equal(uac.state, 'confirmed');
    assert.equal(uac.remoteSdp, ANSWER);
    await uasStates.next((e) => e.cause === 'acknowledged');
    assert.equal(uas.state, 'confirmed');
    assert.deepEqual(uasStates.seen.map((e) => e.state), ['early', 'accepted', 'confirmed']);
    assert.deepEqual(uacStates.seen.map((e) => `${e.state}/${e.cause}`), ['calling/invite', 'early/provisional', 'confirmed/answered']);
    const answered = uacStates.seen[2]!;
    assert.ok(answered.exchange?.requestWire.startsWith('INVITE '), 'the INVITE wire for msg.sip');
    assert.ok(answered.exchange?.responseWire?.startsWith('SIP/2.0 200'), 'the 200 wire');
    assert.ok(answered.ackWire?.startsWith('ACK '), 'the ACK wire');

    await waitFor(() => acks.length === 1, 'the ACK at the callee');
    const ack = acks[0]!;
    const invite = decode(out.exchange.requestWire) as SipRequest;
    assert.notEqual(ack.headers.via[0]!.params.branch, invite.headers.via[0]!.params.branch, 'ACK for 2xx is a transaction of its own');
    assert.equal(ack.headers.cseq.seq, invite.headers.cseq.seq);
    assert.equal(ack.headers.to.params.tag, uas.dialogState?.localTag);

    const refreshes: RefreshEvent[] = [];
    uas.on('refresh', (e: RefreshEvent) => refreshes.push(e));
    const NEW_OFFER = OFFER.replace('7394', '7400');
    const re = await uac.reInvite(NEW_OFFER);
    assert.equal(re.response.status, 200);
    assert.equal(uas.remoteSdp, NEW_OFFER, 'the callee saw the new offer');
    await waitFor(() => acks.length === 2, 'the ACK of the re-INVITE');
    assert.equal(acks[1]!.headers.cseq.seq, re.request!.headers.cseq.seq);

    const up = await uac.update();
    assert.equal(up.response.status, 200);
    assert.deepEqual(refreshes.map((r) => `${r.by}/${r.method}`), ['peer/INVITE', 'peer/UPDATE']);

    const bye = await uas.bye();
    assert.equal(bye?.response.status, 200);
    assert.equal(uas.state, 'terminated');
    const ended = await uacStates.next((e) => e.state === 'terminated');
    assert.equal(ended.cause, 'remote-bye');
    assert.equal(alice.dialogs.size, 0, 'the dialog is gone from the router');
  });

  it('a callee that answers 486: the session ends rejected with the status, and the 486 was ACKed', async () => {
    const { alice, bob, incoming } = await pair();
    const uac = new InviteSession(alice);
    const done = uac.invite(inviteRequest(alice, bob));
    const uas = await incoming.next();
    uas.reject(486);
    const out = await done;
    assert.equal(out.established, false);
    assert.equal(out.response.status, 486);
    const states = statesOf(uac);
    assert.equal(uac.state, 'terminated');
    assert.equal(states.seen.length, 0);
    assert.equal(uas.state, 'terminated');
  });

  it('cancel() right after invite() waits for the first provisional, then CANCELs on the INVITE branch; 487 ends both sides', async () => {
    const { alice, bob, incoming } = await pair();
    const uac = new InviteSession(alice);
    const sent: string[] = [];
    alice.on('wire', (w: { direction: string; wire: string }) => {
      if (w.direction === 'out') sent.push(w.wire);
    });
    const done = uac.invite(inviteRequest(alice, bob));
    uac.cancel();
    assert.ok(!sent.some((w) => w.startsWith('CANCEL')), 'no CANCEL before a provisional (9.1)');
    const uas = await incoming.next();
    const uasStates = statesOf(uas);
    const out = await done;
    assert.equal(out.response.status, 487);
    assert.equal(uac.state, 'terminated');
    const cancel = decode(sent.find((w) => w.startsWith('CANCEL'))!) as SipRequest;
    const invite = decode(sent.find((w) => w.startsWith('INVITE'))!) as SipRequest;
    assert.equal(cancel.headers.via[0]!.params.branch, invite.headers.via[0]!.params.branch);
    assert.equal(cancel.uri, invite.uri);
    assert.equal(cancel.headers.cseq.seq, invite.headers.cseq.seq);
    const e = await uasStates.next((ev) => ev.state === 'terminated');
    assert.equal(e.cause, 'cancelled');
  });

  it('ACKs each retransmitted 2xx again with the same ACK', async () => {
    const alice = await loopbackEndpoint(closers);
    const peer = await new RawUdpPeer().open();
    closers.push(() => peer.close());
    const uac = new InviteSession(alice);
    const uri = `sip:bob@127.0.0.1:${peer.port}`;
    const req = inviteRequest(alice, uri);
    const done = uac.invite(req);
    const inv = decode(await peer.next((w) => w.startsWith('INVITE'))) as SipRequest;
    const ok = encode(makeResponse(inv, 200, { toTag: 'b7', headers: { contact: [{ uri, params: {} }] } }));
    peer.send(alice.port, ok);
    await done;
    const first = await peer.next((w) => w.startsWith('ACK'));
    peer.send(alice.port, ok);
    const again = await peer.next((w) => w.startsWith('ACK'));
    assert.equal(again, first, 'the same ACK, byte for byte');
    assert.equal((decode(first) as SipRequest).uri, uri, "to the callee's Contact");
  });

  it('a BYE to a caller that has forgotten the dialog gets 481', async () => {
    const { alice, bob, incoming } = await pair();
    const uac = new InviteSession(alice);
    const done = uac.invite(inviteRequest(alice, bob));
    const uas = await incoming.next();
    uas.accept({ sdp: ANSWER });
    await done;
    uac.close(); // alice forgets the dialog without BYE
    const bye = await uas.bye();
    assert.equal(bye?.response.status, 481);
  });
});

describe('INVITE session: the 2xx and its ACK on the callee clock (RFC 3261 13.3.1.4)', function () {
  this.timeout(20000);
  const closers: Closers = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function calleeOnFakeClock() {
    const clock = new FakeScheduler();
    const bob = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, scheduler: clock });
    await bob.start();
    closers.push(() => bob.close());
    const sent: string[] = [];
    bob.on('wire', (w: WireEvent) => {
      if (w.direction === 'out') sent.push(w.wire.split('\r\n')[0]!);
    });
    return { clock, bob, sent, incoming: answerInvites(bob) };
  }

  it('stops sending the 2xx of the INVITE and of a re-INVITE once their ACKs arrive', async () => {
    const { clock, bob, sent, incoming } = await calleeOnFakeClock();
    const alice = await loopbackEndpoint(closers);
    const uac = new InviteSession(alice);
    const done = uac.invite(inviteRequest(alice, bob));
    const uas = await incoming.next();
    const states = statesOf(uas);
    uas.accept({ sdp: ANSWER });
    await done;
    await states.next((e) => e.state === 'confirmed');
    await uac.reInvite();
    await waitFor(() => clock.pending === 2, 'only the two Timer-M-like lifetimes left');
    clock.advance(64 * 500);
    assert.equal(sent.filter((l) => l.startsWith('SIP/2.0 200')).length, 2, 'each 2xx sent once');
    assert.ok(!sent.some((l) => l.startsWith('BYE')), 'no BYE: both were acknowledged');
    assert.equal(uas.state, 'confirmed');
  });

  it('sends BYE when the ACK never comes within 64*T1 and ends the session no-ack', async () => {
    const { clock, bob, sent, incoming } = await calleeOnFakeClock();
    const peer = await new RawUdpPeer().open();
    closers.push(() => peer.close());
    const invite = inviteRequest(bob, bob.contactUri('bob'));
    invite.headers.via = [{ version: '2.0', protocol: 'UDP', host: '127.0.0.1', port: peer.port, params: { branch: 'z9hG4bKnoack' } }];
    invite.headers.from.params.tag = 'p1';
    invite.headers.contact = [{ uri: `sip:alice@127.0.0.1:${peer.port}`, params: {} }];
    peer.send(bob.port, encode(invite));
    const uas = await incoming.next();
    const states = statesOf(uas);
    uas.accept({ sdp: ANSWER });
    clock.advance(500 + 1000 + 2000 + 4000);
    assert.equal(sent.filter((l) => l.startsWith('SIP/2.0 200')).length, 5, 'the 2xx at 0, T1, 3T1, 7T1, 15T1');
    clock.advance(64 * 500);
    const bye = decode(await peer.next((w) => w.startsWith('BYE'))) as SipRequest;
    assert.equal(bye.uri, `sip:alice@127.0.0.1:${peer.port}`);
    peer.send(bob.port, encode(makeResponse(bye, 200)));
    const ended = await states.next((e) => e.state === 'terminated');
    assert.equal(ended.cause, 'no-ack');
  });
});
