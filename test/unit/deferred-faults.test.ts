// Deferred delivery (seed 003 12.2.2.2) when things go wrong: every failure
// answer to the INVITE, no answer at all, a callee that rings for ever (the
// server CANCELs), session refreshes (RFC 4028) in a long delivery and their
// failure, an unusable SDP answer, MSRP SENDs refused. What a user checks:
// which messages are still stored, and why the report says the session ended.
import assert from 'node:assert/strict';
import net from 'node:net';
import { decode, encode } from '../../lib/sip/codec';
import type { InboxUnreadable } from '../../lib/deferred/inbox';
import type { DeferredMessage } from '../../lib/deferred/message-store';
import type { SipEndpoint } from '../../lib/sip/endpoint';
import type { InviteSession, SessionEvent } from '../../lib/sip/invite-session';
import { headerText, type SipRequest, type SipResponse } from '../../lib/sip/message';
import { makeResponse } from '../../lib/sip/responses';
import { MemoryStore } from '../../lib/store/memory-store';
import {
  ALICE,
  answerTo,
  deliveryServer,
  scriptedCallee,
  scriptedMsrpPeer,
  SENDERS,
  startInbox,
  storeThree,
  wiresOf,
  type MsrpScript,
  type ServerOptions,
} from '../support/deferred-peers';
import { FakeScheduler } from '../support/fake-scheduler';
import { FlakyStore } from '../support/flaky-store';
import { freePort } from '../support/free-port';
import { statesOf } from '../support/invite-peers';
import { RawUdpPeer } from '../support/raw-peer';
import { loopbackEndpoint, type Closers } from '../support/settings-client';
import { waitFor } from '../support/wait';

const AUDIO_ONLY = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

describe('deferred delivery: failures and faults (seed 003 12.2.2.2)', function () {
  this.timeout(30000);
  const closers: Closers = [];
  const holding: Array<FlakyStore<DeferredMessage>> = [];
  afterEach(async () => {
    // A test that failed half way must not leave a delivery waiting on a held delete.
    for (const s of holding.splice(0)) s.release();
    for (const c of closers.splice(0).reverse()) await c();
  });

  const server = (client: SipEndpoint | number, o: ServerOptions = {}) => deliveryServer(closers, typeof client === 'number' ? client : client.port, o);

  async function msrpPeer(script: MsrpScript = () => 200) {
    const peer = await scriptedMsrpPeer(script);
    closers.push(() => peer.close());
    return peer;
  }

  /** A callee that accepts with an MSRP answer towards a scripted peer (and `headers` in its 200); `callee()` is its session. */
  async function acceptingCallee(headers: Record<string, string> = {}) {
    const client = await loopbackEndpoint(closers);
    const peer = await msrpPeer();
    let session: InviteSession | undefined;
    scriptedCallee(client, (uas, r) => {
      session = uas;
      uas.accept({ sdp: answerTo(r.message.content, peer), headers });
    });
    return { client, peer, callee: () => session! };
  }

  /** A store whose deletes the test can hold: the delivery pauses after a SEND's 200 until release(). */
  function holdingStore() {
    const store = new FlakyStore<DeferredMessage>(new MemoryStore<DeferredMessage>());
    holding.push(store);
    return store;
  }

  function sipOf(wires: string[], startsWith: string): SipRequest[] {
    return wires.filter((w) => w.startsWith(startsWith)).map((w) => decode(w) as SipRequest);
  }

  describe('failure answers to the INVITE', () => {
    for (const [status, reason] of [
      [404, 'Not Found'],
      [480, 'Temporarily Unavailable'],
      [408, 'Request Timeout'],
      [603, 'Decline'],
      [500, 'Server Internal Error'],
    ] as const) {
      it(`${status} ${reason}: every message stays stored, the report says ${status}`, async () => {
        const client = await loopbackEndpoint(closers);
        scriptedCallee(client, (uas) => uas.reject(status, { reason, headers: { allow: 'INVITE, ACK, BYE, CANCEL, MESSAGE' } }));
        const { messages, delivery, reports } = await server(client);
        const stored = await storeThree(messages);
        const report = await delivery.deliver(ALICE);
        assert.equal(report.outcome, 'failed');
        assert.equal(report.status, status);
        assert.equal(report.reason, `INVITE answered ${status} ${reason}`);
        assert.equal(report.failure, 'declined', 'an answer of the callee, not a fault');
        assert.equal(report.allow, 'INVITE, ACK, BYE, CANCEL, MESSAGE');
        assert.deepEqual(messages.list(ALICE).map((m) => m.id), stored.map((m) => m.id));
        assert.equal(report.remaining, 3);
        assert.deepEqual(reports, []);
        assert.equal(delivery.active, 0);
      });
    }

    it('no answer at all (Timer B): every message stays stored, the report says nothing answered', async () => {
      const silent = await new RawUdpPeer().open();
      closers.push(() => silent.close());
      const clock = new FakeScheduler();
      const { messages, delivery } = await server(silent.port, { sipScheduler: clock, scheduler: clock });
      await storeThree(messages);
      const done = delivery.deliver(ALICE);
      await silent.next((w) => w.startsWith('INVITE '), 10000, 'the INVITE');
      clock.advance(64 * 500);
      const report = await done;
      assert.equal(report.outcome, 'failed');
      assert.equal(report.status, 408);
      assert.match(report.reason ?? '', /no response to the INVITE/i, report.reason);
      assert.equal(report.failure, 'unanswered');
      assert.equal(messages.count(ALICE), 3);
    });

    it('a redirect (302) is not followed: the messages go to the user only; the report names the target', async () => {
      const client = await loopbackEndpoint(closers);
      let invites = 0;
      scriptedCallee(client, (uas) => {
        invites++;
        uas.reject(302, { headers: { contact: [{ uri: 'sip:alice@elsewhere.test', params: {} }] } });
      });
      const { messages, delivery } = await server(client);
      await storeThree(messages);
      const report = await delivery.deliver(ALICE);
      assert.equal(report.outcome, 'failed');
      assert.equal(report.status, 302);
      assert.match(report.reason ?? '', /redirected \(302\) to sip:alice@elsewhere\.test: not followed/, report.reason);
      assert.equal(report.contact, 'sip:alice@elsewhere.test', 'the Contact of the 3xx is kept like any other');
      assert.equal(invites, 1, 'no INVITE to the redirect target');
      assert.equal(report.failure, 'declined');
      assert.equal(messages.count(ALICE), 3);
    });

    it('a 200 without Contact (no dialog possible): the report says so, every message stays stored', async () => {
      const client = await loopbackEndpoint(closers);
      const peer = await msrpPeer();
      client.addHandler((r) => {
        if (r.message.method !== 'INVITE') return false;
        r.respond(200, { toTag: 'nocontact', body: answerTo(r.message.content, peer), contentType: 'application/sdp' });
        return true;
      });
      const { messages, delivery } = await server(client);
      await storeThree(messages);
      const report = await delivery.deliver(ALICE);
      assert.equal(report.outcome, 'failed');
      assert.equal(report.status, 200);
      assert.match(report.reason ?? '', /200 without Contact/, report.reason);
      assert.equal(report.failure, 'fault');
      assert.equal(messages.count(ALICE), 3);
      assert.equal(peer.received(), 0);
    });

    it('keeps the Allow and Contact of a provisional response when the final one has none', async () => {
      const client = await loopbackEndpoint(closers);
      scriptedCallee(client, (uas) => {
        uas.progress(180, { headers: { allow: 'INVITE, ACK, CANCEL, BYE, UPDATE, MESSAGE' } });
        uas.reject(486);
      });
      const { messages, delivery } = await server(client);
      await storeThree(messages);
      const report = await delivery.deliver(ALICE);
      assert.equal(report.status, 486);
      assert.equal(report.allow, 'INVITE, ACK, CANCEL, BYE, UPDATE, MESSAGE', 'from the 180');
      assert.match(report.contact ?? '', /^sip:127\.0\.0\.1:\d+|^sip:[^@]+@127\.0\.0\.1:\d+/, 'from the 180');
      assert.deepEqual(report.exchanges.map((x) => x.response.status), [486]);
    });
  });

  describe('CANCEL', () => {
    it('a callee that rings (180) and does not answer in time is CANCELled on the INVITE branch; 487; every message stays stored', async () => {
      const client = await loopbackEndpoint(closers);
      const uasStates: Array<ReturnType<typeof statesOf>> = [];
      scriptedCallee(client, (uas) => {
        uasStates.push(statesOf(uas));
        uas.progress(180);
      });
      const clock = new FakeScheduler();
      const { messages, delivery } = await server(client, { scheduler: clock, answerTimeoutMs: 20_000 });
      await storeThree(messages);
      const incoming = wiresOf(client, 'in');
      const done = delivery.deliver(ALICE);
      await waitFor(() => uasStates.length === 1, 'the INVITE at the callee');
      await waitFor(() => delivery.active === 1 && clock.pending > 0, 'the answer timer');
      clock.advance(19_999);
      assert.equal(sipOf(incoming, 'CANCEL ').length, 0, 'no CANCEL before the answer time is up');
      clock.advance(1);
      const report = await done;
      assert.equal(report.outcome, 'failed');
      assert.equal(report.status, 487);
      assert.match(report.reason ?? '', /not answered within 20 s/, report.reason);
      assert.equal(report.failure, 'unanswered');
      const [invite] = sipOf(incoming, 'INVITE ');
      const [cancel] = sipOf(incoming, 'CANCEL ');
      assert.ok(cancel, 'the CANCEL reached the callee');
      assert.equal(cancel.headers.via[0]!.params.branch, invite!.headers.via[0]!.params.branch);
      assert.equal(cancel.headers.cseq.seq, invite!.headers.cseq.seq);
      assert.equal((await uasStates[0]!.next((e) => e.state === 'terminated')).cause, 'cancelled');
      assert.equal(messages.count(ALICE), 3);
    });

    it('a callee silent after 100 Trying is CANCELled too; 487', async () => {
      const client = await loopbackEndpoint(closers);
      let invites = 0;
      client.addHandler((r) => r.message.method === 'INVITE' && ++invites > 0); // taken, never answered: the endpoint's 100 only
      const clock = new FakeScheduler();
      const { ep, messages, delivery } = await server(client, { scheduler: clock, answerTimeoutMs: 20_000 });
      await storeThree(messages);
      const answers = wiresOf(ep, 'in');
      const done = delivery.deliver(ALICE);
      await waitFor(() => answers.some((w) => w.startsWith('SIP/2.0 100')), 'the 100 Trying');
      clock.advance(20_000);
      const report = await done;
      assert.equal(report.status, 487);
      assert.equal(report.failure, 'unanswered');
      assert.equal(invites, 1);
      assert.equal(messages.count(ALICE), 3);
    });

    it('closing the service while the callee rings CANCELs; every message stays stored', async () => {
      const client = await loopbackEndpoint(closers);
      scriptedCallee(client, (uas) => uas.progress(180));
      const { ep, messages, delivery } = await server(client);
      await storeThree(messages);
      const provisional = wiresOf(ep, 'in');
      const done = delivery.deliver(ALICE);
      await waitFor(() => provisional.some((w) => w.startsWith('SIP/2.0 180')), 'the 180');
      await delivery.close();
      const report = await done;
      assert.equal(report.status, 487);
      assert.match(report.reason ?? '', /closing/);
      assert.equal(report.failure, 'closed');
      assert.equal(messages.count(ALICE), 3);
    });

    it('a callee that never answers the INVITE after the CANCEL: the session ends 64*T1 later (RFC 3261 9.1)', async () => {
      const callee = await new RawUdpPeer().open();
      closers.push(() => callee.close());
      const clock = new FakeScheduler();
      const { ep, messages, delivery } = await server(callee.port, { scheduler: clock, answerTimeoutMs: 20_000 });
      await storeThree(messages);
      const done = delivery.deliver(ALICE);
      const invite = decode(await callee.next((w) => w.startsWith('INVITE '), 10000, 'the INVITE')) as SipRequest;
      callee.send(ep.port, encode(makeResponse(invite, 180, { toTag: 'ringing1', headers: { contact: [{ uri: `sip:alice@127.0.0.1:${callee.port}`, params: {} }] } })));
      await waitFor(() => clock.pending > 0, 'the answer timer');
      clock.advance(20_000);
      const cancel = decode(await callee.next((w) => w.startsWith('CANCEL '), 10000, 'the CANCEL')) as SipRequest;
      callee.send(ep.port, encode(makeResponse(cancel, 200)));
      clock.advance(64 * 500);
      const report = await done;
      assert.equal(report.outcome, 'failed');
      assert.match(report.reason ?? '', /not answered within 20 s/);
      assert.equal(delivery.active, 0, 'the user is free for the next delivery');
      assert.equal(messages.count(ALICE), 3);
    });

    it('at the inbox, a CANCEL after its 200 gets 200 and changes nothing: every message is delivered', async () => {
      const client = await loopbackEndpoint(closers);
      const store = holdingStore();
      const { ep, messages, delivery } = await server(client, { store, window: 1 });
      const stored = await storeThree(messages);
      const { got, box } = startInbox(closers, client);
      const ended: string[] = [];
      box.on('session', (e: { state: string; cause?: string }) => e.state === 'terminated' && ended.push(String(e.cause)));
      const invites = wiresOf(ep, 'out');
      store.hold = true;
      const done = delivery.deliver(ALICE);
      await waitFor(() => store.waiting === 1, 'the first message answered');
      const invite = sipOf(invites, 'INVITE ')[0]!;
      const cancel: SipRequest = {
        method: 'CANCEL',
        uri: invite.uri,
        version: '2.0',
        headers: { via: [], to: { uri: invite.headers.to.uri, params: {} }, from: invite.headers.from, 'call-id': invite.headers['call-id'], cseq: { seq: invite.headers.cseq.seq, method: 'CANCEL' }, 'max-forwards': '70' },
      };
      const answered = await ep.request(cancel, { branch: String(invite.headers.via[0]!.params.branch) });
      assert.equal(answered.response.status, 200);
      store.release();
      const report = await done;
      assert.equal(report.outcome, 'delivered', report.reason);
      assert.deepEqual(got.map((m) => m.messageId), stored.map((m) => m.id));
      await waitFor(() => ended.length === 1, 'the end of the session at the inbox');
      assert.deepEqual(ended, ['remote-bye']);
    });
  });

  describe('session refresh (RFC 4028) during a long delivery', () => {
    it('refreshes with UPDATE at half the interval; the inbox answers; the delivery goes on', async () => {
      const client = await loopbackEndpoint(closers);
      const store = holdingStore();
      const clock = new FakeScheduler();
      const { ep, messages, delivery } = await server(client, { store, window: 1, scheduler: clock, sessionExpires: 90 });
      const stored = await storeThree(messages);
      const { got } = startInbox(closers, client);
      const sent = wiresOf(ep, 'out');
      const answers = wiresOf(ep, 'in');
      store.hold = true;
      const done = delivery.deliver(ALICE);
      await waitFor(() => store.waiting === 1, 'the first message answered');
      clock.advance(45_000 - 1);
      assert.equal(sipOf(sent, 'UPDATE ').length, 0);
      clock.advance(1);
      await waitFor(() => sipOf(sent, 'UPDATE ').length === 1, 'the UPDATE');
      const update = sipOf(sent, 'UPDATE ')[0]!;
      assert.equal(headerText(update, 'session-expires'), '90;refresher=uac');
      await waitFor(() => answers.some((w) => / UPDATE\r\n/.test(w) && w.startsWith('SIP/2.0 200')), 'the 200 to the UPDATE');
      const ok = decode(answers.find((w) => / UPDATE\r\n/.test(w) && w.startsWith('SIP/2.0 200'))!) as SipResponse;
      assert.equal(headerText(ok, 'session-expires'), '90;refresher=uac');
      store.release();
      const report = await done;
      assert.equal(report.outcome, 'delivered', report.reason);
      assert.deepEqual(got.map((m) => m.messageId), stored.map((m) => m.id));
      assert.ok(report.exchanges.some((x) => x.request?.method === 'UPDATE' && x.response.status === 200), 'the refresh is in the report');
    });

    it('a refresh answered 481 ends the session with BYE (RFC 4028 10); the unsent messages stay stored', async () => {
      const { client, callee } = await acceptingCallee();
      const store = holdingStore();
      const clock = new FakeScheduler();
      const { messages, delivery } = await server(client, { store, window: 1, scheduler: clock, sessionExpires: 90 });
      const stored = await storeThree(messages);
      const incoming = wiresOf(client, 'in');
      store.hold = true;
      const done = delivery.deliver(ALICE);
      await waitFor(() => store.waiting === 1, 'the first message answered');
      callee().close(); // the callee lost the dialog: 481 to what comes in it
      clock.advance(45_000);
      await waitFor(() => sipOf(incoming, 'BYE ').length === 1, 'the BYE after the 481');
      store.release();
      const report = await done;
      assert.equal(report.outcome, 'partial');
      assert.match(report.reason ?? '', /refresh.*481/, report.reason);
      assert.equal(report.failure, 'fault');
      assert.deepEqual(report.delivered, [stored[0]!.id]);
      assert.deepEqual(messages.list(ALICE).map((m) => m.id), [stored[1]!.id, stored[2]!.id]);
    });

    it('a refresh left unanswered (408 after Timer F) ends the session with BYE; the unsent messages stay stored', async () => {
      // A callee of raw datagrams: answers the INVITE and the BYE, never the UPDATE.
      const callee = await new RawUdpPeer().open();
      closers.push(() => callee.close());
      const peer = await msrpPeer();
      const store = holdingStore();
      const clock = new FakeScheduler();
      const { ep, messages, delivery } = await server(callee.port, { store, window: 1, scheduler: clock, sipScheduler: clock });
      const stored = await storeThree(messages);
      store.hold = true;
      const done = delivery.deliver(ALICE);
      const invite = decode(await callee.next((w) => w.startsWith('INVITE '), 10000, 'the INVITE')) as SipRequest;
      const contact = [{ uri: `sip:alice@127.0.0.1:${callee.port}`, params: {} }];
      const ok = makeResponse(invite, 200, {
        toTag: 'silent1',
        headers: { contact, 'session-expires': '1800;refresher=uac', require: 'timer' },
        body: answerTo(invite.content, peer),
        contentType: 'application/sdp',
      });
      callee.send(ep.port, encode(ok));
      await waitFor(() => store.waiting === 1, 'the first message answered');
      clock.advance(900_000);
      await callee.next((w) => w.startsWith('UPDATE '), 10000, 'the UPDATE');
      clock.advance(64 * 500);
      const bye = decode(await callee.next((w) => w.startsWith('BYE '), 10000, 'the BYE after the timeout')) as SipRequest;
      callee.send(ep.port, encode(makeResponse(bye, 200)));
      store.release();
      const report = await done;
      assert.equal(report.outcome, 'partial');
      assert.match(report.reason ?? '', /refresh got no response \(408\)/, report.reason);
      assert.equal(report.failure, 'fault');
      assert.deepEqual(messages.list(ALICE).map((m) => m.id), [stored[1]!.id, stored[2]!.id]);
    });

    it('a 2xx that names the callee refresher (refresher=uas): the server does not refresh, answers the callee’s UPDATE and goes on', async () => {
      const { client, callee } = await acceptingCallee({ 'session-expires': '90;refresher=uas' });
      const store = holdingStore();
      const clock = new FakeScheduler();
      const { ep, messages, delivery } = await server(client, { store, window: 1, scheduler: clock, sessionExpires: 90 });
      await storeThree(messages);
      const sent = wiresOf(ep, 'out');
      store.hold = true;
      const done = delivery.deliver(ALICE);
      await waitFor(() => store.waiting === 1, 'the first message answered');
      clock.advance(45_000);
      const refresh = await callee().update();
      assert.equal(sipOf(sent, 'UPDATE ').length, 0, 'the callee refreshes, not the server');
      assert.equal(refresh.response.status, 200);
      assert.equal(headerText(refresh.response, 'session-expires'), '90;refresher=uac', 'in its own UPDATE the callee is the UAC: still the refresher');
      store.release();
      const report = await done;
      assert.equal(report.outcome, 'delivered', report.reason);
      assert.ok(report.exchanges.some((x) => x.request?.method === 'UPDATE' && x.response.status === 200), "the callee's refresh is in the report");
    });

    for (const c of [
      { what: 'a 422 with Min-SE 3600: the INVITE goes again asking 3600', callee: { minSE: 3600 }, interval: 3600, statuses: [422, 200] },
      { what: 'the callee lowers the interval to 120', callee: { expires: 120 }, interval: 120, statuses: [200] },
    ]) {
      it(`${c.what}; refreshes at half of it`, async () => {
        const client = await loopbackEndpoint(closers);
        const peer = await msrpPeer();
        scriptedCallee(
          client,
          (uas, r) => {
            if (uas.state !== 'terminated') uas.accept({ sdp: answerTo(r.message.content, peer) });
          },
          { sessionTimer: c.callee },
        );
        const store = holdingStore();
        const clock = new FakeScheduler();
        const { ep, messages, delivery } = await server(client, { store, window: 1, scheduler: clock });
        await storeThree(messages);
        const sent = wiresOf(ep, 'out');
        store.hold = true;
        const done = delivery.deliver(ALICE);
        await waitFor(() => store.waiting === 1, 'the first message answered');
        clock.advance((c.interval * 1000) / 2 - 1);
        assert.equal(sipOf(sent, 'UPDATE ').length, 0);
        clock.advance(1);
        await waitFor(() => sipOf(sent, 'UPDATE ').length === 1, 'the UPDATE');
        assert.equal(headerText(sipOf(sent, 'UPDATE ')[0]!, 'session-expires'), `${c.interval};refresher=uac`);
        store.release();
        const report = await done;
        assert.equal(report.outcome, 'delivered', report.reason);
        assert.deepEqual(report.exchanges.filter((x) => x.request?.method === 'INVITE').map((x) => x.response.status), c.statuses);
        assert.equal(messages.count(ALICE), 0);
      });
    }
  });

  describe("the 200's SDP answer", () => {
    const closedPort = async () => {
      const port = await freePort();
      return `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message ${port} TCP/MSRP *\r\na=recvonly\r\na=accept-types:message/cpim\r\na=path:msrp://127.0.0.1:${port}/nobody1;tcp\r\na=setup:passive\r\n`;
    };
    for (const [what, sdp, reason] of [
      ['not SDP', async () => 'this is no SDP', /unusable SDP answer/],
      ['no MSRP m-line', async () => AUDIO_ONLY, /unusable SDP answer/],
      ['an a=path that is no MSRP URI', async () => (await closedPort()).replace(/a=path:\S+/, 'a=path:http://127.0.0.1/x'), /unusable SDP answer/],
      ['an a=path where nobody listens', closedPort, /MSRP connection failed/],
    ] as const) {
      it(`${what}: ACK, then BYE; every message stays stored`, async () => {
        const client = await loopbackEndpoint(closers);
        const body = await sdp();
        const states: Array<ReturnType<typeof statesOf>> = [];
        scriptedCallee(client, (uas) => {
          states.push(statesOf(uas));
          uas.accept({ sdp: body });
        });
        const { messages, delivery } = await server(client);
        await storeThree(messages);
        const report = await delivery.deliver(ALICE);
        assert.equal(report.outcome, 'failed');
        assert.equal(report.status, 200);
        assert.match(report.reason ?? '', reason, report.reason);
        assert.equal(report.failure, 'fault');
        assert.equal(messages.count(ALICE), 3);
        const seen = states[0]!;
        const end = await seen.next((e: SessionEvent) => e.state === 'terminated');
        assert.equal(end.cause, 'remote-bye');
        assert.ok(seen.seen.some((e) => e.cause === 'acknowledged'), 'the 200 was ACKed before the BYE');
      });
    }
  });

  describe('MSRP SENDs refused by the callee', () => {
    async function refusing(script: MsrpScript) {
      const client = await loopbackEndpoint(closers);
      const peer = await msrpPeer(script);
      const byes: string[] = [];
      scriptedCallee(client, (uas, r) => {
        uas.on('state', (e: SessionEvent) => e.state === 'terminated' && byes.push(e.cause));
        uas.accept({ sdp: answerTo(r.message.content, peer) });
      });
      const { messages, delivery, reports } = await server(client, { window: 1 });
      const stored = await storeThree(messages);
      const report = await delivery.deliver(ALICE);
      return { report, stored, messages, reports, byes, peer };
    }

    for (const code of [400, 413, 415]) {
      it(`${code} to one message: that message is skipped and stays stored, the others go; the report says why`, async () => {
        const { report, stored, messages, reports, byes } = await refusing((n) => (n === 2 ? code : 200));
        assert.equal(report.outcome, 'partial');
        assert.deepEqual(report.delivered, [stored[0]!.id, stored[2]!.id]);
        assert.deepEqual(messages.list(ALICE).map((m) => m.id), [stored[1]!.id]);
        assert.match(report.reason ?? '', new RegExp(`message ${stored[1]!.id} refused.*${code}`), report.reason);
        assert.equal(report.failure, 'fault');
        assert.deepEqual(reports.map((r) => r.status), ['delivered', 'failed', 'delivered']);
        assert.match(reports[1]!.error ?? '', new RegExp(String(code)));
        await waitFor(() => byes.length === 1, 'the BYE');
        assert.equal(byes[0], 'remote-bye');
      });
    }

    it('481 (the callee lost the MSRP session): the session stops with BYE; that message and the later ones stay stored', async () => {
      const { report, stored, messages, byes, peer } = await refusing((n) => (n === 2 ? 481 : 200));
      assert.equal(report.outcome, 'partial');
      assert.deepEqual(report.delivered, [stored[0]!.id]);
      assert.deepEqual(messages.list(ALICE).map((m) => m.id), [stored[1]!.id, stored[2]!.id]);
      assert.match(report.reason ?? '', /481/, report.reason);
      assert.equal(report.failure, 'fault');
      assert.equal(peer.received(), 2, 'nothing sent after the 481');
      await waitFor(() => byes.length === 1, 'the BYE');
    });

    it('the inbox answers 400 to a message whose CPIM it cannot read: nothing output, it stays stored, the others are delivered', async () => {
      const client = await loopbackEndpoint(closers);
      const { messages, delivery, reports } = await server(client, { window: 1 });
      const add = (sender: string, body: string, senderName?: string) => messages.add({ recipient: ALICE, sender, senderName, contentType: 'text/plain', body });
      // A line separator in the display name: the server wraps it, the inbox's CPIM reader cannot read the From back.
      const stored = [await add(SENDERS[0]!, 'first'), await add(SENDERS[1]!, 'unreadable', 'Carol\u2028Smith'), await add(SENDERS[2]!, 'third')];
      const { got, box } = startInbox(closers, client);
      const unreadable: InboxUnreadable[] = [];
      box.on('unreadable', (u: InboxUnreadable) => unreadable.push(u));
      const report = await delivery.deliver(ALICE);
      assert.equal(report.outcome, 'partial', report.reason);
      assert.deepEqual(report.delivered, [stored[0]!.id, stored[2]!.id]);
      assert.deepEqual(got.map((m) => m.body), ['first', 'third']);
      assert.deepEqual(messages.list(ALICE).map((m) => m.id), [stored[1]!.id]);
      assert.match(reports[1]!.error ?? '', /400/);
      assert.equal(unreadable.length, 1);
      assert.equal(unreadable[0]!.status, 400);
      assert.match(unreadable[0]!.reason, /From/);
    });

    it('the inbox answers 481 to a SEND for a session it does not know', async () => {
      const client = await loopbackEndpoint(closers);
      const { messages, delivery } = await server(client);
      await storeThree(messages);
      startInbox(closers, client, { setup: 'passive' });
      const report = await delivery.deliver(ALICE);
      assert.equal(report.outcome, 'delivered', report.reason);
      const answer = report.exchanges.find((x) => x.request?.method === 'INVITE' && x.response.status === 200)!.response.content ?? '';
      const port = Number(/m=message (\d+) /.exec(answer)?.[1]);
      assert.ok(port > 0, answer);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.write(
            `MSRP probe1 SEND\r\nTo-Path: msrp://127.0.0.1:${port}/nosuchsession;tcp\r\nFrom-Path: msrp://127.0.0.1:9/probe;tcp\r\nMessage-ID: p1\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------probe1$\r\n`,
          );
        });
        let text = '';
        socket.on('data', (d) => (text += d.toString()));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
      assert.match(reply, /^MSRP probe1 481/);
    });
  });
});
