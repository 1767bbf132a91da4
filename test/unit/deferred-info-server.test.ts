// Deferred-message info (seed 004 7.2.6.1) on a real SipEndpoint, driven over
// TCP by a second endpoint that plays the trusted core (it asserts the
// subscriber and takes the NOTIFYs, which follow its Record-Route) and a
// third that is a stranger.
import assert from 'node:assert/strict';
import { readHistoryList, type HistoryList } from '../../lib/deferred/history-list';
import { DeferredMessageStore, type DeferredMessage } from '../../lib/deferred/message-store';
import { DeferredInfoServer, type DeferredInfoServerOptions } from '../../lib/server/deferred-info-server';
import type { ServerRefusal } from '../../lib/server/refusal';
import { SipEndpoint, type IncomingRequest } from '../../lib/sip/endpoint';
import { headerText, type SipRequest, type SipResponse } from '../../lib/sip/message';
import { TrustedSources } from '../../lib/sip/trusted-sources';
import { MemoryStore } from '../../lib/store/memory-store';
import type { SubscriptionReport } from '../../lib/subscription/notifier';
import { subscribeThroughCore } from '../support/core-subscribe';
import { FakeScheduler } from '../support/fake-scheduler';
import { Queue } from '../support/settings-server-fake';

const ALICE = 'sip:alice@lab.test';
const BOB = 'sip:bob@lab.test';
const SERVER_ID = 'sip:im-server@lab.test';

describe('deferred-message info server (seed 004 7.2.6.1)', () => {
  let server: SipEndpoint;
  let core: SipEndpoint;
  let stranger: SipEndpoint;
  let clock: FakeScheduler;
  let messages: DeferredMessageStore;
  let info: DeferredInfoServer;
  let detach: () => void;
  let notifies: Queue<SipRequest>;
  let refusals: ServerRefusal[];

  async function start(extra: Partial<DeferredInfoServerOptions> = {}): Promise<void> {
    server = new SipEndpoint({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    core = new SipEndpoint({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    stranger = new SipEndpoint({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    await Promise.all([server.start(), core.start(), stranger.start()]);
    clock = new FakeScheduler();
    messages = new DeferredMessageStore({ store: new MemoryStore<DeferredMessage>(), scheduler: clock });
    await messages.load();
    info = new DeferredInfoServer(server, {
      messages,
      trusted: new TrustedSources([{ host: '127.0.0.1', port: core.port }]),
      scheduler: clock,
      watchAll: [SERVER_ID],
      ...extra,
    });
    refusals = [];
    info.on('refused', (r: ServerRefusal) => refusals.push(r));
    detach = server.addHandler(info.handle);
    notifies = new Queue<SipRequest>();
    core.addHandler((req: IncomingRequest) => {
      if (req.message.method !== 'NOTIFY') return false;
      req.respond(200);
      notifies.push(req.message);
      return true;
    });
  }

  afterEach(async () => {
    detach();
    info.close();
    messages.close();
    await Promise.all([server.close(), core.close(), stranger.close()]);
  });

  function subscribeRequest(from: SipEndpoint, o: { aor?: string; watcher?: string | null; expires?: number; event?: string; accept?: string } = {}): SipRequest {
    return subscribeThroughCore(from, {
      aor: o.aor ?? ALICE,
      watcher: o.watcher,
      event: o.event ?? 'deferred-messages',
      accept: o.accept ?? 'application/vnd.oma.im.deferred-list+xml',
      expires: o.expires ?? 0,
      corePort: core.port,
    });
  }

  let lastCallId = '';
  async function subscribe(o: Parameters<typeof subscribeRequest>[1] = {}, from = core): Promise<SipResponse> {
    const req = subscribeRequest(from, o);
    lastCallId = req.headers['call-id'];
    return (await from.request(req, { target: { protocol: 'tcp', address: '127.0.0.1', port: server.port } })).response;
  }

  /** The next NOTIFY, which must belong to the last SUBSCRIBE: one for an earlier dialog would come first. */
  async function nextNotifyOfLast(): Promise<SipRequest> {
    const n = await notifies.next();
    assert.equal(n.headers['call-id'], lastCallId, 'a NOTIFY of an earlier dialog came first');
    return n;
  }

  function listOf(notify: SipRequest): HistoryList {
    assert.equal(headerText(notify, 'content-type'), 'application/vnd.oma.im.deferred-list+xml');
    const r = readHistoryList(notify.content ?? '');
    if (!r.ok) assert.fail(r.error);
    return r.list;
  }

  const store = (recipient: string, body: string, sender = BOB) =>
    messages.add({ recipient, sender, contentType: 'text/plain', body, subject: `about ${body}` });

  it('Expires 0 fetches: 200, then one NOTIFY terminated with the history-list of the user’s waiting messages only', async () => {
    await start();
    const fetches: unknown[] = [];
    info.on('fetch', (f: unknown) => fetches.push(f));
    const m1 = await store(ALICE, 'one');
    const m2 = await store(ALICE, 'two', 'sip:carol@lab.test');
    await store(BOB, 'not for alice', ALICE);
    const r = await subscribe({ expires: 0 });
    assert.equal(r.status, 200);
    assert.equal(headerText(r, 'expires'), '0');
    const n = await notifies.next();
    assert.equal(headerText(n, 'event'), 'deferred-messages');
    assert.match(headerText(n, 'subscription-state') ?? '', /^terminated/);
    const list = listOf(n);
    assert.deepEqual(
      list.entries.map((e) => [e.reference, e.size, e.subject, e.pager?.from, e.pager?.timeStamp]),
      [
        [m1.id, 3, 'about one', BOB, new Date(m1.receivedAt).toISOString()],
        [m2.id, 3, 'about two', 'sip:carol@lab.test', new Date(m2.receivedAt).toISOString()],
      ],
    );
    assert.equal(info.watchers, 0, 'a fetch leaves no subscription');
    assert.deepEqual(fetches, [{ aor: ALICE, watcher: ALICE, waiting: 2 }]);
    // No later change reaches a fetch: the next NOTIFY is the next fetch's.
    await store(ALICE, 'three');
    assert.equal((await subscribe({ expires: 0 })).status, 200);
    assert.equal(listOf(await nextNotifyOfLast()).entries.length, 3);
  });

  it('a fetch with nothing waiting gets an empty history-list', async () => {
    await start();
    assert.equal((await subscribe({ expires: 0 })).status, 200);
    assert.deepEqual(listOf(await notifies.next()), { entries: [] });
  });

  it('a subscription gets the list, then a NOTIFY on each arrival and each delivery', async () => {
    await start();
    const reports: SubscriptionReport[] = [];
    info.on('subscription', (r: SubscriptionReport) => reports.push(r));
    const m1 = await store(ALICE, 'one');
    const r = await subscribe({ expires: 600 });
    assert.equal(r.status, 200);
    assert.equal(headerText(r, 'expires'), '600');
    const first = await notifies.next();
    assert.match(headerText(first, 'subscription-state') ?? '', /^active;expires=600/);
    assert.deepEqual(listOf(first).entries.map((e) => e.reference), [m1.id]);
    assert.equal(info.watchers, 1);

    const m2 = await store(ALICE, 'two');
    assert.deepEqual(listOf(await notifies.next()).entries.map((e) => e.reference), [m1.id, m2.id]);
    await store(BOB, 'other user');
    await messages.markDelivered(m1.id);
    assert.deepEqual(listOf(await notifies.next()).entries.map((e) => e.reference), [m2.id], 'bob’s message changed nothing for alice');
    assert.deepEqual(reports.map((x) => `${x.event} ${x.resource}`), [`subscribed ${ALICE}`]);

    // Expiry ends it with a final NOTIFY.
    clock.advance(600 * 1000);
    assert.match(headerText(await notifies.next(), 'subscription-state') ?? '', /^terminated;reason=timeout/);
    assert.equal(info.watchers, 0);
  });

  it('the package name is a setting; other packages are left to other handlers', async () => {
    await start({ event: 'X-Deferred-Info' });
    assert.equal(info.event, 'x-deferred-info');
    assert.notEqual((await subscribe({ event: 'deferred-messages' })).status, 200);
    assert.equal((await subscribe({ event: 'x-deferred-info' })).status, 200);
    assert.equal(headerText(await notifies.next(), 'event'), 'x-deferred-info');
    assert.throws(() => new DeferredInfoServer(server, { messages, trusted: new TrustedSources([]), event: 'bad name' }), /not an event package name/);
  });

  it('believes only the trusted core, and a user sees only their own list (configured servers see all)', async () => {
    await start();
    await store(ALICE, 'secret');
    const cases: Array<[Parameters<typeof subscribeRequest>[1], SipEndpoint, number, RegExp]> = [
      [{}, stranger, 403, /trusted core/],
      [{ watcher: null }, core, 403, /trusted core/],
      [{ watcher: BOB }, core, 403, /only the user/],
      [{ accept: 'application/pidf+xml' }, core, 406, /Not Acceptable/],
    ];
    for (const [o, from, status, reason] of cases) {
      const r = await subscribe(o, from);
      assert.equal(r.status, status, JSON.stringify(o));
      assert.match(r.reason, reason);
    }
    assert.deepEqual(refusals.map((x) => x.status), [403, 403, 403, 406]);
    assert.equal((await subscribe({ watcher: SERVER_ID })).status, 200);
    // Had a refused SUBSCRIBE been sent a NOTIFY, it would come before this one.
    assert.equal(listOf(await nextNotifyOfLast()).entries.length, 1);
  });

  it('keeps a NOTIFY within the byte limit, listing the oldest messages first', async () => {
    await start({ maxNotifyBytes: 2048 });
    for (let i = 0; i < 30; i++) await store(ALICE, `m${i}`);
    assert.equal((await subscribe({ expires: 0 })).status, 200);
    const n = await notifies.next();
    assert.ok(Buffer.byteLength(n.content ?? '', 'utf8') <= 2048);
    const refs = listOf(n).entries.map((e) => e.reference);
    assert.ok(refs.length > 0 && refs.length < 30);
    assert.deepEqual(refs, messages.list(ALICE).slice(0, refs.length).map((m) => m.id));
  });
});
