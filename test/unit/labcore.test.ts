// The lab core's location service and third-party REGISTER, alone, on a fake clock.
import assert from 'node:assert/strict';
import { LocationService, type BindingEvent } from '../../lib/labcore/location';
import { ThirdPartyRegistrations } from '../../lib/labcore/third-party';
import { headerText } from '../../lib/sip/message';
import { FakeScheduler } from '../support/fake-scheduler';
import { ScriptedUa } from '../support/scripted-ua';

const AOR = 'sip:alice@lab.test';
const POC = { '+g.poc.talkburst': null };

function setup() {
  const clock = new FakeScheduler();
  const location = new LocationService(clock);
  const events: BindingEvent[] = [];
  location.on('change', (_aor: string, e: BindingEvent[]) => events.push(...e));
  return { clock, location, events };
}

const update = (callId: string, cseq: number, contacts: { uri: string; expires: number; params?: Record<string, string | null> }[]) => ({
  aor: AOR,
  callId,
  cseq,
  wildcard: false,
  contacts: contacts.map((c) => ({ uri: c.uri, expires: c.expires, params: c.params ?? POC })),
});

describe('lab core: location service (RFC 3261 10.3)', () => {
  it('adds, refreshes, shortens, removes and expires bindings with RFC 3680 event names', () => {
    const { clock, location, events } = setup();
    location.apply(update('c1', 1, [{ uri: 'sip:alice@10.0.0.1', expires: 600 }]));
    location.apply(update('c1', 2, [{ uri: 'sip:alice@10.0.0.1', expires: 600 }]));
    location.apply(update('c1', 3, [{ uri: 'sip:alice@10.0.0.1', expires: 60 }]));
    location.apply(update('c2', 1, [{ uri: 'sip:alice@10.0.0.2', expires: 120 }]));
    location.apply(update('c1', 4, [{ uri: 'sip:alice@10.0.0.1', expires: 0 }]));
    clock.advance(121_000);
    assert.deepEqual(
      events.map((e) => [e.event, e.binding.uri]),
      [
        ['registered', 'sip:alice@10.0.0.1'],
        ['refreshed', 'sip:alice@10.0.0.1'],
        ['shortened', 'sip:alice@10.0.0.1'],
        ['registered', 'sip:alice@10.0.0.2'],
        ['unregistered', 'sip:alice@10.0.0.1'],
        ['expired', 'sip:alice@10.0.0.2'],
      ],
    );
    assert.equal(location.lookup(AOR).length, 0);
  });

  it('refuses an out-of-order REGISTER of the same Call-ID with 500', () => {
    const { location } = setup();
    location.apply(update('c1', 5, [{ uri: 'sip:alice@10.0.0.1', expires: 600 }]));
    const r = location.apply(update('c1', 5, [{ uri: 'sip:alice@10.0.0.1', expires: 300 }]));
    assert.deepEqual(r.ok ? undefined : r.status, 500);
    assert.equal(location.lookup(AOR)[0]!.expires, 600, 'binding unchanged');
  });

  it('lets the same +sip.instance replace its binding from a new address (RFC 5626)', () => {
    const { location } = setup();
    const inst = { '+sip.instance': '"<urn:uuid:1>"' };
    location.apply(update('c1', 1, [{ uri: 'sip:alice@10.0.0.1', expires: 600, params: inst }]));
    location.apply(update('c2', 1, [{ uri: 'sip:alice@10.9.9.9', expires: 600, params: inst }]));
    assert.deepEqual(location.lookup(AOR).map((b) => b.uri), ['sip:alice@10.9.9.9']);
  });

  it('removes every binding on Contact: * except those newer than the request', () => {
    const { location } = setup();
    location.apply(update('c1', 1, [{ uri: 'sip:alice@10.0.0.1', expires: 600 }]));
    location.apply(update('c2', 9, [{ uri: 'sip:alice@10.0.0.2', expires: 600 }]));
    location.apply({ aor: AOR, callId: 'c2', cseq: 5, wildcard: true, contacts: [] });
    assert.deepEqual(location.lookup(AOR).map((b) => b.uri), ['sip:alice@10.0.0.2']);
  });
});

describe('lab core: third-party REGISTER (TS 24.229 5.4.1.7)', () => {
  function thirdParty() {
    const s = setup();
    const ua = new ScriptedUa(() => ({ status: 200 }));
    const tp = new ThirdPartyRegistrations(ua, s.location, {
      serverUri: 'sip:127.0.0.1:5070',
      triggerTags: ['+g.poc.talkburst'],
      coreUri: () => 'sip:127.0.0.1:5060',
      scheduler: s.clock,
    });
    s.location.on('change', (aor: string, e: BindingEvent[]) => tp.onBindings(aor, e));
    return { ...s, ua };
  }
  const sent = (ua: ScriptedUa) => ua.sent.map((r) => [r.uri, r.headers.to.uri, headerText(r, 'expires')]);

  it('tells the server on registration, refresh, dropping the tag and expiry, and only for tagged bindings', async () => {
    const { location, clock, ua } = thirdParty();
    location.apply(update('c1', 1, [{ uri: 'sip:alice@10.0.0.1', expires: 600, params: {} }]));
    assert.equal(ua.sent.length, 0, 'no service tag: nothing for the server');
    location.apply(update('c1', 2, [{ uri: 'sip:alice@10.0.0.1', expires: 600 }]));
    location.apply(update('c1', 3, [{ uri: 'sip:alice@10.0.0.1', expires: 600 }]));
    location.apply(update('c1', 4, [{ uri: 'sip:alice@10.0.0.1', expires: 600, params: {} }]));
    location.apply(update('c1', 5, [{ uri: 'sip:alice@10.0.0.1', expires: 300 }]));
    clock.advance(301_000);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent(ua), [
      ['sip:127.0.0.1:5070', AOR, '600'],
      ['sip:127.0.0.1:5070', AOR, '600'],
      ['sip:127.0.0.1:5070', AOR, '0'],
      ['sip:127.0.0.1:5070', AOR, '300'],
      ['sip:127.0.0.1:5070', AOR, '0'],
    ]);
    assert.equal(ua.sent[0]!.headers.from.uri, 'sip:127.0.0.1:5060');
    assert.equal((ua.sent[0]!.headers.contact as { uri: string }[])[0]!.uri, 'sip:127.0.0.1:5060');
  });
});
