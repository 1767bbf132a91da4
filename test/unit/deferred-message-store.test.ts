// The deferred message store: durable before add() resolves, arrival order,
// caps, expiry, delete only on confirmed delivery, and what a failing store
// does (nothing accepted is lost, and the failure is reported).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DeferredMessageStore,
  DeferredStoreError,
  messageContent,
  type DeferredChange,
  type DeferredMessage,
  type DeferredMessageStoreOptions,
} from '../../lib/deferred/message-store';
import { JournalStore } from '../../lib/store/journal-store';
import { MemoryStore } from '../../lib/store/memory-store';
import { FakeScheduler } from '../support/fake-scheduler';
import { FlakyStore } from '../support/flaky-store';

const ALICE = 'sip:alice@lab.test';
const BOB = 'sip:bob@lab.test';

async function rejectsWith(p: Promise<unknown>, code: string, status: number): Promise<DeferredStoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DeferredStoreError, `expected a DeferredStoreError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.status, status);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('deferred message store', () => {
  let clock: FakeScheduler;
  let memory: MemoryStore<DeferredMessage>;
  let flaky: FlakyStore<DeferredMessage>;
  let stores: DeferredMessageStore[];

  function make(o: Partial<DeferredMessageStoreOptions> = {}): DeferredMessageStore {
    const s = new DeferredMessageStore({ store: flaky, scheduler: clock, ...o });
    stores.push(s);
    return s;
  }

  beforeEach(() => {
    clock = new FakeScheduler();
    memory = new MemoryStore<DeferredMessage>();
    flaky = new FlakyStore(memory);
    stores = [];
  });
  afterEach(() => stores.forEach((s) => s.close()));

  it('stores a message with every field, durable before add resolves, and lists it', async () => {
    const s = make();
    await s.load();
    const arrived: DeferredMessage[] = [];
    s.on('arrived', (m: DeferredMessage) => arrived.push(m));
    flaky.hold = true;
    const adding = s.add({
      recipient: 'sip:alice@LAB.test',
      sender: BOB,
      senderName: 'Bob',
      contentType: 'text/plain;charset=utf-8',
      body: 'héllo',
      subject: 'hi',
      time: '2026-12-01T10:00:00Z',
    });
    let done = false;
    void adding.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false, 'add resolved before the write');
    assert.equal(s.count(ALICE), 0, 'listed before the write');
    flaky.release();
    const m = await adding;
    assert.equal(m.recipient, ALICE);
    assert.equal(m.sender, BOB);
    assert.equal(m.senderName, 'Bob');
    assert.equal(m.contentType, 'text/plain;charset=utf-8');
    assert.equal(m.encoding, 'text');
    assert.equal(m.body, 'héllo');
    assert.equal(m.size, 6);
    assert.equal(m.subject, 'hi');
    assert.equal(m.receivedAt, Date.parse('2026-12-01T10:00:00Z'));
    assert.equal(m.expiresAt, clock.now() + 7 * 86400 * 1000);
    assert.deepEqual((await memory.load()).get(m.id), m);
    assert.deepEqual(s.list(ALICE), [m]);
    assert.deepEqual(arrived, [m]);
    assert.equal(s.count(BOB), 0);
  });

  it('keeps binary content in base64 and gives the same bytes back', async () => {
    const s = make();
    await s.load();
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]);
    const m = await s.add({ recipient: ALICE, sender: BOB, contentType: 'application/octet-stream', body: bytes });
    assert.equal(m.encoding, 'base64');
    assert.equal(m.size, 6);
    assert.deepEqual(messageContent(m), bytes);
  });

  it('lists in arrival order even when the writes finish out of order', async () => {
    const s = make();
    await s.load();
    flaky.hold = true;
    const first = s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: '1' });
    const second = s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: '2' });
    await new Promise((r) => setImmediate(r));
    // Let the second write go first.
    flaky.hold = false;
    flaky.releaseAt(1);
    await second;
    flaky.releaseAt(0);
    await first;
    assert.deepEqual(s.list(ALICE).map((m) => m.body), ['1', '2']);
  });

  it('gives unique ids, and an id given again stores nothing new', async () => {
    const s = make();
    await s.load();
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) ids.add((await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: `m${i}` })).id);
    assert.equal(ids.size, 200);
    const a = await s.add({ id: 'msg-1', recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'once' });
    const b = await s.add({ id: 'msg-1', recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'twice' });
    assert.equal(b, a);
    assert.equal(s.count(ALICE), 201);
    await rejectsWith(s.add({ id: 'has space', recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'x' }), 'invalid', 400);
  });

  it('refuses a message over the size limit with a clear error, and stores nothing', async () => {
    const s = make({ maxMessageBytes: 10 });
    await s.load();
    const err = await rejectsWith(s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'x'.repeat(11) }), 'too-large', 413);
    assert.match(err.message, /11 bytes is over the limit of 10 bytes/);
    // The limit counts bytes, not characters.
    await rejectsWith(s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'é'.repeat(6) }), 'too-large', 413);
    await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'x'.repeat(10) });
    assert.equal(s.count(ALICE), 1);
    assert.deepEqual(flaky.calls.length, 1);
  });

  it('caps per user and in total, counting writes still under way', async () => {
    const s = make({ maxPerUser: 2, maxTotal: 3 });
    await s.load();
    flaky.hold = true;
    const a1 = s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: '1' });
    const a2 = s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: '2' });
    await rejectsWith(s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: '3' }), 'user-full', 480);
    const b1 = s.add({ recipient: BOB, sender: ALICE, contentType: 'text/plain', body: '1' });
    await rejectsWith(s.add({ recipient: 'sip:carol@lab.test', sender: ALICE, contentType: 'text/plain', body: '1' }), 'store-full', 503);
    flaky.release();
    await Promise.all([a1, a2, b1]);
    assert.equal(s.size, 3);
    await s.markDelivered(s.list(ALICE)[0]!.id);
    await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: '3' });
    assert.deepEqual(s.list(ALICE).map((m) => m.body), ['2', '3']);
  });

  it('caps the bytes held in total', async () => {
    const s = make({ maxTotalBytes: 10 });
    await s.load();
    await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: '12345678' });
    await rejectsWith(s.add({ recipient: BOB, sender: ALICE, contentType: 'text/plain', body: '123' }), 'store-full', 503);
    assert.equal(s.bytes, 8);
  });

  it('refuses bad input with an error naming the field', async () => {
    const s = make();
    await s.load();
    const base = { recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'x' };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ recipient: 'alice' }, /recipient "alice"/],
      [{ sender: '' }, /sender/],
      [{ sender: 'sip:a\r\nX: y' }, /sender/],
      [{ contentType: 'text' }, /content type "text"/],
      [{ body: 42 }, /body must be text or a Buffer/],
      [{ time: 'yesterday' }, /time "yesterday"/],
      [{ expires: -1 }, /expires/],
    ];
    for (const [change, pattern] of cases) {
      const err = await rejectsWith(s.add({ ...base, ...change } as never), 'invalid', 400);
      assert.match(err.message, pattern);
    }
    assert.equal(flaky.calls.length, 0);
  });

  it('deletes only on confirmed delivery, once, and tells the list watchers', async () => {
    const s = make();
    await s.load();
    const changes: DeferredChange[] = [];
    s.on('change', (c: DeferredChange) => changes.push(c));
    const m = await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'x' });
    assert.equal((await memory.load()).size, 1);
    const [first, second] = await Promise.all([s.markDelivered(m.id), s.markDelivered(m.id)]);
    assert.equal(first, true);
    assert.equal(second, true, 'a second confirmation while the first deletes shares its outcome');
    assert.equal(await s.markDelivered(m.id), false);
    assert.equal((await memory.load()).size, 0);
    assert.equal(s.count(ALICE), 0);
    assert.deepEqual(changes.map((c) => `${c.kind} ${c.aor}`), [`added ${ALICE}`, `delivered ${ALICE}`]);
    assert.equal(flaky.calls.filter((c) => c.startsWith('delete')).length, 1);
  });

  it('a failing store loses nothing: a refused add keeps nothing, a failed delete keeps the message listed', async () => {
    const s = make();
    await s.load();
    const kept = await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'kept' });
    flaky.failWrites = true;
    const err = await rejectsWith(s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'lost?' }), 'store-failed', 500);
    assert.match(err.message, /disk full/);
    assert.deepEqual(s.list(ALICE).map((m) => m.body), ['kept'], 'a failed add shows nowhere');
    flaky.failWrites = false;
    flaky.failDeletes = true;
    await assert.rejects(s.markDelivered(kept.id), /cannot delete deferred message .* \(it stays stored\): read-only/);
    assert.deepEqual(s.list(ALICE), [kept]);
    // After a restart the message is still there, to be delivered again.
    const again = make();
    await again.load();
    assert.deepEqual(again.list(ALICE), [kept]);
    // And the caps still count right after the failed add.
    assert.equal(s.size, 1);
  });

  it('marks several delivered in one store write: each gone with its change event; a failed write keeps all of them', async () => {
    const s = new DeferredMessageStore({ store: memory, scheduler: clock });
    stores.push(s);
    await s.load();
    const added = [];
    for (let i = 0; i < 4; i++) added.push(await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: `m${i}` }));
    const changes: DeferredChange[] = [];
    s.on('change', (c: DeferredChange) => changes.push(c));
    await s.markDeliveredMany([added[0]!.id, added[2]!.id, 'not-stored']);
    assert.deepEqual(s.list(ALICE).map((m) => m.body), ['m1', 'm3']);
    assert.deepEqual(changes.map((c) => `${c.kind} ${c.message.body}`), ['delivered m0', 'delivered m2']);
    assert.deepEqual([...(await memory.load()).keys()].sort(), [added[1]!.id, added[3]!.id].sort());

    // A store without deleteMany (the flaky wrapper) is asked per message; its failure keeps the message.
    const f = make();
    await f.load();
    flaky.failDeletes = true;
    await assert.rejects(f.markDeliveredMany([added[1]!.id, added[3]!.id]), /it stays stored/);
    assert.deepEqual(f.list(ALICE).map((m) => m.body), ['m1', 'm3']);
    assert.deepEqual(flaky.calls.filter((c) => c.startsWith('delete')), [`delete ${added[1]!.id}`, `delete ${added[3]!.id}`]);
  });

  it('expires old messages: not listed once due, deleted by the sweep and at load', async () => {
    const s = make({ maxAgeSeconds: 3600, sweepSeconds: 60 });
    await s.load();
    const changes: DeferredChange[] = [];
    s.on('change', (c: DeferredChange) => changes.push(c));
    const short = await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'short', expires: 100 });
    const long = await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'long', expires: 1e9 });
    assert.equal(long.expiresAt, clock.now() + 3600 * 1000, 'capped at the longest wait');
    clock.advance(100 * 1000);
    assert.deepEqual(s.list(ALICE), [long]);
    clock.advance(60 * 1000);
    await new Promise((r) => setImmediate(r));
    assert.equal((await memory.load()).has(short.id), false);
    assert.deepEqual(changes.map((c) => c.kind), ['added', 'added', 'expired']);
    s.close();
    // Expired while the server was down: gone at load.
    clock.advance(3600 * 1000);
    const later = make();
    await later.load();
    assert.equal(later.count(ALICE), 0);
    assert.equal((await memory.load()).size, 0);
  });

  it('skips and reports a malformed entry at load, keeping it on disk', async () => {
    await memory.put('broken', { id: 'broken' } as DeferredMessage);
    const s = make();
    const errors: Error[] = [];
    s.on('store-error', (e: Error) => errors.push(e));
    await s.load();
    assert.equal(s.size, 0);
    assert.match(errors[0]!.message, /"broken" is malformed/);
    assert.equal((await memory.load()).has('broken'), true);
  });

  it('a listener that throws does not fail the add', async () => {
    const s = make();
    await s.load();
    const errors: Error[] = [];
    s.on('store-error', (e: Error) => errors.push(e));
    s.on('arrived', () => {
      throw new Error('flow bug');
    });
    await s.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'x' });
    assert.equal(s.count(ALICE), 1);
    assert.match(errors[0]!.message, /flow bug/);
  });

  describe('over a JournalStore in a temporary directory', () => {
    let root: string;
    beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-deferred-'))));
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it('a restart keeps every message, its fields and the arrival order, and new ones come after', async () => {
      const journal = new JournalStore<DeferredMessage>(root);
      const s = new DeferredMessageStore({ store: journal, scheduler: clock });
      await s.load();
      // Many adds in one turn: group commit shares the syncs.
      const added = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          s.add({ recipient: i % 3 === 0 ? BOB : ALICE, sender: `sip:u${i}@lab.test`, contentType: 'text/plain', body: `message ${i}` }),
        ),
      );
      await s.markDelivered(added[1]!.id);
      const before = { alice: s.list(ALICE), bob: s.list(BOB) };
      s.close();
      await journal.close();
      assert.ok(journal.stats.flushes < 300, `group commit: ${journal.stats.flushes} flushes for 301 records`);

      const reopened = new JournalStore<DeferredMessage>(root);
      const t = new DeferredMessageStore({ store: reopened, scheduler: clock });
      await t.load();
      assert.deepEqual(t.list(ALICE), before.alice);
      assert.deepEqual(t.list(BOB), before.bob);
      assert.equal(t.count(ALICE), 199);
      assert.equal(t.get(added[1]!.id), undefined);
      const next = await t.add({ recipient: ALICE, sender: BOB, contentType: 'text/plain', body: 'after restart' });
      assert.equal(t.list(ALICE).at(-1), next);
      assert.ok(next.seq > before.alice.at(-1)!.seq);
      t.close();
      await reopened.close();
    });
  });
});
