// The settings publication client (RFC 3903, seed 003 5.2.4) against a
// scripted settings server that keeps entity tags as a real one does.
import assert from 'node:assert/strict';
import { SettingsPublisher, type PublicationChange, type SettingsPublisherOptions } from '../../lib/settings/publisher';
import type { SettingsEntity } from '../../lib/settings/settings-types';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { authOf, challenging, expectedResponse, unq } from '../support/digest-peer';
import { FakeScheduler } from '../support/fake-scheduler';
import { ScriptedUa, type ScriptedAnswer } from '../support/scripted-ua';

const AOR = 'sip:alice@lab.test';
const ENTITY: SettingsEntity = { id: 'client-a', poc: { incomingSessionBarring: false, answerMode: 'manual' }, extensions: [] };
const CHANGED: SettingsEntity = { id: 'client-a', poc: { incomingSessionBarring: true, answerMode: 'automatic' }, extensions: [] };

/** An event state compositor in a function: entity tags, expiry, refresh, modify, remove, 412 (RFC 3903 6). */
function compositor(o: { maxExpires?: number; minExpires?: number } = {}) {
  const held = new Map<string, string>();
  let n = 0;
  const answer = (req: SipRequest): ScriptedAnswer => {
    const ifMatch = headerText(req, 'sip-if-match');
    const expires = Number(headerText(req, 'expires') ?? '3600');
    if (ifMatch !== undefined && !held.has(ifMatch)) return { status: 412 };
    if (ifMatch === undefined && !req.content) return { status: 400, reason: 'Bad Request (initial PUBLISH without a body)' };
    if (o.minExpires && expires > 0 && expires < o.minExpires) return { status: 423, headers: { 'min-expires': String(o.minExpires) } };
    const body = req.content || held.get(ifMatch!)!;
    if (ifMatch !== undefined) held.delete(ifMatch);
    if (expires === 0) return { status: 200, headers: { 'sip-etag': ifMatch ?? 'none', expires: '0' } };
    const etag = `etag-${++n}`;
    held.set(etag, body);
    return { status: 200, headers: { 'sip-etag': etag, expires: String(Math.min(expires, o.maxExpires ?? expires)) } };
  };
  return { held, answer };
}

function setup(peer: ScriptedUa['peer'], opts: Partial<SettingsPublisherOptions> = {}) {
  const ua = new ScriptedUa(peer);
  const scheduler = new FakeScheduler();
  const publisher = new SettingsPublisher(ua, {
    aor: AOR,
    username: 'alice',
    password: 'alice-pw',
    enabler: 'poc',
    scheduler,
    ...opts,
  });
  const changes: PublicationChange[] = [];
  publisher.on('change', (c: PublicationChange) => changes.push(c));
  return { ua, scheduler, publisher, changes };
}

describe('SettingsPublisher (RFC 3903 client for poc-settings)', () => {
  it('publishes with the seed 003 5.2.4 headers, the Service-Route as Route, and the settings document', async () => {
    const esc = compositor();
    const { ua, publisher } = setup(esc.answer, { routeSet: ['<sip:orig@scscf.lab.test;lr>'] });
    const out = await publisher.publish(ENTITY);
    assert.equal(ua.sent.length, 1);
    const req = ua.sent[0]!;
    assert.equal(req.method, 'PUBLISH');
    assert.equal(req.uri, AOR);
    assert.equal(req.headers.to.uri, AOR);
    assert.equal(req.headers.from.uri, AOR);
    assert.ok(req.headers.from.params.tag);
    assert.equal(headerText(req, 'event'), 'poc-settings');
    assert.equal(headerText(req, 'accept-contact'), '*;+g.poc.talkburst;require;explicit');
    assert.equal(headerText(req, 'user-agent'), 'PoC-client/OMA2.0');
    assert.equal(headerText(req, 'p-preferred-identity'), `<${AOR}>`, 'the user as originator (seed 003 5.1)');
    assert.equal(headerText(req, 'expires'), '3600');
    assert.equal(headerText(req, 'content-type'), 'application/poc-settings+xml');
    assert.equal(headerText(req, 'sip-if-match'), undefined, 'an initial PUBLISH has no SIP-If-Match');
    assert.deepEqual(req.headers.route?.map((r) => r.uri), ['sip:orig@scscf.lab.test;lr']);
    assert.match(req.content ?? '', /<poc-settings xmlns="urn:oma:params:xml:ns:poc:poc-settings"/);
    assert.match(req.content ?? '', /<entity id="client-a">/);
    assert.match(req.content ?? '', /<answer-mode>manual<\/answer-mode>/);
    assert.equal(out.action, 'publish');
    assert.equal(out.info.state, 'published');
    assert.equal(out.info.etag, 'etag-1');
    assert.equal(out.info.expires, 3600);
    assert.equal(esc.held.get('etag-1'), req.content);
  });

  it('uses the IM feature tag and release for IM and CPM clients, and the registration’s expiry', async () => {
    for (const enabler of ['im', 'cpm'] as const) {
      const { ua, publisher } = setup(compositor().answer, { enabler, release: 'OMA2.0' });
      publisher.follow({ expires: 600, serviceRoute: ['<sip:scscf.lab.test;lr>'] });
      await publisher.publish(ENTITY);
      const req = ua.sent[0]!;
      assert.equal(headerText(req, 'accept-contact'), '*;+g.oma.sip-im;require;explicit', enabler);
      assert.equal(headerText(req, 'user-agent'), `${enabler === 'im' ? 'IM' : 'CPM'}-client/OMA2.0`);
      assert.equal(headerText(req, 'expires'), '600');
      assert.deepEqual(req.headers.route?.map((r) => r.uri), ['sip:scscf.lab.test;lr']);
    }
  });

  it('refreshes before expiry without a body, with SIP-If-Match, and keeps the new entity tag', async () => {
    const esc = compositor({ maxExpires: 1800 });
    const { ua, publisher, scheduler, changes } = setup(esc.answer);
    await publisher.publish(ENTITY);
    assert.equal(publisher.current.expires, 1800, 'the granted expiry, shorter than asked');
    assert.equal(scheduler.nextDelay(), 1200_000, 'refresh 600 s before expiry');
    scheduler.advance(1200_000);
    await publisher.whenIdle();
    assert.equal(ua.sent.length, 2);
    const refresh = ua.sent[1]!;
    assert.equal(headerText(refresh, 'sip-if-match'), 'etag-1');
    assert.equal(refresh.content ?? '', '', 'a refresh has no body');
    assert.equal(headerText(refresh, 'content-type'), undefined);
    assert.equal(refresh.headers['call-id'], ua.sent[0]!.headers['call-id']);
    assert.ok(refresh.headers.cseq.seq > ua.sent[0]!.headers.cseq.seq);
    const done = changes.at(-1)!;
    assert.equal(done.action, 'refresh');
    assert.equal(done.byTimer, true);
    assert.equal(done.info.etag, 'etag-2');
    assert.equal(esc.held.size, 1, 'the server holds one publication');
    assert.equal(scheduler.nextDelay(), 1200_000, 'the next refresh is scheduled');
  });

  it('modifies with a body and SIP-If-Match, and removes with Expires 0 and no timers left', async () => {
    const esc = compositor();
    const { ua, publisher, scheduler } = setup(esc.answer);
    await publisher.publish(ENTITY);
    const mod = await publisher.modify(CHANGED);
    const req = ua.sent[1]!;
    assert.equal(headerText(req, 'sip-if-match'), 'etag-1');
    assert.match(req.content ?? '', /<answer-mode>automatic<\/answer-mode>/);
    assert.equal(mod.action, 'modify');
    assert.equal(mod.byTimer, false);
    assert.equal(mod.info.etag, 'etag-2');
    assert.deepEqual(mod.info.entity, CHANGED);

    const gone = await publisher.remove();
    const rm = ua.sent[2]!;
    assert.equal(headerText(rm, 'expires'), '0');
    assert.equal(headerText(rm, 'sip-if-match'), 'etag-2');
    assert.equal(rm.content ?? '', '');
    assert.equal(gone.info.state, 'removed');
    assert.equal(gone.info.etag, undefined);
    assert.equal(esc.held.size, 0);
    assert.equal(scheduler.pending, 0, 'nothing to refresh after removal');
  });

  it('publishes afresh with the body when the server answers 412 to a refresh or a modify', async () => {
    const esc = compositor();
    const { ua, publisher, scheduler } = setup(esc.answer);
    await publisher.publish(ENTITY);
    esc.held.clear(); // the server lost our publication (restart without a store)
    scheduler.advance(scheduler.nextDelay()!);
    await publisher.whenIdle();
    assert.equal(ua.sent.length, 3);
    assert.equal(headerText(ua.sent[1]!, 'sip-if-match'), 'etag-1');
    const afresh = ua.sent[2]!;
    assert.equal(headerText(afresh, 'sip-if-match'), undefined);
    assert.match(afresh.content ?? '', /<answer-mode>manual<\/answer-mode>/, 'the initial PUBLISH carries the settings again');
    assert.equal(publisher.current.state, 'published');
    assert.equal(publisher.current.etag, 'etag-2');

    esc.held.clear();
    const mod = await publisher.modify(CHANGED);
    assert.equal(mod.action, 'publish');
    assert.deepEqual(mod.exchanges.map((x) => x.response.status), [412, 200]);
    assert.match(ua.sent.at(-1)!.content ?? '', /automatic/);
    assert.equal(headerText(ua.sent.at(-1)!, 'sip-if-match'), undefined);
  });

  it('asks again with Min-Expires after 423, and keeps that expiry for refreshes', async () => {
    const { ua, publisher, scheduler } = setup(compositor({ minExpires: 1200 }).answer, { expires: 300 });
    const out = await publisher.publish(ENTITY);
    assert.deepEqual(out.exchanges.map((x) => x.response.status), [423, 200]);
    assert.equal(headerText(ua.sent[1]!, 'expires'), '1200');
    assert.ok(ua.sent[1]!.content, 'the retry carries the body');
    assert.equal(out.info.expires, 1200);
    scheduler.advance(scheduler.nextDelay()!);
    await publisher.whenIdle();
    assert.equal(headerText(ua.sent[2]!, 'expires'), '1200');
  });

  it('answers 401 and 407 challenges with the user’s credentials for PUBLISH', async () => {
    for (const kind of ['www', 'proxy'] as const) {
      const esc = compositor();
      const { ua, publisher } = setup(challenging('alice-pw', esc.answer, kind));
      const out = await publisher.publish(ENTITY);
      assert.equal(out.info.state, 'published', kind);
      assert.deepEqual(out.exchanges.map((x) => x.response.status), [kind === 'www' ? 401 : 407, 200]);
      const auth = authOf(ua.sent[1]!, kind)!;
      assert.equal(unq(auth.username), 'alice');
      assert.equal(unq(auth.uri), AOR, 'digest-uri is the Request-URI');
      assert.equal(unq(auth.response), expectedResponse(auth, 'alice-pw', 'PUBLISH'));
      assert.equal(ua.sent[1]!.content, ua.sent[0]!.content, 'the body goes again with the credentials');
    }
  });

  it('stops with a clear error on a wrong password and does not retry', async () => {
    const { ua, publisher, scheduler } = setup(challenging('alice-pw', compositor().answer), { password: 'not-it' });
    const out = await publisher.publish(ENTITY);
    assert.equal(out.info.state, 'failed');
    assert.match(out.info.error ?? '', /wrong password for alice/);
    assert.equal(ua.sent.length, 2, 'one answer to the challenge, no more');
    assert.equal(scheduler.pending, 0, 'no retry is scheduled');
  });

  it('backs off after a failure, says why, and publishes when the server is back', async () => {
    let down = true;
    const esc = compositor();
    const { ua, publisher, scheduler, changes } = setup((req) => (down ? { status: 503, headers: { 'retry-after': '30' } } : esc.answer(req)));
    const out = await publisher.publish(ENTITY);
    assert.equal(out.info.state, 'failed');
    assert.match(out.info.error ?? '', /503/);
    assert.equal(out.info.failures, 1);
    const delay = scheduler.nextDelay()!;
    assert.ok(delay >= 30_000, `waits at least Retry-After, waited ${delay}`);
    down = false;
    scheduler.advance(delay);
    await publisher.whenIdle();
    assert.equal(ua.sent.length, 2);
    assert.ok(ua.sent[1]!.content, 'the retry is an initial PUBLISH with the body');
    const back = changes.at(-1)!;
    assert.equal(back.info.state, 'published');
    assert.equal(back.byTimer, true);
    assert.equal(back.info.failures, 0);
  });

  it('sends one PUBLISH at a time: a modify asked during the initial PUBLISH follows it', async () => {
    const esc = compositor();
    const { ua, publisher } = setup(esc.answer);
    const first = publisher.publish(ENTITY);
    const second = publisher.modify(CHANGED);
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.action, 'publish');
    assert.equal(b.action, 'modify');
    assert.equal(ua.sent.length, 2);
    assert.equal(headerText(ua.sent[1]!, 'sip-if-match'), 'etag-1');
    assert.equal(esc.held.size, 1);
  });

  it('close(true) removes the publication; close() leaves it to expire', async () => {
    const esc = compositor();
    const a = setup(esc.answer);
    await a.publisher.publish(ENTITY);
    await a.publisher.close(true);
    assert.equal(headerText(a.ua.sent.at(-1)!, 'expires'), '0');
    assert.equal(esc.held.size, 0);
    assert.equal(a.scheduler.pending, 0);

    const b = setup(esc.answer);
    await b.publisher.publish(ENTITY);
    await b.publisher.close();
    assert.equal(b.ua.sent.length, 1);
    assert.equal(b.scheduler.pending, 0, 'no refresh after close');
    await assert.rejects(setup(esc.answer).publisher.refresh(), /nothing to refresh/);
  });
});
