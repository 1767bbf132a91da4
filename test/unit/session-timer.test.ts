// RFC 4028 session timers between two endpoints on loopback, each session on
// its own fake clock: negotiation, the refresh at half the interval, the BYE
// of the side that waits in vain, 422 and Min-SE, a refresh answered 481.
import assert from 'node:assert/strict';
import { decode } from '../../lib/sip/codec';
import type { WireEvent } from '../../lib/sip/endpoint';
import { InviteSession, type RefreshEvent } from '../../lib/sip/invite-session';
import { headerText } from '../../lib/sip/message';
import { expiryMarginSeconds, negotiateAsUas, parseSessionExpires, timerRequestHeaders } from '../../lib/sip/session-timer';
import type { SessionOptions } from '../../lib/sip/invite-session';
import type { SipRequest } from '../../lib/sip/message';
import { Events } from '../support/events';
import { FakeScheduler } from '../support/fake-scheduler';
import { answerInvites, ANSWER, inviteRequest, statesOf } from '../support/invite-peers';
import { loopbackEndpoint, type Closers } from '../support/settings-client';

describe('session timer (RFC 4028)', function () {
  this.timeout(20000);
  const closers: Closers = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function call(uacOpts: SessionOptions, uasOpts: SessionOptions = {}) {
    const alice = await loopbackEndpoint(closers);
    const bob = await loopbackEndpoint(closers);
    const aliceClock = new FakeScheduler();
    const bobClock = new FakeScheduler();
    const incoming = answerInvites(bob, { ...uasOpts, scheduler: bobClock });
    const uac = new InviteSession(alice, { ...uacOpts, scheduler: aliceClock });
    closers.push(() => uac.close());
    const done = uac.invite(inviteRequest(alice, bob));
    let uas = await incoming.next();
    while (uas.state === 'terminated') uas = await incoming.next(); // answered 422 at once: the retry comes next
    closers.push(() => uas.close());
    const uasStates = statesOf(uas);
    uas.accept({ sdp: ANSWER });
    const out = await done;
    if (out.established) await uasStates.next((e) => e.state === 'confirmed');
    return { alice, bob, aliceClock, bobClock, uac, uas, out };
  }

  function refreshes(s: InviteSession): Events<RefreshEvent> {
    const e = new Events<RefreshEvent>();
    s.on('refresh', e.push);
    return e;
  }

  it('negotiates Session-Expires with refresher=uac; the caller refreshes with UPDATE at half the interval', async () => {
    const { out, uac, uas, aliceClock, bobClock } = await call({ sessionTimer: { expires: 120, refresher: 'uac' } });
    const invite = out.exchange.request!;
    assert.equal(headerText(invite, 'supported'), 'timer');
    assert.equal(headerText(invite, 'session-expires'), '120;refresher=uac');
    assert.equal(headerText(invite, 'min-se'), '90');
    assert.equal(headerText(out.response, 'session-expires'), '120;refresher=uac');
    assert.equal(headerText(out.response, 'require'), 'timer');
    assert.deepEqual(uac.sessionTimer, { interval: 120, weRefresh: true });
    assert.deepEqual(uas.sessionTimer, { interval: 120, weRefresh: false });

    const atUas = refreshes(uas);
    const atUac = refreshes(uac);
    aliceClock.advance(60_000 - 1);
    assert.equal(uac.listenerCount('refresh'), 1);
    aliceClock.advance(1);
    const seen = await atUas.next();
    assert.equal(seen.method, 'UPDATE');
    assert.equal(headerText(seen.exchange.request!, 'session-expires'), '120;refresher=uac');
    const mine = await atUac.next();
    assert.equal(mine.exchange.response.status, 200);
    // The callee's clock restarted at the refresh: only a full interval after it does it give up.
    bobClock.advance((120 - expiryMarginSeconds(120)) * 1000 - 1);
    assert.equal(uas.state, 'confirmed');
    assert.equal(uac.state, 'confirmed');
  });

  it('refreshes with re-INVITE when configured, and ACKs its 2xx', async () => {
    const { uac, uas, aliceClock, bob } = await call({ sessionTimer: { expires: 90, method: 'INVITE' } });
    const acks = new Events<SipRequest>();
    bob.on('wire', (w: WireEvent) => {
      if (w.direction === 'in' && w.wire.startsWith('ACK ')) acks.push(decode(w.wire) as SipRequest);
    });
    const atUas = refreshes(uas);
    aliceClock.advance(45_000);
    const seen = await atUas.next();
    assert.equal(seen.method, 'INVITE');
    const ack = await acks.next((a) => a.headers.cseq.seq === seen.exchange.request!.headers.cseq.seq);
    assert.equal(ack.headers.cseq.seq, seen.exchange.request!.headers.cseq.seq, 'the re-INVITE 2xx was ACKed');
    assert.equal(uas.state, 'confirmed');
    assert.equal(uac.state, 'confirmed');
  });

  it('the side that does not refresh sends BYE at the interval minus min(32, SE/3) without a refresh', async () => {
    const { uac, uas, bobClock } = await call({ sessionTimer: { expires: 120 } });
    const uasStates = statesOf(uas);
    const uacStates = statesOf(uac);
    bobClock.advance((120 - 32) * 1000 - 1);
    assert.equal(uas.state, 'confirmed');
    bobClock.advance(1);
    const ended = await uasStates.next((e) => e.state === 'terminated');
    assert.equal(ended.cause, 'session-expired');
    assert.ok(ended.exchange?.requestWire.startsWith('BYE '));
    assert.equal((await uacStates.next((e) => e.state === 'terminated')).cause, 'remote-bye');
  });

  it('the callee refreshes when the 2xx names it (refresher=uas)', async () => {
    const { uac, uas, bobClock } = await call({ sessionTimer: { expires: 100, refresher: 'uas' } });
    assert.deepEqual(uas.sessionTimer, { interval: 100, weRefresh: true });
    assert.deepEqual(uac.sessionTimer, { interval: 100, weRefresh: false });
    const atUac = refreshes(uac);
    bobClock.advance(50_000);
    const seen = await atUac.next();
    assert.equal(seen.by, 'peer');
    assert.equal(headerText(seen.exchange.request!, 'session-expires'), '100;refresher=uac', 'in the refresh, the callee is the UAC');
    assert.deepEqual(uac.sessionTimer, { interval: 100, weRefresh: false }, 'still the callee that refreshes');
  });

  it('retries after 422 with the Min-SE it names', async () => {
    const { out, uac } = await call({ sessionTimer: { expires: 100 } }, { sessionTimer: { minSE: 300 } });
    assert.deepEqual(out.exchanges.map((e) => e.response.status), [422, 200]);
    assert.equal(headerText(out.exchanges[0]!.response, 'min-se'), '300');
    const retry = out.exchanges[1]!.request!;
    assert.equal(headerText(retry, 'session-expires'), '300;refresher=uac');
    assert.equal(headerText(retry, 'min-se'), '300');
    assert.equal(retry.headers.cseq.seq, out.exchanges[0]!.request!.headers.cseq.seq + 1);
    assert.equal(uac.sessionTimer?.interval, 300);
  });

  it('a refresh answered 481 ends the session with BYE (RFC 4028 10)', async () => {
    const { uac, uas, aliceClock, bob } = await call({ sessionTimer: { expires: 90 } });
    const byes = new Events<string>();
    bob.on('wire', (w: WireEvent) => {
      if (w.direction === 'in' && w.wire.startsWith('BYE ')) byes.push(w.wire);
    });
    uas.close(); // the callee lost the dialog
    const states = statesOf(uac);
    aliceClock.advance(45_000);
    const ended = await states.next((e) => e.state === 'terminated');
    assert.equal(ended.cause, 'refresh-failed');
    assert.equal(ended.status, 481);
    const bye = decode(await byes.next()) as SipRequest;
    assert.equal(bye.headers['call-id'], uac.dialogState?.callId);
  });

  it('negotiation rules: 422 below our Min-SE, lowered to our maximum, refresher chosen when absent', () => {
    const req = (h: Record<string, string>) => ({ headers: h }) as unknown as SipRequest;
    assert.deepEqual(negotiateAsUas(req({ 'session-expires': '60', supported: 'timer' }), {}), { kind: 'reject', minSE: 90 });
    const lowered = negotiateAsUas(req({ 'session-expires': '7200', supported: 'timer' }), { expires: 1800 });
    assert.equal(lowered.kind === 'accept' && lowered.negotiated?.interval, 1800);
    const noRefresher = negotiateAsUas(req({ 'session-expires': '600' }), {});
    assert.deepEqual(noRefresher.kind === 'accept' && noRefresher.negotiated, { interval: 600, refresher: 'uas' }, 'a UAC without timer support cannot refresh');
    const plain = negotiateAsUas(req({}), {});
    assert.deepEqual(plain, { kind: 'accept', headers: {} }, 'no timer asked, none supported by the UAC: none');
    assert.deepEqual(parseSessionExpires(req(timerRequestHeaders({ expires: 50 }))), { interval: 90, refresher: 'uac' }, 'never below 90');
  });
});
