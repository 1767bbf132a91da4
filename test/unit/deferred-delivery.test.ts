// Deferred delivery end to end between two endpoints on loopback (no core):
// the server's DeferredDelivery (seed 003 12.2.2.2) against the client's
// Inbox, and against scripted callees that refuse, or drop the MSRP
// connection half way. What a user checks: which messages arrived, in which
// order, with which sender and time, and which are still stored.
import assert from 'node:assert/strict';
import net from 'node:net';
import { decode } from '../../lib/sip/codec';
import { DeferredDelivery, type DeliveryReport, type MessageReport } from '../../lib/deferred/delivery';
import { DeferredMessageStore, type DeferredMessage } from '../../lib/deferred/message-store';
import { MsrpFrameParser, writeResponse } from '../../lib/msrp/frame';
import { MessageIdMemory } from '../../lib/msrp/reassembly';
import { buildMsrpAnswer } from '../../lib/sdp/msrp-sdp';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { InviteSession } from '../../lib/sip/invite-session';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { MemoryStore } from '../../lib/store/memory-store';
import { LabCore } from '../../lib/labcore/lab-core';
import { inviteRequest, registerUser } from '../support/invite-peers';
import { aliceMessageTo } from '../support/sip-builders';
import { FakeScheduler } from '../support/fake-scheduler';
import { loopbackEndpoint, type Closers } from '../support/settings-client';
import { startInbox } from '../support/inbox-peer';
import { waitFor } from '../support/wait';

const ALICE = 'sip:alice@lab.test';
const SERVER = 'sip:im-server@lab.test';
const SENDERS = ['sip:bob@lab.test', 'sip:carol@lab.test', 'sip:dave@lab.test'];
const TIMES = ['2026-03-01T08:00:00.000Z', '2026-03-01T09:30:00.000Z', '2026-03-02T17:45:00.000Z'];

describe('deferred delivery over INVITE and MSRP (seed 003 12.2.2.2)', function () {
  this.timeout(30000);
  const closers: Closers = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  /** The server side: a store and the delivery service on an endpoint whose every request goes to `client`. */
  async function server(client: SipEndpoint, o: { window?: number; scheduler?: FakeScheduler } = {}) {
    const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, outboundProxy: { host: '127.0.0.1', port: client.port, transport: 'udp' } });
    await ep.start();
    closers.push(() => ep.close());
    const messages = new DeferredMessageStore({ store: new MemoryStore<DeferredMessage>() });
    await messages.load();
    closers.push(() => messages.close());
    const delivery = new DeferredDelivery({ endpoint: ep, messages, serverUri: SERVER, window: o.window, scheduler: o.scheduler });
    closers.push(() => delivery.close());
    const reports: MessageReport[] = [];
    delivery.on('message', (r: MessageReport) => reports.push(r));
    return { ep, messages, delivery, reports };
  }

  async function storeThree(messages: DeferredMessageStore): Promise<DeferredMessage[]> {
    const out: DeferredMessage[] = [];
    for (let i = 0; i < 3; i++) {
      out.push(await messages.add({ recipient: ALICE, sender: SENDERS[i]!, contentType: 'text/plain;charset=utf-8', body: `message ${i + 1} ✓`, time: TIMES[i] }));
    }
    return out;
  }

  function inbox(ep: SipEndpoint, o: { setup?: 'active' | 'passive'; delivered?: MessageIdMemory } = {}) {
    return startInbox(ep, closers, { aor: ALICE, ...o });
  }

  for (const setup of ['active', 'passive'] as const) {
    it(`delivers 3 stored messages in order with their sender and time, deletes them, BYE (inbox ${setup} on MSRP)`, async () => {
      const client = await loopbackEndpoint(closers);
      const { messages, delivery, reports } = await server(client);
      const stored = await storeThree(messages);
      const { got, box } = inbox(client, { setup });
      const sessions: string[] = [];
      box.on('session', (e: { state: string; cause?: string }) => sessions.push(`${e.state}/${e.cause}`));
      const invites: SipRequest[] = [];
      client.on('wire', (w: { direction: string; wire: string }) => {
        if (w.direction === 'in' && w.wire.startsWith('INVITE ')) invites.push(parseRequest(w.wire));
      });

      const first = delivery.deliver(ALICE);
      assert.equal(delivery.active, 1);
      const joined = delivery.deliver('sip:alice@LAB.test');
      const report = await first;
      assert.equal(await joined, report, 'a second call while the session runs joins it');
      assert.equal(report.outcome, 'delivered', report.reason);
      assert.equal(report.status, 200);
      assert.deepEqual(report.delivered, stored.map((m) => m.id));
      assert.equal(report.remaining, 0);
      assert.equal(messages.count(ALICE), 0, 'nothing left in the store');
      assert.match(report.allow ?? '', /\bBYE\b/, "the callee's Allow is kept");
      assert.match(report.contact ?? '', /^sip:alice@127\.0\.0\.1:/, "the callee's Contact is kept");

      assert.deepEqual(got.map((m) => m.from), SENDERS, 'original senders, in arrival order');
      assert.deepEqual(got.map((m) => m.time), TIMES, 'original times');
      assert.deepEqual(got.map((m) => m.body), ['message 1 ✓', 'message 2 ✓', 'message 3 ✓']);
      assert.deepEqual(got.map((m) => m.messageId), stored.map((m) => m.id), 'Message-ID is the stored id');
      assert.ok(got.every((m) => m.via === 'msrp' && m.contentType === 'text/plain;charset=utf-8' && m.to[0] === ALICE));
      assert.deepEqual(reports.map((r) => `${r.id}/${r.status}/${r.sender}/${r.time}`), stored.map((m, i) => `${m.id}/delivered/${SENDERS[i]}/${TIMES[i]}`));

      const inv = invites[0]!;
      assert.equal(inv.uri, ALICE);
      assert.equal(headerText(inv, 'accept-contact'), '*;+g.oma.sip-im');
      assert.match(headerText(inv, 'session-expires') ?? '', /;refresher=uac$/);
      assert.match(inv.content ?? '', /m=message \d+ TCP\/MSRP \*/);
      assert.match(inv.content ?? '', /a=setup:actpass/);
      await waitFor(() => sessions.includes('terminated/remote-bye'), 'the BYE at the inbox');
      assert.equal(delivery.active, 0);
    });
  }

  it('a callee that answers 486 keeps every message stored', async () => {
    const client = await loopbackEndpoint(closers);
    client.addHandler((r) => {
      if (r.message.method !== 'INVITE' || r.message.headers.to.params.tag) return false;
      InviteSession.answering(client, r).reject(486, { headers: { allow: 'INVITE, ACK, BYE, CANCEL' } });
      return true;
    });
    const { messages, delivery, reports } = await server(client);
    const stored = await storeThree(messages);
    const sessions: DeliveryReport[] = [];
    delivery.on('session', (r: DeliveryReport) => sessions.push(r));
    const report = await delivery.deliver(ALICE);
    assert.equal(report.outcome, 'failed');
    assert.equal(report.status, 486);
    assert.match(report.reason ?? '', /486/);
    assert.equal(report.allow, 'INVITE, ACK, BYE, CANCEL', 'the Allow of the failure response is kept');
    assert.deepEqual(report.delivered, []);
    assert.equal(report.remaining, 3);
    assert.deepEqual(messages.list(ALICE).map((m) => m.id), stored.map((m) => m.id));
    assert.deepEqual(reports, [], 'no message was sent');
    assert.equal(sessions.length, 1, "one 'session' report");
  });

  it('an MSRP connection dropped after the first message keeps the other two', async () => {
    const client = await loopbackEndpoint(closers);
    const peer = await droppingMsrpPeer(1);
    closers.push(() => peer.close());
    client.addHandler((r) => {
      if (r.message.method !== 'INVITE' || r.message.headers.to.params.tag) return false;
      const uas = InviteSession.answering(client, r);
      const answer = buildMsrpAnswer(r.message.content ?? '', { address: '127.0.0.1', port: peer.port, path: peer.uri, setup: 'passive', direction: 'recvonly' });
      uas.accept({ sdp: answer.sdp });
      return true;
    });
    const { messages, delivery, reports } = await server(client);
    const stored = await storeThree(messages);
    const report = await delivery.deliver(ALICE);
    assert.equal(report.outcome, 'partial');
    assert.match(report.reason ?? '', /MSRP/);
    assert.deepEqual(report.delivered, [stored[0]!.id]);
    assert.equal(report.remaining, 2);
    assert.deepEqual(messages.list(ALICE).map((m) => m.id), [stored[1]!.id, stored[2]!.id], 'the two unconfirmed stay, in order');
    assert.equal(peer.received(), 2, 'the peer saw the second message and dropped the connection without answering it');
    assert.deepEqual(reports.map((r) => r.status), ['delivered', 'failed', 'failed']);
  });

  it('a SEND left unanswered (MSRP 408) stops the session with BYE; it and the later ones stay stored, in order', async () => {
    const client = await loopbackEndpoint(closers);
    const peer = await droppingMsrpPeer(1, 'stall');
    closers.push(() => peer.close());
    const byes: string[] = [];
    client.addHandler((r) => {
      if (r.message.method !== 'INVITE' || r.message.headers.to.params.tag) return false;
      const uas = InviteSession.answering(client, r);
      uas.on('state', (e: { state: string; cause: string }) => e.state === 'terminated' && byes.push(e.cause));
      uas.accept({ sdp: buildMsrpAnswer(r.message.content ?? '', { address: '127.0.0.1', port: peer.port, path: peer.uri, setup: 'passive', direction: 'recvonly' }).sdp });
      return true;
    });
    const clock = new FakeScheduler();
    const { messages, delivery, reports } = await server(client, { scheduler: clock });
    const stored = await storeThree(messages);
    const done = delivery.deliver(ALICE);
    await waitFor(() => peer.received() === 3 && reports.length === 1, 'the three SENDs at the peer, the first answered');
    clock.advance(31_000); // RFC 4975 7.1.1: 30 s for a transaction's response
    const report = await done;
    assert.equal(report.outcome, 'partial');
    assert.match(report.reason ?? '', /SEND of message .* failed/);
    assert.deepEqual(report.delivered, [stored[0]!.id]);
    assert.deepEqual(messages.list(ALICE).map((m) => m.id), [stored[1]!.id, stored[2]!.id]);
    await waitFor(() => byes.length === 1, 'the BYE at the callee');
    assert.equal(byes[0], 'remote-bye');
  });

  it('a message delivered again (the server crashed before deleting it) is dropped by the inbox', async () => {
    const client = await loopbackEndpoint(closers);
    const { messages, delivery } = await server(client);
    const stored = await storeThree(messages);
    const memory = new MessageIdMemory();
    const { got, duplicates } = inbox(client, { delivered: memory });
    assert.equal((await delivery.deliver(ALICE)).outcome, 'delivered');
    assert.equal(got.length, 3);
    // The crash: the delete of the first message never reached the disk, so it waits again under the same id.
    const first = stored[0]!;
    await messages.add({ id: first.id, recipient: ALICE, sender: first.sender, contentType: first.contentType, body: 'message 1 ✓', time: first.receivedAt });
    const again = await delivery.deliver(ALICE);
    assert.equal(again.outcome, 'delivered');
    assert.deepEqual(again.delivered, [first.id]);
    assert.equal(messages.count(ALICE), 0);
    assert.equal(got.length, 3, 'not output a second time');
    assert.deepEqual(duplicates.map((d) => d.messageId), [first.id]);
  });

  it('refuses an INVITE without m=message TCP/MSRP (and a bad SDP) with 488', async () => {
    const client = await loopbackEndpoint(closers);
    const caller = await loopbackEndpoint(closers, client.port);
    const { box } = inbox(client);
    const refused: Array<{ status: number; method: string }> = [];
    box.on('refused', (r: { status: number; method: string }) => refused.push(r));
    const audio = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
    for (const sdp of [audio, 'this is no SDP']) {
      const out = await new InviteSession(caller).invite(inviteRequest(caller, ALICE, SERVER, sdp));
      assert.equal(out.response.status, 488, sdp);
    }
    assert.deepEqual(refused.map((r) => `${r.method}/${r.status}`), ['INVITE/488', 'INVITE/488']);
  });

  it('takes a pager-mode MESSAGE: 200 and a message via pager', async () => {
    const client = await loopbackEndpoint(closers);
    const sender = await loopbackEndpoint(closers, client.port);
    const { got } = inbox(client);
    const res = await sender.request(aliceMessageTo(sender, ALICE, 'hello alice', 'sip:bob@lab.test'));
    assert.equal(res.response.status, 200);
    await waitFor(() => got.length === 1, 'the pager message');
    assert.equal(got[0]!.via, 'pager');
    assert.equal(got[0]!.from, 'sip:bob@lab.test');
    assert.equal(got[0]!.body, 'hello alice');
  });
  it('delivers through the lab core as proxy: INVITE, ACK, MSRP and BYE to the registered user', async () => {
    const coreEp = await loopbackEndpoint(closers);
    const client = await loopbackEndpoint(closers, coreEp.port);
    // The server's requests go to the core, which trusts it as its IM server and routes to alice's registered contact.
    const { ep, messages, delivery } = await server(coreEp);
    const core = new LabCore(coreEp, { domain: 'lab.test', users: new Map([['alice', 'alice-pw']]), settingsServerUri: ep.contactUri(), imServerUri: ep.contactUri() });
    core.start();
    closers.push(() => core.stop());
    await registerUser(client, 'alice', closers);
    const stored = await storeThree(messages);
    const { got, box } = inbox(client);
    const ended = new Promise<string | undefined>((resolve) => box.on('session', (e: { state: string; cause?: string }) => e.state === 'terminated' && resolve(e.cause)));
    const report = await delivery.deliver(ALICE);
    assert.equal(report.outcome, 'delivered', report.reason);
    assert.deepEqual(got.map((m) => `${m.messageId} ${m.from} ${m.time}`), stored.map((m, i) => `${m.id} ${SENDERS[i]} ${TIMES[i]}`));
    assert.equal(messages.count(ALICE), 0);
    assert.equal(await ended, 'remote-bye', 'the BYE reached alice through the core');
  });
});

function parseRequest(wire: string): SipRequest {
  return decode(wire) as SipRequest;
}

/**
 * A passive MSRP peer of our own making: answers 200 to the connection's
 * empty SEND and to the first `answered` messages, then drops the
 * connection at the next message without answering it, or leaves every
 * later message unanswered (`stall`).
 */
async function droppingMsrpPeer(answered: number, then: 'drop' | 'stall' = 'drop') {
  let messages = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const parser = new MsrpFrameParser();
    socket.on('data', (data: Buffer) => {
      for (const ev of parser.push(data)) {
        if (ev.kind !== 'frame' || ev.frame.kind !== 'request' || ev.frame.method !== 'SEND') continue;
        const req = ev.frame;
        if (req.body.length > 0 && ++messages > answered) {
          if (then === 'drop') return void socket.destroy();
          continue;
        }
        socket.write(writeResponse({ transactionId: req.transactionId, code: 200, toPath: [req.fromPath[0]!], fromPath: [uri] }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const uri = `msrp://127.0.0.1:${port}/droppingpeer1;tcp`;
  return {
    port,
    uri,
    received: () => messages,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
