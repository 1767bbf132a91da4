// INVITE client and server transactions (RFC 3261 17.1.1, 17.2.1, 13.3.1.4,
// RFC 6026) between an endpoint on a fake clock and a raw UDP peer: the test
// plays the other side byte by byte and moves time itself.
import assert from 'node:assert/strict';
import { decode, encode } from '../../lib/sip/codec';
import { SipEndpoint, type IncomingRequest, type RequestResult, type WireEvent } from '../../lib/sip/endpoint';
import type { SipRequest, SipResponse } from '../../lib/sip/message';
import { makeResponse } from '../../lib/sip/responses';
import { FakeScheduler } from '../support/fake-scheduler';
import { inviteRequest } from '../support/invite-peers';
import { RawUdpPeer } from '../support/raw-peer';
import { waitFor } from '../support/wait';

const T1 = 500;
const T2 = 4000;

describe('INVITE transactions (RFC 3261 17.1.1 / 17.2.1, RFC 6026)', function () {
  this.timeout(20000);
  let clock: FakeScheduler;
  let ep: SipEndpoint;
  let peer: RawUdpPeer;
  let out: string[];

  beforeEach(async () => {
    clock = new FakeScheduler();
    ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, scheduler: clock });
    await ep.start();
    peer = await new RawUdpPeer().open();
    out = [];
    ep.on('wire', (w: WireEvent) => {
      if (w.direction === 'out') out.push(w.wire);
    });
  });
  afterEach(async () => {
    peer.close();
    await ep.close();
  });

  const startLine = (w: string) => w.split('\r\n')[0]!;
  const sent = (prefix: string) => out.filter((w) => startLine(w).startsWith(prefix)).length;

  function inviteTo(port: number): SipRequest {
    const req = inviteRequest(ep, `sip:bob@127.0.0.1:${port}`);
    req.headers.from.params.tag = 'a1';
    req.headers.cseq.seq = 7;
    req.headers.contact = [{ uri: ep.contactUri('alice'), params: {} }];
    return req;
  }

  function answer(invite: string, status: number): string {
    return encode(makeResponse(decode(invite) as SipRequest, status, { toTag: 'b1', headers: { contact: [{ uri: `sip:bob@127.0.0.1:${peer.port}`, params: {} }] } }));
  }

  describe('client', () => {
    it('retransmits with Timer A doubling, stops Timer A and B at the first provisional, ACKs a 486 with the INVITE branch', async () => {
      const provisional: number[] = [];
      let result: RequestResult | undefined;
      const pending = ep.request(inviteTo(peer.port), { onProvisional: (r) => provisional.push(r.status) }).then((r) => (result = r));
      const first = await peer.next((w) => w.startsWith('INVITE'));
      assert.equal(clock.nextDelay(), T1, 'Timer A starts at T1');
      clock.advance(T1);
      assert.equal(sent('INVITE'), 2);
      assert.equal(clock.nextDelay(), 2 * T1, 'Timer A doubles');
      clock.advance(2 * T1);
      assert.equal(sent('INVITE'), 3);
      assert.equal(clock.nextDelay(), 4 * T1, 'Timer A doubles again, no T2 cap for INVITE');

      peer.send(ep.port, answer(first, 180));
      await waitFor(() => provisional.length === 1);
      assert.equal(clock.pending, 0, 'no Timer A and no Timer B after a provisional');
      clock.advance(64 * T1 * 4);
      assert.equal(sent('INVITE'), 3, 'no retransmission in Proceeding');
      assert.equal(result, undefined, 'no 408: Timer B stopped, the INVITE rings until a final response or CANCEL');

      peer.send(ep.port, answer(first, 486));
      await pending;
      assert.equal(result!.response.status, 486);
      const ack = decode(await peer.next((w) => w.startsWith('ACK'))) as SipRequest;
      const inv = decode(first) as SipRequest;
      assert.equal(ack.headers.via[0]!.params.branch, inv.headers.via[0]!.params.branch, 'ACK for non-2xx on the INVITE branch (17.1.1.3)');
      assert.equal(ack.headers.cseq.seq, 7);
      assert.equal(ack.headers.to.params.tag, 'b1', "the 486's To tag");
      assert.equal(ack.uri, inv.uri);

      // A retransmitted 486 gets the same ACK again, and nothing goes up.
      peer.send(ep.port, answer(first, 486));
      await peer.next((w) => w.startsWith('ACK'));
    });

    it('without any response gives up with 408 after Timer B (64*T1)', async () => {
      const pending = ep.request(inviteTo(peer.port));
      await peer.next((w) => w.startsWith('INVITE'));
      clock.advance(64 * T1);
      const r = await pending;
      assert.equal(r.response.status, 408);
      assert.equal(r.responseWire, undefined, 'generated locally');
      assert.equal(sent('INVITE'), 7, 'sent at 0, T1, 3T1, 7T1, 15T1, 31T1, 63T1');
    });

    it('passes the 2xx up and later copies of it to onRetransmittedFinal, sending no ACK itself', async () => {
      const copies: SipResponse[] = [];
      const pending = ep.request(inviteTo(peer.port), { onRetransmittedFinal: (r) => copies.push(r) });
      const first = await peer.next((w) => w.startsWith('INVITE'));
      peer.send(ep.port, answer(first, 200));
      const r = await pending;
      assert.equal(r.response.status, 200);
      assert.equal(clock.nextDelay(), 64 * T1, 'Accepted lingers for Timer M only');
      peer.send(ep.port, answer(first, 200));
      peer.send(ep.port, answer(first, 200));
      await waitFor(() => copies.length === 2);
      assert.equal(sent('ACK'), 0, 'the ACK for a 2xx belongs to the dialog, not the transaction');
      clock.advance(64 * T1);
      peer.send(ep.port, answer(first, 200));
      const stray = await new Promise<SipResponse>((res) => ep.once('stray-response', res));
      assert.equal(stray.status, 200, 'after Timer M the transaction is gone');
      assert.equal(copies.length, 2);
    });
  });

  describe('server', () => {
    let taken: IncomingRequest[];
    beforeEach(() => {
      taken = [];
      ep.addHandler((r) => {
        if (r.message.method !== 'INVITE') return false;
        taken.push(r);
        return true;
      });
    });

    function inviteFromPeer(branch: string): string {
      return encode({
        method: 'INVITE',
        uri: `sip:bob@127.0.0.1:${ep.port}`,
        version: '2.0',
        headers: {
          via: [{ version: '2.0', protocol: 'UDP', host: '127.0.0.1', port: peer.port, params: { branch } }],
          to: { uri: 'sip:bob@lab.test', params: {} },
          from: { uri: 'sip:alice@lab.test', params: { tag: 'a9' } },
          'call-id': 'inv-srv-1@test',
          cseq: { seq: 3, method: 'INVITE' },
          contact: [{ uri: `sip:alice@127.0.0.1:${peer.port}`, params: {} }],
          'max-forwards': '70',
        },
      } satisfies SipRequest);
    }

    function ackFromPeer(branch: string, toTag: string): string {
      return encode({
        method: 'ACK',
        uri: `sip:bob@127.0.0.1:${ep.port}`,
        version: '2.0',
        headers: {
          via: [{ version: '2.0', protocol: 'UDP', host: '127.0.0.1', port: peer.port, params: { branch } }],
          to: { uri: 'sip:bob@lab.test', params: { tag: toTag } },
          from: { uri: 'sip:alice@lab.test', params: { tag: 'a9' } },
          'call-id': 'inv-srv-1@test',
          cseq: { seq: 3, method: 'ACK' },
          'max-forwards': '70',
        },
      } satisfies SipRequest);
    }

    it('sends 100 Trying, retransmits its 2xx at T1 doubling up to T2 until the ACK (own branch) arrives', async () => {
      peer.send(ep.port, inviteFromPeer('z9hG4bKsrv1'));
      await peer.next((w) => w.startsWith('SIP/2.0 100'));
      await waitFor(() => taken.length === 1);
      let noAck = 0;
      taken[0]!.respondUntilAck(200, {}, () => noAck++);
      await peer.next((w) => w.startsWith('SIP/2.0 200'));
      const gaps: number[] = [];
      for (let i = 0; i < 5; i++) {
        gaps.push(clock.nextDelay()!);
        clock.advance(clock.nextDelay()!);
      }
      assert.deepEqual(gaps, [T1, 2 * T1, 4 * T1, T2, T2], 'Timer G-like doubling, capped at T2');
      assert.equal(sent('SIP/2.0 200'), 6);

      // A copy of the INVITE is absorbed in Accepted (RFC 6026): no 200 from the transaction for it.
      peer.send(ep.port, inviteFromPeer('z9hG4bKsrv1'));
      peer.send(ep.port, ackFromPeer('z9hG4bKack1', taken[0]!.toTag));
      const acks: IncomingRequest[] = [];
      ep.addHandler((r) => (r.message.method === 'ACK' ? (acks.push(r), true) : false));
      await waitFor(() => acks.length === 1);
      assert.equal(sent('SIP/2.0 200'), 6, 'the INVITE copy was absorbed');
      clock.advance(64 * T1);
      assert.equal(sent('SIP/2.0 200'), 6, 'no retransmission after the ACK');
      assert.equal(noAck, 0);
    });

    it('reports a 2xx never acknowledged after 64*T1', async () => {
      peer.send(ep.port, inviteFromPeer('z9hG4bKsrv2'));
      await waitFor(() => taken.length === 1);
      let noAck = 0;
      taken[0]!.respondUntilAck(200, {}, () => noAck++);
      clock.advance(64 * T1 - 1);
      assert.equal(noAck, 0);
      clock.advance(1);
      assert.equal(noAck, 1);
      const n = sent('SIP/2.0 200');
      clock.advance(10 * T2);
      assert.equal(sent('SIP/2.0 200'), n, 'no retransmission after giving up');
    });

    it('retransmits a 486 with Timer G until the ACK (same branch), which it absorbs; Timer H without one', async () => {
      peer.send(ep.port, inviteFromPeer('z9hG4bKsrv3'));
      await waitFor(() => taken.length === 1);
      const acksSeen: IncomingRequest[] = [];
      ep.addHandler((r) => (r.message.method === 'ACK' ? (acksSeen.push(r), true) : false));
      taken[0]!.respond(486);
      await peer.next((w) => w.startsWith('SIP/2.0 486'));
      clock.advance(T1);
      clock.advance(2 * T1);
      assert.equal(sent('SIP/2.0 486'), 3);
      peer.send(ep.port, ackFromPeer('z9hG4bKsrv3', taken[0]!.toTag));
      // The absorbed ACK reaches no handler; wait for its effect: Timer G gone, Timer I armed (T4).
      await waitFor(() => clock.pending === 1, 'Timer I alone');
      assert.equal(clock.nextDelay(), 5000, 'Timer I is T4');
      clock.advance(64 * T1);
      assert.equal(sent('SIP/2.0 486'), 3, 'no retransmission after the ACK');
      assert.equal(acksSeen.length, 0, 'the ACK for a non-2xx stays in the transaction');
    });
  });
});
