import assert from 'node:assert/strict';
import { profileFor } from '../../lib/registration/enablers';
import { Registration, type RegistrationChange, type RegistrationOptions } from '../../lib/registration/registration';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { authOf, challenge, challenging, expectedResponse, unq } from '../support/digest-peer';
import { FakeScheduler } from '../support/fake-scheduler';
import { ScriptedUa, type ScriptedAnswer } from '../support/scripted-ua';

/** A registrar in a function: challenges unauthenticated requests, then grants. */
const registrar = (password: string, grant: (req: SipRequest) => ScriptedAnswer) => challenging(password, grant);

function contactEcho(req: SipRequest, expires: number, extra: Record<string, string> = {}) {
  const c = (req.headers.contact as { uri: string }[])[0]!;
  return { contact: [{ uri: c.uri, params: { expires: String(expires), ...extra } }] };
}

function setup(opts: Partial<RegistrationOptions> & { enabler?: 'poc' | 'im' | 'cpm' }, peer: ScriptedUa['peer']) {
  const ua = new ScriptedUa(peer);
  const scheduler = new FakeScheduler();
  const reg = new Registration(ua, {
    aor: 'sip:alice@lab.test',
    registrar: 'sip:lab.test',
    username: 'alice',
    password: 'alice-pw',
    contactUser: 'alice',
    profile: profileFor({ enabler: opts.enabler ?? 'poc', instanceId: '8a3e2b4c-1d2f-4e5a-9b6c-7d8e9f0a1b2c' }),
    expires: 3600,
    scheduler,
    ...opts,
  });
  const changes: RegistrationChange[] = [];
  reg.on('change', (c: RegistrationChange) => changes.push(c));
  return { ua, scheduler, reg, changes };
}

describe('Registration (client REGISTER state machine)', () => {
  it('registers a PoC client through a 401 challenge with the seed 000 headers and a correct digest', async () => {
    const { ua, reg, changes } = setup({}, registrar('alice-pw', (req) => ({ status: 200, headers: contactEcho(req, 600) })));
    await reg.register();
    assert.equal(ua.sent.length, 2);
    const [first, second] = ua.sent as [SipRequest, SipRequest];
    assert.equal(first.uri, 'sip:lab.test');
    assert.equal(first.headers.to.uri, 'sip:alice@lab.test');
    assert.equal(first.headers.from.uri, 'sip:alice@lab.test');
    const contact = (first.headers.contact as { uri: string; params: Record<string, string | null> }[])[0]!;
    assert.ok('+g.poc.talkburst' in contact.params);
    assert.equal(headerText(first, 'user-agent'), 'PoC-client/OMA2.0');
    assert.equal(headerText(first, 'expires'), '3600');
    assert.equal(second.headers['call-id'], first.headers['call-id'], 'one Call-ID per binding');
    assert.equal(second.headers.cseq.seq, first.headers.cseq.seq + 1);
    const auth = authOf(second)!;
    assert.equal(unq(auth.uri), 'sip:lab.test', 'digest-uri is the Request-URI');
    assert.equal(unq(auth.response), expectedResponse(auth, 'alice-pw', 'REGISTER'));
    const last = changes.at(-1)!;
    assert.equal(last.info.state, 'registered');
    assert.equal(last.info.expires, 600);
    assert.equal(last.exchanges.length, 2);
    assert.match(last.exchanges[1]!.responseWire!, /^SIP\/2\.0 200 /);
  });

  it('re-registers at half the granted time up to 1200 s, and 600 s early above it (TS 24.229)', async () => {
    for (const [granted, refreshAt] of [
      [600, 300],
      [1200, 600],
      [3600, 3000],
    ] as const) {
      const { ua, reg, scheduler } = setup({}, registrar('alice-pw', (req) => ({ status: 200, headers: contactEcho(req, granted) })));
      await reg.register();
      assert.equal(scheduler.nextDelay(), refreshAt * 1000, `granted ${granted}`);
      const before = ua.sent.length;
      scheduler.advance(refreshAt * 1000);
      await reg.whenIdle();
      assert.ok(ua.sent.length > before, 'a refresh REGISTER went out');
      const refresh = ua.sent[before]!;
      assert.equal(refresh.headers['call-id'], ua.sent[0]!.headers['call-id']);
      assert.ok(refresh.headers.cseq.seq > ua.sent[before - 1]!.headers.cseq.seq);
    }
  });

  it('takes the expiry from our own Contact among several bindings, else from Expires', async () => {
    const { reg } = setup({}, registrar('alice-pw', (req) => ({
      status: 200,
      headers: {
        contact: [
          { uri: 'sip:alice@10.0.0.9:5060', params: { expires: '3000' } },
          ...(contactEcho(req, 900).contact),
        ],
      },
    })));
    await reg.register();
    assert.equal(reg.current.expires, 900);
    assert.deepEqual(reg.current.bindings, ['sip:alice@10.0.0.9:5060', 'sip:alice@127.0.0.1:5099']);

    const b = setup({}, registrar('alice-pw', () => ({ status: 200, headers: { expires: '1500' } })));
    await b.reg.register();
    assert.equal(b.reg.current.expires, 1500);
  });

  it('sends the IM tags with Require: pref, and the CPM ICSIs, +sip.instance and gruu option tags', async () => {
    const im = setup({ enabler: 'im' }, () => ({ status: 200 }));
    await im.reg.register();
    const imContact = (im.ua.sent[0]!.headers.contact as { params: Record<string, unknown> }[])[0]!;
    for (const t of ['+g.oma.sip-im', '+g.oma.sip-im.system-message', '+g.oma.sip-im.large-message']) assert.ok(t in imContact.params, t);
    assert.equal(headerText(im.ua.sent[0]!, 'require'), 'pref');
    assert.equal(headerText(im.ua.sent[0]!, 'user-agent'), 'IM-client/OMA1.0');

    const cpm = setup({ enabler: 'cpm', displayName: 'Alice Phone' }, (req) => ({
      status: 200,
      headers: {
        ...contactEcho(req, 3600, { 'pub-gruu': '"sip:alice@lab.test;gr=urn:uuid:8a3e2b4c-1d2f-4e5a-9b6c-7d8e9f0a1b2c"', 'temp-gruu': '"sip:tgruu.7hs==jd7vnzga5w7fajsc7-ajd6fabz0f8g5@lab.test;gr"' }),
        'p-associated-uri': '<sip:alice@lab.test>, <tel:+15551230001>',
        'service-route': '<sip:orig@scscf.lab.test;lr>',
      },
    }));
    await cpm.reg.register();
    const sent = cpm.ua.sent[0]!;
    const c = (sent.headers.contact as { name?: string; params: Record<string, string | null> }[])[0]!;
    assert.match(String(c.params['+g.3gpp.icsi-ref']), /urn%3Aurn-7%3A3gpp-service\.ims\.icsi\.oma\.cpm\.session/);
    assert.match(String(c.params['+g.3gpp.icsi-ref']), /oma\.cpm\.deferred/);
    assert.equal(c.params['+sip.instance'], '"<urn:uuid:8a3e2b4c-1d2f-4e5a-9b6c-7d8e9f0a1b2c>"');
    assert.equal(c.name, '"Alice Phone"');
    assert.equal(headerText(sent, 'supported'), 'gruu');
    assert.equal(headerText(sent, 'require'), 'gruu');
    const info = cpm.reg.current;
    assert.equal(info.gruu.public, 'sip:alice@lab.test;gr=urn:uuid:8a3e2b4c-1d2f-4e5a-9b6c-7d8e9f0a1b2c');
    assert.match(info.gruu.temporary ?? '', /^sip:tgruu\./);
    assert.deepEqual(info.associatedUris, ['sip:alice@lab.test', 'tel:+15551230001']);
    assert.deepEqual(info.serviceRoute, ['<sip:orig@scscf.lab.test;lr>']);
  });

  it('retries with Min-Expires after 423, re-using the nonce with the next nonce count', async () => {
    const { ua, reg } = setup({ expires: 30 }, registrar('alice-pw', (req) =>
      Number(headerText(req, 'expires')) < 60 ? { status: 423, headers: { 'min-expires': '60' } } : { status: 200, headers: contactEcho(req, 60) },
    ));
    await reg.register();
    assert.equal(reg.current.state, 'registered');
    assert.equal(reg.current.expires, 60);
    const last = ua.sent.at(-1)!;
    assert.equal(headerText(last, 'expires'), '60');
    assert.equal(authOf(last)!.nc, '00000002');
  });

  it('stops with a clear error on a wrong password and does not retry', async () => {
    const { ua, reg, scheduler, changes } = setup({ password: 'not-it' }, registrar('alice-pw', () => ({ status: 200 })));
    await reg.register();
    assert.equal(reg.current.state, 'failed');
    assert.match(reg.current.error ?? '', /wrong password for alice/);
    assert.equal(ua.sent.length, 2, 'one answer to the challenge, no more');
    assert.equal(scheduler.pending, 0, 'no retry is scheduled');
    assert.equal(changes.at(-1)!.exchanges.length, 2);
  });

  it('answers a stale nonce again instead of calling the password wrong', async () => {
    let n = 0;
    const { ua, reg } = setup({}, (req) => {
      n++;
      if (n === 1) return { status: 401, headers: challenge('old') };
      if (n === 2) return { status: 401, headers: challenge('new', { stale: 'TRUE' }) };
      assert.equal(unq(authOf(req)!.nonce), 'new');
      return { status: 200 };
    });
    await reg.register();
    assert.equal(reg.current.state, 'registered');
    assert.equal(ua.sent.length, 3);
  });

  it('backs off after failures, honours Retry-After, and recovers', async () => {
    let phase: 'down' | 'busy' | 'up' = 'down';
    const { reg, scheduler } = setup({}, () => {
      if (phase === 'down') return { status: 408, reason: 'Request Timeout' };
      if (phase === 'busy') return { status: 503, headers: { 'retry-after': '120' } };
      return { status: 200 };
    });
    await reg.register();
    assert.equal(reg.current.state, 'failed');
    assert.match(reg.current.error ?? '', /no answer from the core/);
    const d1 = scheduler.nextDelay()!;
    assert.ok(d1 >= 2500 && d1 <= 5000, `first retry in ${d1} ms`);
    scheduler.advance(d1);
    await reg.whenIdle();
    const d2 = scheduler.nextDelay()!;
    assert.equal(reg.current.failures, 2);
    assert.ok(d2 >= 5000 && d2 <= 10000, `second retry in ${d2} ms`);
    phase = 'busy';
    scheduler.advance(d2);
    await reg.whenIdle();
    assert.ok(scheduler.nextDelay()! >= 120_000, 'Retry-After is honoured');
    assert.match(reg.current.error ?? '', /503 .*retry after 120 s/);
    phase = 'up';
    scheduler.advance(scheduler.nextDelay()!);
    await reg.whenIdle();
    assert.equal(reg.current.state, 'registered');
    assert.equal(reg.current.failures, 0);
  });

  it('de-registers the service by re-registering without feature tags, and keeps refreshing the core binding', async () => {
    const { ua, reg, scheduler } = setup({}, (req) => ({ status: 200, headers: contactEcho(req, 600) }));
    await reg.register();
    await reg.deregister('service');
    assert.equal(reg.current.state, 'core-only');
    assert.equal(reg.current.services, false);
    const dereg = ua.sent.at(-1)!;
    const c = (dereg.headers.contact as { params: Record<string, unknown> }[])[0]!;
    assert.ok(!('+g.poc.talkburst' in c.params));
    assert.equal(headerText(dereg, 'expires'), '3600');
    scheduler.advance(300_000);
    await reg.whenIdle();
    const refresh = ua.sent.at(-1)!;
    assert.ok(!('+g.poc.talkburst' in (refresh.headers.contact as { params: Record<string, unknown> }[])[0]!.params));
  });

  it('de-registers from the core with Expires 0 and stops all timers', async () => {
    const { ua, reg, scheduler } = setup({}, (req) => ({ status: 200, headers: contactEcho(req, 600) }));
    await reg.register();
    await reg.deregister('all');
    assert.equal(reg.current.state, 'unregistered');
    assert.equal(headerText(ua.sent.at(-1)!, 'expires'), '0');
    assert.equal(scheduler.pending, 0);
  });

  it('keeps a fault in a listener inside: the state says so, nothing escapes to the host process', async () => {
    const rejections: unknown[] = [];
    const onRejection = (r: unknown) => rejections.push(r);
    process.on('unhandledRejection', onRejection);
    try {
      const { reg } = setup({}, () => ({ status: 200 }));
      reg.on('change', () => {
        throw new Error('a listener bug');
      });
      await reg.register();
      await new Promise((r) => setImmediate(r));
      assert.equal(reg.current.state, 'failed');
      assert.match(reg.current.error ?? '', /internal error: a listener bug/);
      assert.deepEqual(rejections, []);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});
