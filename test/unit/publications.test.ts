import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Publications } from '../../lib/settings/publications';
import type {
  PublicationChange,
  PublishOutcome,
  PublishRequest,
  StoredPublication,
} from '../../lib/settings/publications';
import type { SettingsDocument, SettingsEntity } from '../../lib/settings/settings-types';
import { FileStore } from '../../lib/store/file-store';
import { MemoryStore } from '../../lib/store/memory-store';
import type { KeyValueStore } from '../../lib/store/store';
import { FakeScheduler } from '../support/fake-scheduler';
import { FlakyStore } from '../support/flaky-store';

const ALICE = 'sip:alice@lab.test';
const BOB = 'sip:bob@lab.test';

function entity(id: string, fields: Partial<SettingsEntity> = {}): SettingsEntity {
  return { id, extensions: [], ...fields };
}

function body(...entities: SettingsEntity[]): { text: string; document: SettingsDocument } {
  // The text is opaque to Publications; it only has to travel with the document.
  return { text: `<poc-settings>${entities.map((e) => e.id).join(',')}</poc-settings>`, document: { entities } };
}

type Success = Extract<PublishOutcome, { ok: true }>;
type Failure = Extract<PublishOutcome, { ok: false }>;

function ok(o: PublishOutcome): Success {
  if (!o.ok) assert.fail(`expected success, got ${o.status} ${o.reason}`);
  return o;
}

function refused(o: PublishOutcome, status: number): Failure {
  if (o.ok) assert.fail(`expected ${status}, got success (${o.kind})`);
  assert.equal(o.status, status, o.reason);
  return o;
}

async function stored(store: KeyValueStore<StoredPublication>): Promise<StoredPublication[]> {
  return [...(await store.load()).values()];
}

describe('Publications (RFC 3903 event state of poc-settings)', () => {
  let clock: FakeScheduler;
  let store: MemoryStore<StoredPublication>;
  let pubs: Publications;
  let changes: PublicationChange[];

  function make(s: KeyValueStore<StoredPublication>, extra: Partial<ConstructorParameters<typeof Publications>[0]> = {}) {
    const p = new Publications({ store: s, scheduler: clock, ...extra });
    p.on('change', (c: PublicationChange) => changes.push(c));
    return p;
  }

  // A fresh instance on another store or with other options, as after a redeploy.
  async function reopen(s: KeyValueStore<StoredPublication> = store, extra: Partial<ConstructorParameters<typeof Publications>[0]> = {}) {
    pubs.close();
    pubs = make(s, extra);
    await pubs.load();
  }

  async function reopenFlaky(): Promise<{ flaky: FlakyStore<StoredPublication>; errors: Error[] }> {
    const flaky = new FlakyStore(store);
    const errors: Error[] = [];
    await reopen(flaky);
    pubs.on('store-error', (e: Error) => errors.push(e));
    return { flaky, errors };
  }

  beforeEach(async () => {
    clock = new FakeScheduler();
    store = new MemoryStore();
    changes = [];
    pubs = make(store);
    await pubs.load();
  });

  afterEach(() => pubs.close());

  const initial = (aor: string, b = body(entity(aor, { poc: { answerMode: 'manual' } })), extra: Partial<PublishRequest> = {}) =>
    pubs.publish({ aor, body: b, ...extra });

  describe('initial publication', () => {
    it('stores the state under a new entity tag with the default expiry and reports it', async () => {
      const b = body(entity(ALICE, { poc: { answerMode: 'manual' }, im: { offlineDelivery: true } }));
      const t0 = clock.now();
      const r = ok(await pubs.publish({ aor: ALICE, body: b, by: ALICE, userAgent: 'IM-client/OMA1.0' }));
      assert.equal(r.kind, 'initial');
      assert.equal(r.expires, 3600);
      assert.match(r.etag, /^[0-9a-f]{24}$/);
      assert.deepEqual(r.publication, {
        aor: ALICE,
        etag: r.etag,
        body: b.text,
        document: b.document,
        expiresAt: t0 + 3600_000,
        publishedAt: t0,
        updatedAt: t0,
        by: ALICE,
        userAgent: 'IM-client/OMA1.0',
      });
      assert.deepEqual(await stored(store), [r.publication]);
      assert.deepEqual(pubs.current(ALICE), b.document);
      assert.deepEqual(pubs.aors(), [ALICE]);
      assert.equal(pubs.size, 1);
      assert.equal(changes.length, 1);
      assert.equal(changes[0].kind, 'initial');
      assert.deepEqual(changes[0].document, b.document);
    });

    it('gives each initial publication its own tag, even from one user', async () => {
      const a = ok(await initial(ALICE));
      const b = ok(await initial(ALICE));
      assert.notEqual(a.etag, b.etag);
      assert.equal(pubs.list(ALICE).length, 2);
    });

    it('does not keep a reference to the caller\'s document', async () => {
      const b = body(entity(ALICE, { poc: { answerMode: 'manual' } }));
      ok(await pubs.publish({ aor: ALICE, body: b }));
      b.document.entities[0].poc!.answerMode = 'automatic';
      assert.equal(pubs.current(ALICE).entities[0].poc?.answerMode, 'manual');
      assert.throws(() => {
        (pubs.list(ALICE)[0].document.entities[0].poc as { answerMode: string }).answerMode = 'automatic';
      }, TypeError);
    });
  });

  describe('refusals', () => {
    it('400 without SIP-If-Match and without body', async () => {
      refused(await pubs.publish({ aor: ALICE }), 400);
      refused(await pubs.publish({ aor: ALICE, expires: 3600 }), 400);
    });

    it('400 for an initial publication with Expires 0', async () => {
      refused(await initial(ALICE, undefined, { expires: 0 }), 400);
    });

    it('400 for an Expires that is not a non-negative integer, and for no resource', async () => {
      refused(await initial(ALICE, undefined, { expires: -1 }), 400);
      refused(await initial(ALICE, undefined, { expires: 1.5 }), 400);
      refused(await initial(ALICE, undefined, { expires: Number.NaN }), 400);
      refused(await initial(''), 400);
    });

    it('423 with Min-Expires below the minimum, for initial and refresh alike', async () => {
      assert.equal(refused(await initial(ALICE, undefined, { expires: 59 }), 423).minExpires, 60);
      const r = ok(await initial(ALICE));
      assert.equal(refused(await pubs.publish({ aor: ALICE, ifMatch: r.etag, expires: 1 }), 423).minExpires, 60);
      // The refused refresh left the state as it was.
      ok(await pubs.publish({ aor: ALICE, ifMatch: r.etag }));
    });

    it('honours a configured minimum', async () => {
      await reopen(store, { minExpires: 600 });
      assert.equal(refused(await initial(ALICE, undefined, { expires: 599 }), 423).minExpires, 600);
      assert.equal(ok(await initial(ALICE, undefined, { expires: 600 })).expires, 600);
    });

    it('412 for an unknown tag, whether refresh, modify or remove', async () => {
      ok(await initial(ALICE));
      refused(await pubs.publish({ aor: ALICE, ifMatch: 'nope' }), 412);
      refused(await pubs.publish({ aor: ALICE, ifMatch: 'nope', body: body(entity(ALICE)) }), 412);
      refused(await pubs.publish({ aor: ALICE, ifMatch: 'nope', expires: 0 }), 412);
      assert.equal(pubs.size, 1);
    });

    it('412 for another user\'s tag, leaving that user\'s state alone', async () => {
      const bob = ok(await initial(BOB));
      refused(await pubs.publish({ aor: ALICE, ifMatch: bob.etag, expires: 0 }), 412);
      refused(await pubs.publish({ aor: ALICE, ifMatch: bob.etag, body: body(entity(ALICE)) }), 412);
      assert.deepEqual(pubs.list(BOB), [bob.publication]);
      assert.deepEqual(pubs.list(ALICE), []);
    });
  });

  describe('expiry values', () => {
    it('clamps above the maximum', async () => {
      const t0 = clock.now();
      const r = ok(await initial(ALICE, undefined, { expires: 200_000 }));
      assert.equal(r.expires, 86400);
      assert.equal(r.publication.expiresAt, t0 + 86400_000);
    });

    it('grants what was asked within the range', async () => {
      const r = ok(await initial(ALICE, undefined, { expires: 60 }));
      assert.equal(r.expires, 60);
    });
  });

  describe('refresh, modify, remove', () => {
    it('refresh: new tag, new expiry, same state; the old tag no longer matches', async () => {
      const first = ok(await initial(ALICE));
      clock.advance(1000_000);
      const r = ok(await pubs.publish({ aor: ALICE, ifMatch: first.etag, expires: 1800 }));
      assert.equal(r.kind, 'refresh');
      assert.notEqual(r.etag, first.etag);
      assert.equal(r.expires, 1800);
      assert.deepEqual(r.publication, { ...first.publication, etag: r.etag, expiresAt: clock.now() + 1800_000 });
      assert.deepEqual(await stored(store), [r.publication]);
      assert.equal(changes.at(-1)?.kind, 'refresh');
      refused(await pubs.publish({ aor: ALICE, ifMatch: first.etag }), 412);
      ok(await pubs.publish({ aor: ALICE, ifMatch: r.etag }));
    });

    it('modify: new tag, new body and document, updatedAt moves, publishedAt stays', async () => {
      const first = ok(await initial(ALICE, undefined, { userAgent: 'PoC-client/OMA1.0' }));
      clock.advance(5000);
      const b = body(entity(ALICE, { poc: { answerMode: 'automatic', incomingSessionBarring: true } }));
      const r = ok(await pubs.publish({ aor: ALICE, ifMatch: first.etag, body: b, userAgent: 'PoC-client/OMA2.0' }));
      assert.equal(r.kind, 'modify');
      assert.notEqual(r.etag, first.etag);
      assert.equal(r.publication.body, b.text);
      assert.deepEqual(r.publication.document, b.document);
      assert.equal(r.publication.publishedAt, first.publication.publishedAt);
      assert.equal(r.publication.updatedAt, clock.now());
      assert.equal(r.publication.userAgent, 'PoC-client/OMA2.0');
      assert.deepEqual(pubs.current(ALICE), b.document);
      assert.deepEqual(await stored(store), [r.publication]);
      assert.equal(pubs.size, 1, 'a modify replaces, it does not add');
      assert.equal(changes.at(-1)?.kind, 'modify');
      assert.deepEqual(changes.at(-1)?.document, b.document);
      refused(await pubs.publish({ aor: ALICE, ifMatch: first.etag }), 412);
    });

    it('remove (Expires 0): gone from memory and store, reported, and the tag is dead', async () => {
      const first = ok(await initial(ALICE));
      const r = ok(await pubs.publish({ aor: ALICE, ifMatch: first.etag, expires: 0 }));
      assert.equal(r.kind, 'remove');
      assert.equal(r.expires, 0);
      assert.equal(r.etag, first.etag);
      assert.deepEqual(await stored(store), []);
      assert.deepEqual(pubs.current(ALICE), { entities: [] });
      assert.deepEqual(pubs.aors(), []);
      assert.equal(pubs.size, 0);
      assert.equal(clock.pending, 0, 'its expiry timer is off');
      assert.deepEqual(
        changes.map((c) => [c.kind, c.document.entities.length]),
        [
          ['initial', 1],
          ['remove', 0],
        ],
      );
      refused(await pubs.publish({ aor: ALICE, ifMatch: first.etag, expires: 0 }), 412);
    });
  });

  describe('expiry', () => {
    it('removes an expired publication from memory and store and reports it', async () => {
      const r = ok(await initial(ALICE, undefined, { expires: 60 }));
      clock.advance(59_999);
      await pubs.idle();
      assert.equal(pubs.size, 1);
      clock.advance(1);
      await pubs.idle();
      assert.equal(pubs.size, 0);
      assert.deepEqual(pubs.current(ALICE), { entities: [] });
      assert.deepEqual(await stored(store), []);
      const last = changes.at(-1)!;
      assert.equal(last.kind, 'expired');
      assert.equal(last.publication.etag, r.etag);
      assert.deepEqual(last.document, { entities: [] });
      refused(await pubs.publish({ aor: ALICE, ifMatch: r.etag }), 412);
    });

    it('a refresh pushes the expiry out', async () => {
      const r = ok(await initial(ALICE, undefined, { expires: 3600 }));
      clock.advance(3000_000);
      const refreshed = ok(await pubs.publish({ aor: ALICE, ifMatch: r.etag, expires: 3600 }));
      clock.advance(1000_000);
      await pubs.idle();
      assert.deepEqual(pubs.list(ALICE), [refreshed.publication]);
      clock.advance(2600_000);
      await pubs.idle();
      assert.equal(pubs.size, 0);
      assert.deepEqual(changes.map((c) => c.kind), ['initial', 'refresh', 'expired']);
    });

    it('expires each client\'s publication on its own', async () => {
      ok(await initial(ALICE, body(entity('phone', { im: { invisibility: true } })), { expires: 60 }));
      const desktop = ok(await initial(ALICE, body(entity('desktop', { im: { invisibility: false } })), { expires: 120 }));
      clock.advance(60_000);
      await pubs.idle();
      assert.deepEqual(pubs.list(ALICE), [desktop.publication]);
      assert.deepEqual(changes.at(-1)?.document, desktop.publication.document);
    });

    it('still leaves memory when the store cannot delete, and says so', async () => {
      const { flaky, errors } = await reopenFlaky();
      ok(await initial(ALICE, undefined, { expires: 60 }));
      flaky.failDeletes = true;
      clock.advance(60_000);
      await pubs.idle();
      assert.equal(pubs.size, 0);
      assert.equal(changes.at(-1)?.kind, 'expired');
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /read-only/);
    });
  });

  describe('composition of one user\'s clients', () => {
    it('composes oldest first so the newest publication of each entity wins', async () => {
      const phone = ok(
        await initial(
          ALICE,
          body(
            entity(ALICE, { poc: { answerMode: 'manual', incomingSessionBarring: false }, im: { offlineDelivery: true } }),
            entity('phone-1', { im: { invisibility: true } }),
          ),
        ),
      );
      clock.advance(1000);
      const desktop = ok(
        await initial(
          ALICE,
          body(
            entity(ALICE, { poc: { answerMode: 'automatic' }, extensions: ['<x:v xmlns:x="urn:vendor">1</x:v>'] }),
            entity('desktop-1', { im: { historySessionMode: true } }),
          ),
        ),
      );
      // The user's own entity comes whole from the newest publication; the
      // clients' own entities sit beside it, each where its id first appeared.
      assert.deepEqual(pubs.current(ALICE), {
        entities: [
          entity(ALICE, { poc: { answerMode: 'automatic' }, extensions: ['<x:v xmlns:x="urn:vendor">1</x:v>'] }),
          entity('phone-1', { im: { invisibility: true } }),
          entity('desktop-1', { im: { historySessionMode: true } }),
        ],
      });
      assert.deepEqual(pubs.current(BOB), { entities: [] });

      // The phone changes its mind: now it is the newest.
      clock.advance(1000);
      const phone2 = ok(
        await pubs.publish({ aor: ALICE, ifMatch: phone.etag, body: body(entity(ALICE, { poc: { answerMode: 'manual' } })) }),
      );
      assert.deepEqual(
        pubs.list(ALICE).map((p) => p.etag),
        [desktop.etag, phone2.etag],
      );
      assert.deepEqual(pubs.current(ALICE), {
        entities: [entity(ALICE, { poc: { answerMode: 'manual' } }), entity('desktop-1', { im: { historySessionMode: true } })],
      });

      // A refresh is not a change of settings, so it does not make the desktop the newest.
      clock.advance(1000);
      ok(await pubs.publish({ aor: ALICE, ifMatch: desktop.etag }));
      assert.equal(pubs.current(ALICE).entities[0].poc?.answerMode, 'manual');

      ok(await pubs.publish({ aor: ALICE, ifMatch: phone2.etag, expires: 0 }));
      assert.deepEqual(pubs.current(ALICE), desktop.publication.document);
      assert.deepEqual(changes.at(-1)?.document, desktop.publication.document);
    });
  });

  describe('limits', () => {
    it('503 above the per-user limit, with when to retry; other users unaffected', async () => {
      await reopen(store, { maxPerAor: 2 });
      ok(await initial(ALICE, undefined, { expires: 600 }));
      ok(await initial(ALICE, undefined, { expires: 900 }));
      const r = refused(await initial(ALICE), 503);
      assert.equal(r.retryAfter, 600);
      ok(await initial(BOB));
      clock.advance(600_000);
      await pubs.idle();
      ok(await initial(ALICE));
    });

    it('503 above the total limit', async () => {
      await reopen(store, { maxPublications: 2 });
      ok(await initial(ALICE));
      ok(await initial(BOB));
      refused(await initial('sip:carol@lab.test'), 503);
      assert.equal(pubs.size, 2);
    });

    it('counts initial publications still being stored against the total limit', async () => {
      const flaky = new FlakyStore(store);
      await reopen(flaky, { maxPublications: 2 });
      flaky.hold = true;
      const all = Promise.all(['a', 'b', 'c'].map((u) => initial(`sip:${u}@lab.test`)));
      while (flaky.waiting < 2) await new Promise((r) => setImmediate(r));
      flaky.release();
      const outcomes = await all;
      assert.deepEqual(outcomes.map((o) => (o.ok ? 200 : o.status)).sort(), [200, 200, 503]);
      assert.equal(pubs.size, 2);
    });
  });

  describe('concurrency and the store', () => {
    it('serialises two publishes with the same tag in one tick: one wins, the other gets 412', async () => {
      const first = ok(await initial(ALICE));
      const [a, b] = await Promise.all([
        pubs.publish({ aor: ALICE, ifMatch: first.etag, body: body(entity(ALICE, { poc: { answerMode: 'automatic' } })) }),
        pubs.publish({ aor: ALICE, ifMatch: first.etag, expires: 0 }),
      ]);
      assert.equal(ok(a).kind, 'modify');
      refused(b, 412);
      assert.deepEqual(pubs.list(ALICE), [ok(a).publication]);
      assert.deepEqual(await stored(store), [ok(a).publication]);
    });

    it('serialises initials of one user against the per-user limit', async () => {
      await reopen(store, { maxPerAor: 1 });
      const outcomes = await Promise.all([initial(ALICE), initial(ALICE)]);
      assert.deepEqual(outcomes.map((o) => (o.ok ? 200 : o.status)), [200, 503]);
    });

    it('writes the store before the change is visible or the outcome resolves', async () => {
      const { flaky } = await reopenFlaky();
      const first = ok(await initial(ALICE));
      flaky.hold = true;
      let settled = false;
      const pending = pubs
        .publish({ aor: ALICE, ifMatch: first.etag, body: body(entity(ALICE, { poc: { answerMode: 'automatic' } })) })
        .then((o) => {
          settled = true;
          return o;
        });
      while (flaky.waiting < 1) await new Promise((r) => setImmediate(r));
      assert.equal(settled, false);
      assert.deepEqual(pubs.list(ALICE), [first.publication], 'memory waits for the store');
      assert.equal(changes.length, 1, 'no change reported yet');
      flaky.release();
      const r = ok(await pending);
      assert.deepEqual(pubs.list(ALICE), [r.publication]);
      assert.equal(changes.at(-1)?.kind, 'modify');
    });

    it('a failing store write answers 500 and changes nothing, for initial, refresh, modify and remove', async () => {
      const { flaky, errors } = await reopenFlaky();
      const first = ok(await initial(ALICE, undefined, { expires: 600 }));
      const before = { list: pubs.list(ALICE), current: pubs.current(ALICE), stored: await stored(store), changes: changes.length };
      flaky.failWrites = true;
      flaky.failDeletes = true;
      refused(await initial(ALICE), 500);
      refused(await initial(BOB), 500);
      refused(await pubs.publish({ aor: ALICE, ifMatch: first.etag }), 500);
      refused(await pubs.publish({ aor: ALICE, ifMatch: first.etag, body: body(entity(ALICE)) }), 500);
      refused(await pubs.publish({ aor: ALICE, ifMatch: first.etag, expires: 0 }), 500);
      assert.equal(errors.length, 5);
      assert.deepEqual(pubs.list(ALICE), before.list);
      assert.deepEqual(pubs.current(ALICE), before.current);
      assert.deepEqual(await stored(store), before.stored);
      assert.deepEqual(pubs.aors(), [ALICE]);
      assert.equal(pubs.size, 1);
      assert.equal(changes.length, before.changes);
      // The old tag and the old expiry still hold once the store is back.
      clock.advance(599_000);
      await pubs.idle();
      flaky.failWrites = false;
      ok(await pubs.publish({ aor: ALICE, ifMatch: first.etag }));
    });

    it('a listener that throws does not turn a stored publication into a failure', async () => {
      const listenerErrors: Error[] = [];
      pubs.on('change', () => {
        throw new Error('listener bug');
      });
      pubs.on('listener-error', (e: Error) => listenerErrors.push(e));
      const r = ok(await initial(ALICE));
      assert.deepEqual(pubs.list(ALICE), [r.publication]);
      assert.equal(listenerErrors.length, 1);
    });

    it('refuses publishes after close and leaves no timer running', async () => {
      ok(await initial(ALICE));
      ok(await initial(BOB));
      pubs.close();
      assert.equal(clock.pending, 0);
      refused(await initial(ALICE), 503);
      assert.equal((await stored(store)).length, 2, 'state stays in the store');
    });
  });

  describe('restart with a FileStore', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-publications-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('reloads live publications with their tags and expiry, and drops and deletes expired ones', async () => {
      await reopen(new FileStore(dir));
      const short = ok(await initial(ALICE, body(entity('phone', { im: { offlineDelivery: true } })), { expires: 60 }));
      clock.advance(1000);
      const long = ok(await initial(ALICE, body(entity('desktop', { poc: { answerMode: 'manual' } })), { expires: 3600 }));
      const bob = ok(await initial(BOB, undefined, { expires: 120 }));
      assert.equal(fs.readdirSync(dir).length, 3);
      pubs.close();

      // Node-RED is down for two minutes.
      clock.advance(120_000);
      changes = [];
      const warnings: string[] = [];
      pubs = make(new FileStore(dir, { onWarning: (m) => warnings.push(m) }));
      await pubs.load();
      assert.deepEqual(warnings, []);
      assert.deepEqual(pubs.aors(), [ALICE]);
      assert.deepEqual(pubs.list(ALICE), [long.publication]);
      assert.deepEqual(pubs.current(ALICE), long.publication.document);
      assert.equal(fs.readdirSync(dir).length, 1, 'expired files deleted');
      assert.equal(changes.length, 0, 'loading is not a change');
      refused(await pubs.publish({ aor: ALICE, ifMatch: short.etag }), 412);
      refused(await pubs.publish({ aor: BOB, ifMatch: bob.etag }), 412);

      // The reloaded publication still expires on time and can be refreshed by its tag.
      clock.advance(long.publication.expiresAt - clock.now() - 1);
      await pubs.idle();
      const refreshed = ok(await pubs.publish({ aor: ALICE, ifMatch: long.etag, expires: 60 }));
      clock.advance(60_000);
      await pubs.idle();
      assert.equal(pubs.size, 0);
      assert.deepEqual(changes.map((c) => [c.kind, c.publication.etag]), [
        ['refresh', refreshed.etag],
        ['expired', refreshed.etag],
      ]);
      assert.deepEqual(fs.readdirSync(dir), []);
    });

    it('a refresh or modify rewrites the one file of its publication', async () => {
      await reopen(new FileStore(dir));
      const r = ok(await initial(ALICE));
      const files = fs.readdirSync(dir);
      const m = ok(await pubs.publish({ aor: ALICE, ifMatch: r.etag, body: body(entity(ALICE, { im: { invisibility: true } })) }));
      ok(await pubs.publish({ aor: ALICE, ifMatch: m.etag }));
      assert.deepEqual(fs.readdirSync(dir), files);
    });
  });
});
