// Pager-mode MESSAGE for a user who cannot take it (IMS terminating
// unregistered): stored as a deferred message, answered only once stored, on
// a real SipEndpoint driven over TCP by a trusted core and a stranger.
import assert from 'node:assert/strict';
import { DeferredMessageStore, type DeferredMessage, type DeferredMessageStoreOptions } from '../../lib/deferred/message-store';
import { PagerIntake, type PagerIntakeOptions } from '../../lib/server/pager-intake';
import type { ServerRefusal } from '../../lib/server/refusal';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { headerText, type SipRequest, type SipResponse } from '../../lib/sip/message';
import { TrustedSources } from '../../lib/sip/trusted-sources';
import { MemoryStore } from '../../lib/store/memory-store';
import { FakeScheduler } from '../support/fake-scheduler';
import { FlakyStore } from '../support/flaky-store';

const ALICE = 'sip:alice@lab.test';
const BOB = 'sip:bob@lab.test';

interface MessageSpec {
  to?: string;
  pai?: string | null;
  from?: string;
  fromName?: string;
  contentType?: string | null;
  body?: string;
  expires?: string;
  subject?: string;
}

describe('pager-mode MESSAGE intake (deferred messages)', () => {
  let server: SipEndpoint;
  let core: SipEndpoint;
  let stranger: SipEndpoint;
  let clock: FakeScheduler;
  let flaky: FlakyStore<DeferredMessage>;
  let messages: DeferredMessageStore;
  let intake: PagerIntake;
  let detach: () => void;
  let stored: DeferredMessage[];
  let refusals: ServerRefusal[];

  async function start(o: Partial<PagerIntakeOptions> = {}, storeOptions: Partial<DeferredMessageStoreOptions> = {}): Promise<void> {
    server = new SipEndpoint({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    core = new SipEndpoint({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    stranger = new SipEndpoint({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    await Promise.all([server.start(), core.start(), stranger.start()]);
    clock = new FakeScheduler();
    flaky = new FlakyStore(new MemoryStore<DeferredMessage>());
    messages = new DeferredMessageStore({ store: flaky, scheduler: clock, ...storeOptions });
    await messages.load();
    intake = new PagerIntake({ messages, trusted: new TrustedSources([{ host: '127.0.0.1', port: core.port }]), ...o });
    stored = [];
    refusals = [];
    intake.on('stored', (m: DeferredMessage) => stored.push(m));
    intake.on('refused', (r: ServerRefusal) => refusals.push(r));
    detach = server.addHandler(intake.handle);
  }

  afterEach(async () => {
    detach();
    messages.close();
    await Promise.all([server.close(), core.close(), stranger.close()]);
  });

  function messageRequest(from: SipEndpoint, s: MessageSpec = {}): SipRequest {
    const to = s.to ?? ALICE;
    const headers: SipRequest['headers'] = {
      via: [],
      to: { uri: to, params: {} },
      from: { uri: s.from ?? BOB, params: { tag: from.newTag() }, ...(s.fromName ? { name: s.fromName } : {}) },
      'call-id': from.newCallId(),
      cseq: { seq: 1, method: 'MESSAGE' },
    };
    if (s.pai !== null) headers['p-asserted-identity'] = `<${s.pai ?? BOB}>`;
    if (s.contentType !== null) headers['content-type'] = s.contentType ?? 'text/plain;charset=utf-8';
    if (s.expires !== undefined) headers.expires = s.expires;
    if (s.subject !== undefined) headers.subject = s.subject;
    return { method: 'MESSAGE', uri: to, version: '2.0', headers, content: s.body ?? 'Hello Alice' };
  }

  async function send(s: MessageSpec = {}, from = core): Promise<SipResponse> {
    return (await from.request(messageRequest(from, s), { target: { protocol: 'tcp', address: '127.0.0.1', port: server.port } })).response;
  }

  it('stores the message with the asserted sender, the time of arrival, content type and body, then answers 202', async () => {
    await start();
    const r = await send({ fromName: '"Bob B."', body: 'Hello Alice ✓', subject: 'lunch' });
    assert.equal(r.status, 202);
    const [m] = messages.list(ALICE);
    assert.ok(m);
    assert.equal(m.sender, BOB);
    assert.equal(m.senderName, 'Bob B.');
    assert.equal(m.recipient, ALICE);
    assert.equal(m.contentType, 'text/plain;charset=utf-8');
    assert.equal(m.body, 'Hello Alice ✓');
    assert.equal(m.subject, 'lunch');
    assert.equal(m.receivedAt, clock.now());
    assert.deepEqual(stored, [m]);
    assert.deepEqual((await flaky.inner.load()).get(m.id), m, 'durable');
  });

  it('answers only after the store: a held write holds the answer, a failed write is a 500 and keeps nothing', async () => {
    await start();
    flaky.hold = true;
    let answered: SipResponse | undefined;
    const pending = send().then((r) => (answered = r));
    while (flaky.waiting === 0) await new Promise((r) => setImmediate(r));
    assert.equal(answered, undefined);
    assert.equal(messages.count(ALICE), 0);
    flaky.release();
    assert.equal((await pending).status, 202);
    assert.equal(messages.count(ALICE), 1);

    flaky.failWrites = true;
    const failed = await send({ body: 'second' });
    assert.equal(failed.status, 500);
    assert.doesNotMatch(failed.reason, /disk/, 'the store’s error stays in the log');
    assert.match(refusals.at(-1)!.reason, /disk full/);
    assert.deepEqual(messages.list(ALICE).map((m) => m.body), ['Hello Alice']);
    assert.equal(stored.length, 1);
  });

  it('takes the sender from From when the core asserted no one, and prefers a SIP identity over tel', async () => {
    await start();
    assert.equal((await send({ pai: null, from: 'sip:carol@other.test' })).status, 202);
    const req = messageRequest(core);
    req.headers['p-asserted-identity'] = `<tel:+15551234>, <${BOB}>`;
    assert.equal((await core.request(req, { target: { protocol: 'tcp', address: '127.0.0.1', port: server.port } })).response.status, 202);
    assert.deepEqual(messages.list(ALICE).map((m) => m.sender), ['sip:carol@other.test', BOB]);
  });

  it('answers 200 instead when configured', async () => {
    await start({ successStatus: 200 });
    assert.equal((await send()).status, 200);
  });

  it('refuses: 403 from an untrusted source, 413 over the size limit, 415 for a type not accepted, 400 without body or type', async () => {
    await start({ acceptTypes: ['text/*', 'message/cpim'] }, { maxMessageBytes: 20 });
    const cases: Array<[MessageSpec, SipEndpoint, number, RegExp]> = [
      [{}, stranger, 403, /trusted core/],
      [{ body: 'x'.repeat(21) }, core, 413, /21 bytes is over the limit of 20/],
      [{ contentType: 'application/octet-stream' }, core, 415, /Unsupported Media Type/],
      [{ body: '' }, core, 400, /without a body/],
      [{ contentType: null }, core, 400, /without Content-Type/],
      [{ expires: 'soon' }, core, 400, /delta-seconds/],
      [{ to: 'urn:service:x' }, core, 404, /not a user/],
    ];
    for (const [spec, from, status, reason] of cases) {
      const r = await send(spec, from);
      assert.equal(r.status, status, JSON.stringify(spec));
      assert.match(r.reason, reason);
      if (status === 415) assert.equal(headerText(r, 'accept'), 'text/*, message/cpim');
    }
    assert.deepEqual(refusals.map((x) => x.status), cases.map((c) => c[2]));
    assert.equal(messages.size, 0);
    assert.equal(flaky.calls.length, 0);
    assert.equal((await send({ contentType: 'message/CPIM' })).status, 202);
    assert.equal((await send({ contentType: 'text/html' })).status, 202);
  });

  it('480 when the user’s box is full, 503 with Retry-After when the store is', async () => {
    await start({}, { maxPerUser: 1, maxTotal: 2 });
    assert.equal((await send()).status, 202);
    const full = await send();
    assert.equal(full.status, 480);
    assert.match(full.reason, /messages waiting/);
    assert.equal((await send({ to: 'sip:carol@lab.test' })).status, 202);
    const store = await send({ to: 'sip:dave@lab.test' });
    assert.equal(store.status, 503);
    assert.equal(headerText(store, 'retry-after'), '300');
  });

  it('keeps a message no longer than its Expires says', async () => {
    await start();
    assert.equal((await send({ expires: '120' })).status, 202);
    assert.equal(messages.list(ALICE)[0]?.expiresAt, clock.now() + 120_000);
  });

  it('leaves MESSAGEs for users it does not serve to other handlers', async () => {
    await start({ serves: (aor) => aor === ALICE });
    const other = await send({ to: BOB });
    assert.notEqual(other.status, 202);
    assert.equal(messages.size, 0);
    assert.equal((await send()).status, 202);
  });
});
