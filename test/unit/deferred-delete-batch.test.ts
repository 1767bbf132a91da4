// Deferred delivery deletes what the inbox confirmed in groups (one journal
// write for the 200s that came while the previous delete was on the disk),
// and a message keeps its SEND window slot until its delete is durable. What
// a user checks: nothing is deleted before the inbox took it, a crash between
// the 200s and the store's write loses nothing and delivers again at most the
// window (the inbox drops those), and the deletes take few writes.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeferredDelivery, type MessageReport } from '../../lib/deferred/delivery';
import { DeferredMessageStore, type DeferredMessage } from '../../lib/deferred/message-store';
import { MessageIdMemory } from '../../lib/msrp/reassembly';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { JournalStore } from '../../lib/store/journal-store';
import type { KeyValueStore } from '../../lib/store/store';
import { loopbackEndpoint, type Closers } from '../support/settings-client';
import { startInbox } from '../support/deferred-peers';
import { waitFor } from '../support/wait';

const ALICE = 'sip:alice@lab.test';
const COUNT = 20;

/** A journal whose deleteMany waits until the test lets it go (or "crashes" it); every call is recorded. */
class HeldDeletes<T> implements KeyValueStore<T> {
  readonly calls: string[][] = [];
  private held: Array<{ keys: string[]; go: () => void; fail: (e: Error) => void }> = [];
  private mode: 'hold' | 'pass' | 'crashed' = 'hold';

  constructor(
    readonly inner: JournalStore<T>,
    private readonly onDelete: (keys: readonly string[]) => void,
  ) {}

  load(): Promise<Map<string, T>> {
    return this.inner.load();
  }
  put(key: string, value: T): Promise<void> {
    return this.inner.put(key, value);
  }
  delete(key: string): Promise<void> {
    return this.deleteMany([key]);
  }
  deleteMany(keys: readonly string[]): Promise<void> {
    this.onDelete(keys);
    this.calls.push([...keys]);
    if (this.mode === 'pass') return this.inner.deleteMany(keys);
    if (this.mode === 'crashed') return Promise.reject(new Error('the server crashed'));
    return new Promise<void>((resolve, reject) => {
      this.held.push({ keys: [...keys], go: () => this.inner.deleteMany(keys).then(resolve, reject), fail: reject });
    });
  }
  get heldCount(): number {
    return this.held.length;
  }
  release(): void {
    this.mode = 'pass';
    for (const h of this.held.splice(0)) h.go();
  }
  crash(): void {
    this.mode = 'crashed';
    for (const h of this.held.splice(0)) h.fail(new Error('the server crashed'));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('deferred delivery: deletes in groups after the 200s', function () {
  this.timeout(30000);
  const closers: Closers = [];
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-deferred-batch-'));
  });
  /** What a restart would read from the directory. */
  async function onDisk(): Promise<Map<string, DeferredMessage>> {
    const store = new JournalStore<DeferredMessage>(dir);
    try {
      return await store.load();
    } finally {
      await store.close();
    }
  }
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function serverOn(client: SipEndpoint, kv: KeyValueStore<DeferredMessage>, window: number) {
    const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, outboundProxy: { host: '127.0.0.1', port: client.port, transport: 'udp' } });
    await ep.start();
    closers.push(() => ep.close());
    const messages = new DeferredMessageStore({ store: kv });
    await messages.load();
    closers.push(() => messages.close());
    const delivery = new DeferredDelivery({ endpoint: ep, messages, serverUri: 'sip:im-server@lab.test', window });
    closers.push(() => delivery.close());
    const reports: MessageReport[] = [];
    delivery.on('message', (r: MessageReport) => reports.push(r));
    return { messages, delivery, reports };
  }

  function inbox(ep: SipEndpoint, delivered: MessageIdMemory) {
    return startInbox(closers, ep, { delivered });
  }

  async function storeMessages(messages: DeferredMessageStore): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      const m = await messages.add({ recipient: ALICE, sender: `sip:user${i}@lab.test`, contentType: 'text/plain', body: `message ${i}`, time: Date.UTC(2026, 2, 1, 8, i) });
      ids.push(m.id);
    }
    return ids;
  }

  it('a message holds its window slot until its delete is durable; the 200s meanwhile are deleted together; in order, each once', async () => {
    const client = await loopbackEndpoint(closers);
    const memory = new MessageIdMemory();
    const { got } = inbox(client, memory);
    const deletedBeforeTaken: string[] = [];
    const journal = new JournalStore<DeferredMessage>(dir);
    closers.push(() => journal.close());
    const kv = new HeldDeletes(journal, (keys) => {
      for (const k of keys) if (!got.some((m) => m.messageId === k)) deletedBeforeTaken.push(k);
    });
    const { messages, delivery, reports } = await serverOn(client, kv, 4);
    const ids = await storeMessages(messages);
    const done = delivery.deliver(ALICE);
    // A window of 4 and the first delete held: the window's 4 reach the inbox, and no more go
    // until a delete is durable (what a crash would deliver again stays within the window).
    await waitFor(() => got.length === 4 && kv.heldCount === 1, 'the window at the inbox, its first delete held');
    assert.equal(kv.heldCount, 1, 'one delete under way at a time; the 200s after it wait for the next');
    assert.equal(messages.count(ALICE), COUNT, 'nothing deleted before its write is durable');
    assert.equal(got.length, 4, 'no SEND beyond the window while its deletes are not durable');
    kv.release();
    const report = await done;
    assert.equal(report.outcome, 'delivered');
    assert.deepEqual(report.delivered, ids);
    assert.deepEqual(got.map((m) => m.messageId), ids, 'in order');
    assert.deepEqual(deletedBeforeTaken, [], 'no message deleted before the inbox took it');
    assert.ok(kv.calls.length < COUNT, `${kv.calls.length} deletes for ${COUNT} messages`);
    assert.deepEqual(kv.calls.flat(), ids, 'each deleted once, in order');
    assert.deepEqual(reports.map((r) => `${r.id} ${r.status} ${r.error ?? ''}`), ids.map((id) => `${id} delivered `));
    assert.equal(messages.count(ALICE), 0);
    assert.equal((await onDisk()).size, 0, 'and gone from the disk');
  });

  it('a crash between the 200s and the delete loses nothing: after a restart the window goes again and the inbox drops it', async () => {
    const client = await loopbackEndpoint(closers);
    const memory = new MessageIdMemory();
    const { got, duplicates } = inbox(client, memory);
    const journal = new JournalStore<DeferredMessage>(dir);
    closers.push(() => journal.close());
    const kv = new HeldDeletes(journal, () => undefined);
    const first = await serverOn(client, kv, 4);
    const ids = await storeMessages(first.messages);
    const done = first.delivery.deliver(ALICE);
    await waitFor(() => got.length === 4 && kv.heldCount === 1, 'the window at the inbox');
    // The crash: the 200s are in, no delete reached the journal. What a restart reads:
    const afterCrash = await onDisk();
    assert.deepEqual([...afterCrash.keys()].sort(), [...ids].sort(), 'every message is still on the disk');
    // The process dies: no more SENDs, the held write never lands.
    const closing = first.delivery.close();
    kv.crash();
    await closing;
    const ended = await done;
    assert.notEqual(ended.outcome, 'delivered');
    assert.equal(got.length, 4, 'the inbox took the window and no more');

    // The restart: a new store on the same directory, a new delivery.
    const restarted = new JournalStore<DeferredMessage>(dir);
    closers.push(() => restarted.close());
    const again = await serverOn(client, restarted, 256);
    assert.equal(again.messages.count(ALICE), COUNT);
    const report = await again.delivery.deliver(ALICE);
    assert.equal(report.outcome, 'delivered');
    assert.deepEqual(report.delivered, ids);
    assert.deepEqual(got.map((m) => m.messageId), ids, 'each output once, in order');
    assert.deepEqual(duplicates.map((d) => d.messageId), ids.slice(0, 4), 'the window, dropped as duplicates');
    assert.equal(again.messages.count(ALICE), 0);
  });
});
