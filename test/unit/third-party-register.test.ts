// The application server's third-party REGISTER as an attacker and a real core
// meet it: only the trusted core is believed, the expiry is bounded, the table
// of users is capped, and an included client REGISTER or 200 OK is read.
import assert from 'node:assert/strict';
import { ThirdPartyRegisterServer, type ThirdPartyEvent } from '../../lib/server/third-party-register';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { TrustedSources, parseTrustedSources } from '../../lib/sip/trusted-sources';
import { clientRegistrationOf } from '../../lib/server/embedded-register';
import { FakeScheduler } from '../support/fake-scheduler';
import { thirdPartyRegister } from '../support/sip-builders';

const CLIENT_REGISTER = [
  'REGISTER sip:lab.test SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKclient',
  'From: <sip:alice@lab.test>;tag=a1',
  'To: <sip:alice@lab.test>',
  'Call-ID: client-call',
  'CSeq: 2 REGISTER',
  'Contact: <sip:alice@10.0.0.7:5062>;+g.poc.talkburst;+sip.instance="<urn:uuid:0001>";expires=600',
  'Expires: 600',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const CORE_200 = [
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKclient',
  'From: <sip:bob@lab.test>;tag=b1',
  'To: <sip:bob@lab.test>;tag=core',
  'Call-ID: client-call-2',
  'CSeq: 2 REGISTER',
  'Contact: <sip:bob@10.0.0.8:5064>;+g.oma.sip-im;expires=600',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

describe('third-party REGISTER server (seed 003 5.3)', function () {
  this.timeout(15000);
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function endpoint(transport: 'udp' | 'tcp' = 'udp'): Promise<SipEndpoint> {
    const e = new SipEndpoint({ transport, address: '127.0.0.1', port: 0 });
    await e.start();
    closers.push(() => e.close());
    return e;
  }

  async function setup(o: { transport?: 'udp' | 'tcp'; maxUsers?: number; coreName?: string } = {}) {
    const transport = o.transport ?? 'udp';
    const serverEp = await endpoint(transport);
    const core = await endpoint(transport);
    const stranger = await endpoint(transport);
    const clock = new FakeScheduler();
    // A name for the core, resolved by a resolver the test controls.
    const trusted = o.coreName
      ? new TrustedSources([{ host: o.coreName, port: core.port }], async (h) => (h === o.coreName ? ['127.0.0.1'] : []))
      : new TrustedSources([{ host: '127.0.0.1', port: core.port }]);
    const server = new ThirdPartyRegisterServer({ trusted, maxUsers: o.maxUsers, scheduler: clock });
    const events: ThirdPartyEvent[] = [];
    const refused: string[] = [];
    server.on('event', (e: ThirdPartyEvent) => events.push(e));
    server.on('refused', (r: string) => refused.push(r));
    closers.push(
      serverEp.addHandler((req) => {
        if (req.message.method !== 'REGISTER') return false;
        server.handle(req);
        return true;
      }),
    );
    closers.push(() => server.close());
    const serverUri = `sip:127.0.0.1:${serverEp.port}${transport === 'tcp' ? ';transport=tcp' : ''}`;
    const register = (from: SipEndpoint, user: string, expires: string, body?: { type: string; text: string }) =>
      from.request(thirdPartyRegister(from, serverUri, user, expires, body)).then((r) => r.response);
    return { server, core, stranger, events, refused, register, clock };
  }

  for (const transport of ['udp', 'tcp'] as const) {
    it(`believes only the configured core over ${transport.toUpperCase()}: 403 and no output for anyone else`, async () => {
      const { core, stranger, events, refused, register } = await setup({ transport });
      const spoofed = await register(stranger, 'alice', '3600');
      assert.equal(spoofed.status, 403);
      assert.equal(events.length, 0, 'a made-up user is not reported');
      assert.equal(refused.length, 1);
      const real = await register(core, 'alice', '3600');
      assert.equal(real.status, 200);
      assert.deepEqual(events.map((e) => [e.event, e.user]), [['registered', 'sip:alice@lab.test']]);
      // A stranger cannot de-register a real user either.
      assert.equal((await register(stranger, 'alice', '0')).status, 403);
      assert.deepEqual(events.map((e) => e.event), ['registered']);
    });
  }

  it('resolves a core given by name', async () => {
    const { core, stranger, register } = await setup({ coreName: 'core.lab.test' });
    assert.equal((await register(core, 'alice', '600')).status, 200);
    assert.equal((await register(stranger, 'alice', '600')).status, 403);
  });

  it('cuts a huge Expires to the maximum, and refuses one that is not delta-seconds', async () => {
    const { core, events, register } = await setup();
    const long = await register(core, 'alice', '999999999');
    assert.equal(long.status, 200);
    assert.equal(long.headers.expires, '7200');
    assert.equal(events[0]!.expires, 7200);
    for (const bad of ['-1', 'abc', '1e30', '99999999999']) assert.equal((await register(core, 'bob', bad)).status, 400, bad);
    assert.equal(events.length, 1);
  });

  it('caps the users it tracks: one more new user gets 503, known users still refresh and leave', async () => {
    const { server, core, events, refused, register } = await setup({ maxUsers: 2 });
    assert.equal((await register(core, 'u1', '600')).status, 200);
    assert.equal((await register(core, 'u2', '600')).status, 200);
    const full = await register(core, 'u3', '600');
    assert.equal(full.status, 503);
    assert.equal(full.headers['retry-after'], '60');
    assert.match(refused[0]!, /user table full/);
    assert.equal((await register(core, 'u1', '600')).status, 200);
    assert.equal((await register(core, 'u2', '0')).status, 200);
    assert.equal((await register(core, 'u3', '600')).status, 200, 'room again after a user left');
    assert.deepEqual(server.registered().sort(), ['sip:u1@lab.test', 'sip:u3@lab.test']);
    assert.deepEqual(events.map((e) => `${e.event} ${e.user}`), [
      'registered sip:u1@lab.test',
      'registered sip:u2@lab.test',
      'refreshed sip:u1@lab.test',
      'deregistered sip:u2@lab.test',
      'registered sip:u3@lab.test',
    ]);
  });

  it("reports the client's own Contact and feature tags from an included REGISTER (message/sip)", async () => {
    const { core, events, register } = await setup();
    assert.equal((await register(core, 'alice', '600', { type: 'message/sip', text: CLIENT_REGISTER })).status, 200);
    assert.equal(events[0]!.contact, 'sip:alice@10.0.0.7:5062');
    assert.deepEqual(events[0]!.featureTags, ['+g.poc.talkburst', '+sip.instance']);
    assert.equal(events[0]!.instance, 'urn:uuid:0001');
    // Without a body the Contact is the core's, and no feature tags are claimed.
    await register(core, 'bob', '600');
    assert.equal(events[1]!.contact, core.contactUri());
    assert.equal(events[1]!.featureTags, undefined);
  });

  it('reads the 200 OK in a multipart/mixed body, and prefers the REGISTER when both are there', () => {
    const multipart = (parts: string[]) =>
      parts.map((p) => `--b0\r\nContent-Type: message/sip\r\n\r\n${p}\r\n`).join('') + '--b0--\r\n';
    const msg = (text: string) => ({ headers: { 'content-type': 'multipart/mixed;boundary=b0' }, content: text });
    const fromResponse = clientRegistrationOf(msg(multipart([CORE_200])));
    assert.deepEqual(fromResponse, { contact: 'sip:bob@10.0.0.8:5064', featureTags: ['+g.oma.sip-im'], instance: undefined, source: 'response' });
    const both = clientRegistrationOf(msg(multipart([CORE_200, CLIENT_REGISTER])));
    assert.equal(both?.source, 'request');
    assert.equal(both?.contact, 'sip:alice@10.0.0.7:5062');
    assert.equal(clientRegistrationOf({ headers: { 'content-type': 'message/sip' }, content: 'not SIP at all' }), undefined);
    assert.equal(clientRegistrationOf({ headers: { 'content-type': 'text/plain' }, content: CLIENT_REGISTER }), undefined);
  });
});

describe('trusted sources', () => {
  it('reads host[:port] lists and names the bad entries', () => {
    const { sources, errors } = parseTrustedSources('127.0.0.1:5060 core.lab.test, [::1]:5070 bad:port:x');
    assert.deepEqual(sources, [{ host: '127.0.0.1', port: 5060 }, { host: 'core.lab.test' }, { host: '::1', port: 5070 }]);
    assert.equal(errors.length, 1);
  });
});
