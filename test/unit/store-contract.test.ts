// The put/delete contract of KeyValueStore, run against every implementation:
// whatever a caller can observe through the interface must not depend on
// which store sits behind it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore } from '../../lib/store/file-store';
import { JournalStore } from '../../lib/store/journal-store';
import { MemoryStore } from '../../lib/store/memory-store';
import type { KeyValueStore } from '../../lib/store/store';
import { AWKWARD_KEYS } from '../support/store-keys';

interface Value {
  n: number;
  text?: string;
  list?: unknown[];
}

interface Storage {
  /** A store over this storage: a new instance each call when the store persists. */
  open(): KeyValueStore<Value>;
  persistent: boolean;
  remove(): void;
}

function sorted<V>(m: Map<string, V>): Array<[string, V]> {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function describeStoreContract(name: string, makeStorage: () => Storage): void {
  describe(`KeyValueStore contract: ${name}`, () => {
    let storage: Storage;
    let open: KeyValueStore<Value>[];

    beforeEach(() => {
      storage = makeStorage();
      open = [];
    });

    afterEach(async () => {
      for (const s of open) await s.close().catch(() => undefined);
      storage.remove();
    });

    async function start(): Promise<KeyValueStore<Value>> {
      const store = storage.open();
      open.push(store);
      await store.load();
      return store;
    }

    /** What a restart would see: a new instance for a persistent store, the same one otherwise. */
    async function restart(store: KeyValueStore<Value>): Promise<Map<string, Value>> {
      if (!storage.persistent) return store.load();
      await store.close();
      return (await start()).load();
    }

    it('starts empty', async () => {
      const store = await start();
      assert.equal((await store.load()).size, 0);
    });

    it('keeps puts, replacements and deletes (an absent key too) across a restart', async () => {
      const store = await start();
      await store.put('one', { n: 1, text: 'first' });
      await store.put('two', { n: 2 });
      await store.put('one', { n: 11, text: 'replaced' });
      await store.put('three', { n: 3 });
      await store.delete('three');
      await store.delete('never-stored');
      assert.deepEqual(sorted(await restart(store)), [
        ['one', { n: 11, text: 'replaced' }],
        ['two', { n: 2 }],
      ]);
    });

    it('keeps keys with slashes, dots, control characters, unicode and great length apart', async () => {
      const store = await start();
      for (const [i, key] of AWKWARD_KEYS.entries()) await store.put(key, { n: i });
      const loaded = await restart(store);
      assert.equal(loaded.size, AWKWARD_KEYS.length);
      for (const [i, key] of AWKWARD_KEYS.entries()) assert.deepEqual(loaded.get(key), { n: i }, `key ${JSON.stringify(key)}`);
    });

    it('keeps values up to a megabyte, with every JSON type, whole', async () => {
      const store = await start();
      const big = { n: 1, text: 'ä€😀x'.repeat(100_000).slice(0, 1024 * 1024 - 64) };
      const mixed = { n: -0.5e-7, text: '', list: [null, true, false, 0, 'z', { deep: [[{}]] }] };
      await store.put('big', big);
      await store.put('mixed', mixed);
      const loaded = await restart(store);
      assert.equal(loaded.get('big')!.text!.length, big.text.length);
      assert.deepEqual(loaded.get('big'), big);
      assert.deepEqual(loaded.get('mixed'), mixed);
    });

    it('stores a copy: changing an object after put, or a loaded one, changes nothing stored', async () => {
      const store = await start();
      const v = { n: 1, list: [1] };
      await store.put('a', v);
      v.n = 2;
      v.list.push(2);
      const first = await store.load();
      assert.deepEqual(first.get('a'), { n: 1, list: [1] });
      first.get('a')!.n = 3;
      assert.deepEqual((await store.load()).get('a'), { n: 1, list: [1] });
    });

    it('resolves writes in the order they were asked, and the last write to a key wins', async () => {
      const store = await start();
      const settled: number[] = [];
      const writes: Promise<void>[] = [];
      // The first value is large, so a store that did not keep order would finish it last.
      writes.push(store.put('k', { n: 0, text: 'x'.repeat(4 * 1024 * 1024) }).then(() => void settled.push(0)));
      for (let i = 1; i <= 20; i++) writes.push(store.put('k', { n: i }).then(() => void settled.push(i)));
      writes.push(store.delete('k').then(() => void settled.push(21)));
      writes.push(store.put('k', { n: 22 }).then(() => void settled.push(22)));
      await Promise.all(writes);
      assert.deepEqual(settled, Array.from({ length: 23 }, (_, i) => i));
      assert.deepEqual(sorted(await restart(store)), [['k', { n: 22 }]]);
    });

    it('ends in the last written state of every key after many concurrent puts and deletes', async () => {
      const store = await start();
      const model = new Map<string, Value>();
      const writes: Promise<void>[] = [];
      // A fixed pseudo-random sequence: the same mix on every run.
      let seed = 7;
      const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
      for (let i = 0; i < 600; i++) {
        const key = `user${next() % 40}/entity`;
        if (next() % 4 === 0) {
          model.delete(key);
          writes.push(store.delete(key));
        } else {
          model.set(key, { n: i });
          writes.push(store.put(key, { n: i }));
        }
      }
      await Promise.all(writes);
      assert.deepEqual(sorted(await store.load()), sorted(model));
      assert.deepEqual(sorted(await restart(store)), sorted(model));
    });

    it('refuses puts and deletes after close, and keeps what was written before', async () => {
      const store = await start();
      await store.put('kept', { n: 1 });
      await store.close();
      await assert.rejects(store.put('kept', { n: 2 }), /closed/);
      await assert.rejects(store.delete('kept'), /closed/);
      const loaded = storage.persistent ? await (await start()).load() : await store.load();
      assert.deepEqual(sorted(loaded), [['kept', { n: 1 }]]);
    });
  });
}

function onDisk(make: (dir: string) => KeyValueStore<Value>): () => Storage {
  return () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-store-contract-'));
    const dir = path.join(root, 'store');
    return { open: () => make(dir), persistent: true, remove: () => fs.rmSync(root, { recursive: true, force: true }) };
  };
}

describeStoreContract('MemoryStore', () => {
  const store = new MemoryStore<Value>();
  return { open: () => store, persistent: false, remove: () => undefined };
});
describeStoreContract('FileStore', onDisk((dir) => new FileStore<Value>(dir)));
describeStoreContract('JournalStore', onDisk((dir) => new JournalStore<Value>(dir)));
describeStoreContract('JournalStore compacting every few records', onDisk((dir) => new JournalStore<Value>(dir, { compactAfter: 5 })));
