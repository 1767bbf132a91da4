// The settings server (seed 003 6.1.1.5, seed 002 steps 16-32) on a real
// SipEndpoint, driven over TCP by a second endpoint that plays the trusted
// core (it adds P-Asserted-Identity and Record-Route, and takes the NOTIFYs
// on the watcher's behalf) and a third that is a stranger. Publications run
// on a fake clock, so expiry needs no waiting.
import assert from 'node:assert/strict';
import { Publications } from '../../lib/settings/publications';
import type { StoredPublication } from '../../lib/settings/publications';
import { readSettings } from '../../lib/settings/settings-reader';
import { writeSettings } from '../../lib/settings/settings-writer';
import type { SettingsDocument } from '../../lib/settings/settings-types';
import { SettingsServer, type SettingsEvent, type SettingsServerOptions } from '../../lib/server/settings-server';
import { SipEndpoint, type IncomingRequest, type RequestResult } from '../../lib/sip/endpoint';
import { headerText, type SipRequest, type SipResponse } from '../../lib/sip/message';
import { TrustedSources } from '../../lib/sip/trusted-sources';
import { MemoryStore } from '../../lib/store/memory-store';
import type { SubscriptionReport } from '../../lib/subscription/notifier';
import { subscribeThroughCore } from '../support/core-subscribe';
import { FakeScheduler } from '../support/fake-scheduler';

const ALICE = 'sip:alice@lab.test';
const BOB = 'sip:bob@lab.test';

function pocDoc(id: string, answerMode: 'automatic' | 'manual', extra: Partial<SettingsDocument['entities'][0]> = {}): string {
  return writeSettings({ entities: [{ id, poc: { answerMode }, extensions: [], ...extra }] });
}

interface PublishSpec {
  aor?: string;
  pai?: string | null;
  acceptContact?: string | null;
  event?: string;
  contentType?: string;
  body?: string;
  ifMatch?: string;
  expires?: number;
}

/** A queue of requests of one method that the core endpoint receives. */
class Inbox {
  private readonly items: IncomingRequest[] = [];
  private waiters: Array<(r: IncomingRequest) => void> = [];
  answer = 200;

  push(r: IncomingRequest): void {
    r.respond(this.answer);
    const w = this.waiters.shift();
    if (w) w(r);
    else this.items.push(r);
  }

  next(): Promise<IncomingRequest> {
    const r = this.items.shift();
    return r ? Promise.resolve(r) : new Promise((resolve) => this.waiters.push(resolve));
  }

  get queued(): number {
    return this.items.length;
  }
}

describe('settings server (seed 003 6.1.1.5 over RFC 3903 and RFC 6665)', () => {
  let server: SipEndpoint;
  let core: SipEndpoint;
  let stranger: SipEndpoint;
  let clock: FakeScheduler;
  let store: MemoryStore<StoredPublication>;
  let publications: Publications;
  let settings: SettingsServer;
  let events: SettingsEvent[];
  let notifies: Inbox;
  let detach: () => void;

  async function start(extra: Partial<SettingsServerOptions> = {}): Promise<void> {
    server = new SipEndpoint({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    core = new SipEndpoint({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    stranger = new SipEndpoint({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    await Promise.all([server.start(), core.start(), stranger.start()]);
    clock = new FakeScheduler();
    store = new MemoryStore<StoredPublication>();
    publications = new Publications({ store, scheduler: clock, minExpires: 60, maxExpires: 7200 });
    await publications.load();
    settings = new SettingsServer(server, {
      publications,
      trusted: new TrustedSources([{ host: '127.0.0.1', port: core.port }]),
      scheduler: clock,
      ...extra,
    });
    events = [];
    settings.on('settings', (e: SettingsEvent) => events.push(e));
    detach = server.addHandler(settings.handle);
    notifies = new Inbox();
    core.addHandler((req) => {
      if (req.message.method !== 'NOTIFY') return false;
      notifies.push(req);
      return true;
    });
  }

  /** The same endpoint and store, a server with other options. */
  function reconfigure(extra: Partial<SettingsServerOptions>): void {
    settings.close();
    detach();
    settings = new SettingsServer(server, {
      publications,
      trusted: new TrustedSources([{ host: '127.0.0.1', port: core.port }]),
      scheduler: clock,
      ...extra,
    });
    detach = server.addHandler(settings.handle);
  }

  beforeEach(() => start());
  afterEach(async () => {
    detach();
    settings.close();
    publications.close();
    await Promise.all([server.close(), core.close(), stranger.close()]);
  });

  const send = (from: SipEndpoint, req: SipRequest): Promise<RequestResult> =>
    from.request(req, { target: { protocol: 'tcp', address: '127.0.0.1', port: server.port } });

  function publishRequest(from: SipEndpoint, s: PublishSpec = {}): SipRequest {
    const aor = s.aor ?? ALICE;
    const headers: SipRequest['headers'] = {
      via: [],
      to: { uri: aor, params: {} },
      from: { uri: aor, params: { tag: from.newTag() } },
      'call-id': from.newCallId(),
      cseq: { seq: 1, method: 'PUBLISH' },
      event: s.event ?? 'poc-settings',
      'user-agent': 'PoC-client/OMA2.0 test',
    };
    if (s.acceptContact !== null) headers['accept-contact'] = s.acceptContact ?? '*;+g.poc.talkburst;require;explicit';
    if (s.pai !== null) headers['p-asserted-identity'] = `<${s.pai ?? aor}>`;
    if (s.ifMatch !== undefined) headers['sip-if-match'] = s.ifMatch;
    if (s.expires !== undefined) headers.expires = String(s.expires);
    const req: SipRequest = { method: 'PUBLISH', uri: aor, version: '2.0', headers };
    const body = s.body ?? (s.ifMatch === undefined ? pocDoc(aor, 'manual') : undefined);
    if (body !== undefined) {
      headers['content-type'] = s.contentType ?? 'application/poc-settings+xml';
      req.content = body;
    }
    return req;
  }

  async function publish(s: PublishSpec = {}, from = core): Promise<SipResponse> {
    return (await send(from, publishRequest(from, s))).response;
  }

  function subscribeRequest(from: SipEndpoint, aor: string, watcher: string | null, expires = 600): SipRequest {
    return subscribeThroughCore(from, { aor, watcher, event: 'poc-settings', accept: 'application/poc-settings+xml', expires, corePort: core.port });
  }

  /** A settings subscription through the core, with its 200 and first NOTIFY. */
  async function watch(aor = ALICE, watcher: string | null = aor, from = core) {
    const req = subscribeRequest(from, aor, watcher);
    const { response } = await send(from, req);
    return { req, response };
  }

  async function stateUnchanged(): Promise<void> {
    await publications.idle();
    assert.equal(publications.size, 0, 'nothing stored');
    assert.equal(store.size, 0, 'nothing persisted');
    assert.equal(events.length, 0, 'nothing announced');
  }

  describe('PUBLISH: each refusal in the seed’s order, and nothing changes', () => {
    it('403 first for an Accept-Contact without the enabler tag, even when every later check fails too', async () => {
      const r = await publish({ acceptContact: '*;+g.3gpp.icsi-ref="x"', event: 'presence', pai: null, contentType: 'text/plain', body: 'junk' }, stranger);
      assert.equal(r.status, 403);
      assert.match(r.reason, /Accept-Contact/);
      const none = await publish({ acceptContact: null }, core);
      assert.equal(none.status, 403);
      await stateUnchanged();
    });

    it('489 with Allow-Events next, for another event, before the originator check', async () => {
      const r = await publish({ acceptContact: '*;+g.oma.sip-im;require;explicit', event: 'presence', pai: null, body: 'junk', contentType: 'text/plain' }, stranger);
      assert.equal(r.status, 489);
      assert.equal(headerText(r, 'allow-events'), 'poc-settings');
      await stateUnchanged();
    });

    it('403 for an originator that no trusted core asserted: a stranger’s P-Asserted-Identity, none at all, another user’s', async () => {
      const fromStranger = await publish({ contentType: 'text/plain', body: 'junk' }, stranger);
      assert.equal(fromStranger.status, 403);
      assert.match(fromStranger.reason, /trusted core/);
      const noPai = await publish({ pai: null, contentType: 'text/plain', body: 'junk' });
      assert.equal(noPai.status, 403);
      const other = await publish({ pai: BOB, contentType: 'text/plain', body: 'junk' });
      assert.equal(other.status, 403);
      assert.match(other.reason, /Request-URI/);
      await stateUnchanged();
    });

    it('415 with Accept for a body of another type, before looking at the body', async () => {
      const r = await publish({ contentType: 'application/pidf+xml', body: '<!DOCTYPE x><x/>' });
      assert.equal(r.status, 415);
      assert.equal(headerText(r, 'accept'), 'application/poc-settings+xml');
      await stateUnchanged();
    });

    const hostile: Array<[string, string, RegExp]> = [
      ['a DOCTYPE', '<?xml version="1.0"?><!DOCTYPE poc-settings [<!ENTITY a "b">]><poc-settings xmlns="urn:oma:params:xml:ns:poc:poc-settings"/>', /DOCTYPE/i],
      ['an entity reference', '<poc-settings xmlns="urn:oma:params:xml:ns:poc:poc-settings"><entity id="&x;"/></poc-settings>', /entit/i],
      ['more than 64 KiB', `<poc-settings xmlns="urn:oma:params:xml:ns:poc:poc-settings"><!--${'x'.repeat(70_000)}--></poc-settings>`, /65536 bytes/],
      ['a body that is not well-formed', '<poc-settings xmlns="urn:oma:params:xml:ns:poc:poc-settings"><entity id="a">', /.+/],
      ['the wrong root', '<presence xmlns="urn:ietf:params:xml:ns:pidf"/>', /wrong root/],
    ];
    for (const [what, body, reason] of hostile) {
      it(`400 with a reason for ${what}`, async () => {
        const r = await publish({ body });
        assert.equal(r.status, 400);
        assert.match(r.reason, reason);
        await stateUnchanged();
      });
    }

    it('412 for an unknown entity tag and 423 with Min-Expires below the minimum (RFC 3903)', async () => {
      const r412 = await publish({ ifMatch: 'no-such-tag' });
      assert.equal(r412.status, 412);
      const r423 = await publish({ expires: 10 });
      assert.equal(r423.status, 423);
      assert.equal(headerText(r423, 'min-expires'), '60');
      await stateUnchanged();
    });

    it('leaves a stored publication as it was after refused modifies, and its entity tag still matches', async () => {
      const first = await publish({ expires: 3600 });
      const tag = headerText(first, 'sip-etag')!;
      await publications.idle();
      const before = structuredClone(publications.list(ALICE));
      const stored = await store.load();
      const attempts: Array<[PublishSpec, SipEndpoint, number]> = [
        [{ ifMatch: tag, acceptContact: null, body: pocDoc(ALICE, 'automatic') }, core, 403],
        [{ ifMatch: tag, event: 'presence', body: pocDoc(ALICE, 'automatic') }, core, 489],
        [{ ifMatch: tag, body: pocDoc(ALICE, 'automatic') }, stranger, 403],
        [{ ifMatch: tag, pai: BOB, body: pocDoc(ALICE, 'automatic') }, core, 403],
        [{ ifMatch: tag, contentType: 'text/plain', body: pocDoc(ALICE, 'automatic') }, core, 415],
        [{ ifMatch: tag, body: '<!DOCTYPE x><poc-settings xmlns="urn:oma:params:xml:ns:poc:poc-settings"/>' }, core, 400],
        [{ ifMatch: tag, expires: 5, body: pocDoc(ALICE, 'automatic') }, core, 423],
      ];
      for (const [spec, from, status] of attempts) assert.equal((await publish(spec, from)).status, status, JSON.stringify(spec));
      await publications.idle();
      assert.deepEqual(publications.list(ALICE), before);
      assert.deepEqual(await store.load(), stored);
      assert.deepEqual(events.map((e) => e.kind), ['initial']);
      assert.equal((await publish({ ifMatch: tag, expires: 3600 })).status, 200, 'the tag still matches');
    });

    it('400 for an Expires that is not delta-seconds', async () => {
      const req = publishRequest(core);
      req.headers.expires = 'soon';
      assert.equal((await send(core, req)).response.status, 400);
      await stateUnchanged();
    });

    it('accepts only the configured feature tags', async () => {
      reconfigure({ featureTags: ['+g.poc.talkburst'] });
      assert.equal((await publish({ acceptContact: '*;+g.oma.sip-im' })).status, 403);
      assert.equal((await publish({ acceptContact: '*;+g.poc.talkburst;require;explicit' })).status, 200);
    });
  });

  describe('PUBLISH: RFC 3903 life of a publication', () => {
    it('stores, refreshes, modifies and removes, answering SIP-ETag and Expires, and tells the flow each time', async () => {
      const first = await publish({ expires: 3600 });
      assert.equal(first.status, 200);
      const tag1 = headerText(first, 'sip-etag');
      assert.ok(tag1);
      assert.equal(headerText(first, 'expires'), '3600');
      assert.equal(settings.users, 1);
      assert.equal(store.size, 1);

      const refresh = await publish({ ifMatch: tag1, expires: 1800 });
      assert.equal(refresh.status, 200);
      const tag2 = headerText(refresh, 'sip-etag');
      assert.ok(tag2 && tag2 !== tag1);
      assert.equal(headerText(refresh, 'expires'), '1800');

      const modify = await publish({ ifMatch: tag2, body: pocDoc(ALICE, 'automatic') });
      assert.equal(modify.status, 200);
      assert.equal(publications.current(ALICE).entities[0]?.poc?.answerMode, 'automatic');
      const tag3 = headerText(modify, 'sip-etag')!;
      assert.equal((await publish({ ifMatch: tag1 })).status, 412, 'an old tag no longer matches');

      const remove = await publish({ ifMatch: tag3, expires: 0 });
      assert.equal(remove.status, 200);
      assert.equal(headerText(remove, 'expires'), '0');
      assert.equal(settings.users, 0);
      assert.equal(store.size, 0);

      assert.deepEqual(events.map((e) => e.kind), ['initial', 'refresh', 'modify', 'remove']);
      const e0 = events[0]!;
      assert.equal(e0.aor, ALICE);
      assert.equal(e0.by, ALICE);
      assert.equal(e0.settingsView.entities[0]?.poc?.answerMode, 'manual');
      assert.equal(e0.offlineDelivery, undefined);
      assert.equal(e0.publication.userAgent, 'PoC-client/OMA2.0 test');
      assert.deepEqual(events[3]!.document, { entities: [] });
    });

    it('says whether offline delivery is active (seed 003 12.2.2.2)', async () => {
      const body = writeSettings({ entities: [{ id: ALICE, im: { offlineDelivery: true }, extensions: [] }] });
      assert.equal((await publish({ acceptContact: '*;+g.oma.sip-im', body })).status, 200);
      assert.equal(events[0]?.offlineDelivery, true);
    });

    it('composes the publications of two clients of one user, and believes a P-Asserted-Identity with a tel URI beside it', async () => {
      const a = await publish({ body: pocDoc('client-a', 'manual') });
      const req = publishRequest(core, { body: pocDoc('client-b', 'automatic') });
      req.headers['p-asserted-identity'] = `<tel:+15551234>, <${ALICE}>`;
      const b = (await send(core, req)).response;
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.notEqual(headerText(a, 'sip-etag'), headerText(b, 'sip-etag'));
      const ids = publications.current(ALICE).entities.map((e) => e.id).sort();
      assert.deepEqual(ids, ['client-a', 'client-b']);
      assert.deepEqual(events.at(-1)!.settingsView.entities.map((e) => e.id).sort(), ['client-a', 'client-b']);
    });
  });

  describe('SUBSCRIBE poc-settings (RFC 6665)', () => {
    it('refuses a stranger, a subscriber without asserted identity and one watching another user, with 403', async () => {
      assert.equal((await watch(ALICE, ALICE, stranger)).response.status, 403);
      assert.equal((await watch(ALICE, null)).response.status, 403);
      assert.equal((await watch(ALICE, BOB)).response.status, 403);
      assert.equal(settings.watchers, 0);
      assert.equal(notifies.queued, 0);
    });

    it('answers 200 and an immediate NOTIFY with an empty document through the core’s Record-Route (seed 002 step 20)', async () => {
      const { response } = await watch();
      assert.equal(response.status, 200);
      assert.ok(headerText(response, 'expires'));
      const n = (await notifies.next()).message;
      assert.equal(n.uri, 'sip:alice-phone@127.0.0.1:5999;transport=tcp', 'to the watcher’s Contact');
      assert.deepEqual(n.headers.route?.map((r) => r.uri), [`sip:127.0.0.1:${core.port};transport=tcp;lr`]);
      assert.equal(headerText(n, 'event'), 'poc-settings');
      assert.equal(headerText(n, 'content-type'), 'application/poc-settings+xml');
      assert.match(headerText(n, 'subscription-state') ?? '', /^active;expires=\d+$/);
      const doc = readSettings(n.content ?? '');
      assert.ok(doc.ok);
      assert.deepEqual(doc.document, { entities: [] });
      assert.equal(settings.watchers, 1);
    });

    it('406 for a SUBSCRIBE that accepts no poc-settings documents', async () => {
      const req = subscribeRequest(core, ALICE, ALICE);
      req.headers.accept = 'application/pidf+xml';
      const { response } = await send(core, req);
      assert.equal(response.status, 406);
      assert.equal(settings.watchers, 0);
    });

    it('lets a configured identity watch anyone', async () => {
      reconfigure({ watchAll: ['sip:poc-server@lab.test'] });
      assert.equal((await watch(ALICE, 'sip:poc-server@lab.test')).response.status, 200);
    });

    it('notifies every watcher of the user on initial, modify, remove and expiry, but not on a refresh', async () => {
      await watch();
      await watch();
      await watch(BOB);
      for (let i = 0; i < 3; i++) await notifies.next();
      const answerModes = async (n: number) => {
        const out: Array<string | undefined> = [];
        for (let i = 0; i < n; i++) {
          const parsed = readSettings((await notifies.next()).message.content ?? '');
          assert.ok(parsed.ok);
          out.push(parsed.document.entities.map((e) => e.poc?.answerMode).join(',') || undefined);
        }
        return out;
      };
      const first = await publish({ expires: 300 });
      assert.deepEqual(await answerModes(2), ['manual', 'manual'], 'both of alice’s watchers, not bob’s');
      const tag = headerText(first, 'sip-etag')!;
      const refreshed = await publish({ ifMatch: tag, expires: 300 });
      assert.equal(refreshed.status, 200);
      const modified = await publish({ ifMatch: headerText(refreshed, 'sip-etag')!, body: pocDoc(ALICE, 'automatic'), expires: 300 });
      assert.equal(modified.status, 200);
      assert.deepEqual(await answerModes(2), ['automatic', 'automatic'], 'the refresh made no NOTIFY: the next ones are the modify’s');

      const other = await publish({ body: pocDoc('client-b', 'manual'), expires: 3600 });
      assert.deepEqual(await answerModes(2), ['automatic,manual', 'automatic,manual']);
      await publish({ ifMatch: headerText(other, 'sip-etag')!, expires: 0 });
      assert.deepEqual(await answerModes(2), ['automatic', 'automatic'], 'the removal');

      clock.advance(300_000);
      assert.deepEqual(await answerModes(2), [undefined, undefined], 'the expiry leaves an empty document');
      assert.equal(events.at(-1)?.kind, 'expired');
      assert.equal(notifies.queued, 0);
    });

    it('refreshes and ends the subscription inside the dialog: un-SUBSCRIBE gets 200 and a terminated NOTIFY', async () => {
      const { req, response } = await watch();
      await notifies.next();
      const inDialog = (seq: number, expires: number): SipRequest => ({
        ...req,
        uri: (response.headers.contact as { uri: string }[])[0]!.uri,
        headers: {
          ...req.headers,
          via: [],
          to: { uri: ALICE, params: { tag: response.headers.to.params.tag } },
          cseq: { seq, method: 'SUBSCRIBE' },
          expires: String(expires),
        },
      });
      const refresh = await send(core, inDialog(2, 900));
      assert.equal(refresh.response.status, 200);
      assert.match(headerText((await notifies.next()).message, 'subscription-state') ?? '', /^active;expires=900$/);
      const un = await send(core, inDialog(3, 0));
      assert.equal(un.response.status, 200);
      assert.equal(headerText((await notifies.next()).message, 'subscription-state'), 'terminated;reason=timeout');
      assert.equal(settings.watchers, 0);
      assert.equal((await send(core, inDialog(4, 600))).response.status, 481);
    });

    it('ends a subscription on its expiry with reason timeout', async () => {
      await watch();
      await notifies.next();
      clock.advance(600_000);
      assert.equal(headerText((await notifies.next()).message, 'subscription-state'), 'terminated;reason=timeout');
      assert.equal(settings.watchers, 0);
    });

    it('drops a watcher whose NOTIFY gets 481', async () => {
      notifies.answer = 481;
      const ended = new Promise<SubscriptionReport>((resolve) =>
        settings.on('subscription', (r: SubscriptionReport) => r.event === 'terminated' && resolve(r)),
      );
      await watch();
      await notifies.next();
      assert.equal((await ended).reason, 'NOTIFY got 481');
      assert.equal(settings.watchers, 0);
      notifies.answer = 200;
      await publish();
      await watch(BOB);
      assert.equal((await notifies.next()).message.headers.to.uri, BOB, 'alice’s change went to nobody');
    });

    it('caps subscriptions: 403 above the cap per watcher, 503 with Retry-After above the total', async () => {
      reconfigure({ maxSubscriptionsPerWatcher: 1, maxSubscriptions: 2 });
      assert.equal((await watch()).response.status, 200);
      assert.equal((await watch()).response.status, 403);
      assert.equal((await watch(BOB)).response.status, 200);
      const full = (await watch('sip:carol@lab.test')).response;
      assert.equal(full.status, 503);
      assert.ok(Number(headerText(full, 'retry-after')) > 0);
      assert.equal(settings.watchers, 2);
    });
  });
});
