import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { crc32, crc32Portable } from '../../lib/store/crc32';
import { decodeBody, encodeRecord, putBody, readFrames } from '../../lib/store/journal-format';
import { JournalStore, type JournalStoreOptions } from '../../lib/store/journal-store';

interface Value {
  n: number;
  text?: string;
}

function sorted<V>(m: Map<string, V>): Array<[string, V]> {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The byte offsets of each line of a store file. */
function frames(file: string): Array<{ start: number; end: number; body?: string }> {
  return [...readFrames(fs.readFileSync(file))];
}

// Five changes, each record of which matters to the state after it.
const REPLACE_AND_DELETE: Array<[string, number | null]> = [
  ['a', 1],
  ['b', 2],
  ['a', 3],
  ['b', null],
  ['c', 5],
];

describe('JournalStore', () => {
  let root: string;
  let dir: string;
  let stores: JournalStore<Value>[];

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-journal-store-'));
    dir = path.join(root, 'store');
    stores = [];
  });

  afterEach(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });

  function make(at = dir, options: JournalStoreOptions = {}): JournalStore<Value> {
    const store = new JournalStore<Value>(at, options);
    stores.push(store);
    return store;
  }

  /** A fresh instance's view of a directory, with what it warned about. */
  async function reload(at = dir, options: JournalStoreOptions = {}): Promise<{ map: Map<string, Value>; warnings: string[]; store: JournalStore<Value> }> {
    const warnings: string[] = [];
    const store = make(at, { ...options, onWarning: (m) => warnings.push(m) });
    const map = await store.load();
    return { map, warnings, store };
  }

  /** Writes the given changes one by one, each durable before the next, and closes. */
  async function writeSequence(at: string, ops: Array<[string, number | null]>, options: JournalStoreOptions = {}): Promise<void> {
    const store = make(at, options);
    await store.load();
    for (const [key, n] of ops) await (n === null ? store.delete(key) : store.put(key, { n, text: `value of ${key}` }));
    await store.close();
  }

  it('computes the CRC-32 of RFC 1952 (check value of "123456789"), natively and portably alike', () => {
    for (const f of [crc32, crc32Portable]) {
      assert.equal(f(Buffer.from('123456789')), 0xcbf43926);
      assert.equal(f(Buffer.alloc(0)), 0);
    }
    for (let i = 0; i < 20; i++) {
      const data = randomBytes(i * 97);
      assert.equal(crc32(data), crc32Portable(data));
    }
  });

  it('writes the puts of one turn in one flush, and resolves none before that flush', async () => {
    const store = make();
    await store.load();
    const flushesSeen: number[] = [];
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.put(`user${i}`, { n: i }).then(() => void flushesSeen.push(store.stats.flushes))));
    assert.equal(store.stats.flushes, 1);
    assert.equal(store.stats.records, 200);
    assert.equal(flushesSeen.length, 200);
    assert.ok(flushesSeen.every((f) => f === 1), 'every put resolved after the flush');
    assert.equal((await reload()).map.size, 200);
  });

  it('gathers the writes that arrive during a flush into the next one', async () => {
    const store = make();
    await store.load();
    const first = store.put('first', { n: 0 });
    // One microtask on, the first flush has its batch and is waiting for the disk.
    await Promise.resolve();
    assert.equal(store.stats.flushes, 0);
    const later = Array.from({ length: 50 }, (_, i) => (i % 5 === 4 ? store.delete(`k${i - 1}`) : store.put(`k${i}`, { n: i })));
    await first;
    assert.equal(store.stats.flushes, 1, 'the first put did not wait for the later ones');
    await Promise.all(later);
    assert.equal(store.stats.flushes, 2, 'the 50 writes that arrived during the first flush shared one');
    assert.equal(store.stats.records, 51);
    // Awaited one by one, each write pays its own flush: none is held back.
    await store.put('a', { n: 1 });
    await store.delete('a');
    assert.equal(store.stats.flushes, 4);
    assert.equal((await reload()).map.size, 31, "first, and 40 puts of which 10 were deleted");
  });

  it('deletes many keys in one record group: one flush, every key counted, gone after a reload, absent keys no error', async () => {
    const store = make();
    await store.load();
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.put(`k${i}`, { n: i })));
    const before = store.stats;
    await store.deleteMany(['k1', 'k2', 'k3', 'nothing-here', 'k9']);
    assert.equal(store.stats.flushes, before.flushes + 1);
    assert.equal(store.stats.records, before.records + 5);
    assert.equal(store.stats.liveEntries, 6);
    await store.deleteMany([]);
    assert.equal(store.stats.flushes, before.flushes + 1, 'nothing to delete, nothing written');
    assert.deepEqual([...(await reload()).map.keys()].sort(), ['k0', 'k4', 'k5', 'k6', 'k7', 'k8']);
  });

  it('a group of deletes torn by a crash: its whole records count on reload, the torn one does not (that key stays)', async () => {
    const store = make();
    await store.load();
    await Promise.all(['a', 'b', 'c'].map((k, i) => store.put(k, { n: i })));
    const size = fs.statSync(path.join(dir, 'journal-0.log')).size;
    await store.deleteMany(['a', 'b', 'c']);
    await store.close();
    // The crash cut the group's write short: the last record is torn, so replay stops at it.
    fs.truncateSync(path.join(dir, 'journal-0.log'), fs.statSync(path.join(dir, 'journal-0.log')).size - 3);
    const { map } = await reload();
    assert.deepEqual([...map.keys()].sort(), ['c'], 'the whole records before the tear are replayed, the torn one is not');
    assert.ok(fs.statSync(path.join(dir, 'journal-0.log')).size > size);
  });

  it('accepts puts before load: they wait for the directory to be recovered', async () => {
    await writeSequence(dir, [['old', 1]]);
    const store = make();
    await store.put('new', { n: 2 });
    assert.deepEqual(sorted(await store.load()), [
      ['new', { n: 2 }],
      ['old', { n: 1, text: 'value of old' }],
    ]);
  });

  it('refuses a value without JSON form, and stores nothing for it', async () => {
    const store = make();
    await store.load();
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    await assert.rejects(store.put('cyclic', cyclic as unknown as Value), /cannot store "cyclic"/);
    await assert.rejects(store.put('big', { n: 10n } as unknown as Value), /cannot store "big"/);
    await assert.rejects(store.put('nothing', undefined as unknown as Value), /no JSON form/);
    await store.put('fine', { n: 1 });
    assert.deepEqual(sorted((await reload()).map), [['fine', { n: 1 }]]);
  });

  it('ignores a torn last record cut at any byte, keeps the records before it, and cuts the journal back', async () => {
    await writeSequence(dir, REPLACE_AND_DELETE);
    const journal = path.join(dir, 'journal-0.log');
    const whole = fs.readFileSync(journal);
    const last = frames(journal).at(-1)!;
    assert.equal(last.end, whole.length);
    const before = [['a', { n: 3, text: 'value of a' }]];
    for (let cut = last.start; cut < last.end; cut++) {
      fs.writeFileSync(journal, whole.subarray(0, cut));
      const { map, warnings } = await reload();
      assert.deepEqual(sorted(map), before, `cut at ${cut}`);
      if (cut === last.start) assert.deepEqual(warnings, [], 'a clean end is no damage');
      else assert.ok(warnings.length === 1 && /torn last record/.test(warnings[0]!), `cut at ${cut}: ${warnings.join('\n')}`);
      assert.equal(fs.statSync(journal).size, last.start, `cut at ${cut}: journal cut back to the last whole record`);
    }
    // Appends after the cut are read again: nothing of the torn record stands between.
    fs.writeFileSync(journal, whole.subarray(0, last.start + 7));
    const { store } = await reload();
    await store.put('d', { n: 6 });
    await store.close();
    const again = await reload();
    assert.deepEqual(sorted(again.map), [...before, ['d', { n: 6 }]]);
    assert.deepEqual(again.warnings, []);
  });

  it('ignores a tail of zeros (what a file system can leave after a crash) like a torn record', async () => {
    await writeSequence(dir, [['a', 1]]);
    const journal = path.join(dir, 'journal-0.log');
    const size = fs.statSync(journal).size;
    fs.appendFileSync(journal, Buffer.alloc(4096));
    const { map, warnings } = await reload();
    assert.deepEqual([...map.keys()], ['a']);
    assert.equal(warnings.length, 1);
    assert.equal(fs.statSync(journal).size, size);
  });

  it('stops replay at a damaged record in the middle, keeps the rest aside, and goes on from there', async () => {
    await writeSequence(dir, REPLACE_AND_DELETE);
    const journal = path.join(dir, 'journal-0.log');
    const data = fs.readFileSync(journal);
    const records = frames(journal);
    // records[0] is the header; damage the third change (a = 3) in its value.
    const third = records[3]!;
    assert.deepEqual(decodeBody(third.body!), { kind: 'put', key: 'a', valueJson: JSON.stringify({ n: 3, text: 'value of a' }) });
    const damaged = Buffer.from(data);
    damaged[third.end - 5] ^= 0x01;
    fs.writeFileSync(journal, damaged);

    const { map, warnings, store } = await reload();
    // The state after the second change: not a mix with the changes after the damage.
    assert.deepEqual(sorted(map), [
      ['a', { n: 1, text: 'value of a' }],
      ['b', { n: 2, text: 'value of b' }],
    ]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /damaged record at byte \d+ \(checksum mismatch\) with 2 whole records after it; replay stops there/);
    const aside = fs.readdirSync(dir).filter((f) => f.startsWith('journal-0.log.damaged-'));
    assert.equal(aside.length, 1);
    assert.deepEqual(fs.readFileSync(path.join(dir, aside[0]!)), damaged.subarray(third.start));

    await store.put('d', { n: 6 });
    await store.close();
    const again = await reload();
    assert.deepEqual(sorted(again.map), [...sorted(map), ['d', { n: 6 }]]);
    assert.deepEqual(again.warnings, [], 'the damage is gone from the journal');
  });

  it('compacts into a new generation, and the writes made while the snapshot is written go to the new journal', async () => {
    const store = make(dir, { compactAfter: 4 });
    await store.load();
    for (const [k, n] of [['a', 1], ['b', 2], ['c', 3], ['d', 4]] as const) await store.put(k, { n });
    await store.delete('a');
    // The fifth record passed the limit: the snapshot is being written now, and these land during it.
    assert.equal(store.stats.compactions, 0);
    await Promise.all([store.put('e', { n: 5 }), store.put('b', { n: 22 })]);
    await store.close();
    assert.equal(store.stats.compactions, 1);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['journal-1.log', 'snapshot-1.json']);
    const snapshot = frames(path.join(dir, 'snapshot-1.json')).map((f) => decodeBody(f.body!));
    assert.deepEqual(
      snapshot.map((e) => (e.kind === 'put' ? e.key : e.kind)),
      ['header', 'b', 'c', 'd', 'end'],
      'the snapshot holds the map as it was when the limit was passed',
    );
    const journal = frames(path.join(dir, 'journal-1.log')).map((f) => decodeBody(f.body!));
    assert.deepEqual(
      journal.map((e) => (e.kind === 'put' ? e.key : e.kind)),
      ['header', 'e', 'b'],
      'the new journal starts with what was written during the snapshot',
    );
    const { map, warnings } = await reload();
    assert.deepEqual(sorted(map), [
      ['b', { n: 22 }],
      ['c', { n: 3 }],
      ['d', { n: 4 }],
      ['e', { n: 5 }],
    ]);
    assert.deepEqual(warnings, []);
  });

  it('keeps every write through many compactions under concurrent load', async () => {
    const store = make(dir, { compactAfter: 25 });
    await store.load();
    const model = new Map<string, Value>();
    for (let wave = 0; wave < 30; wave++) {
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 40; i++) {
        const key = `user${(wave * 7 + i * 13) % 60}`;
        if ((wave + i) % 5 === 0) {
          model.delete(key);
          writes.push(store.delete(key));
        } else {
          model.set(key, { n: wave * 100 + i });
          writes.push(store.put(key, { n: wave * 100 + i }));
        }
      }
      await Promise.all(writes);
    }
    await store.close();
    assert.ok(store.stats.compactions >= 3, `compactions: ${store.stats.compactions}`);
    const { map, warnings, store: again } = await reload(dir, { compactAfter: 25 });
    assert.deepEqual(sorted(map), sorted(model));
    assert.deepEqual(warnings, []);
    assert.equal(fs.readdirSync(dir).length, again.stats.generation > 0 ? 2 : 1, 'one generation on disk');
  });

  describe('a crash between the steps of a compaction', () => {
    // Generation 0 as a real store leaves it, and the generation-1 files that
    // a real compaction of the same changes writes.
    const changes: Array<[string, number | null]> = [
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['a', null],
      ['d', 4],
    ];
    let journal0: Buffer;
    let snapshot1: Buffer;
    let journal1: Buffer;
    // Written after the snapshot's moment: into both journals during the compaction...
    const tail = encodeRecord(putBody('e', JSON.stringify({ n: 5 })));
    // ...and into the new journal alone once it took over.
    const after = encodeRecord(putBody('f', JSON.stringify({ n: 6 })));
    const atSnapshot = ['b', 'c', 'd'];

    beforeEach(async () => {
      await writeSequence(path.join(root, 'gen0'), changes);
      journal0 = fs.readFileSync(path.join(root, 'gen0', 'journal-0.log'));
      await writeSequence(path.join(root, 'gen1'), changes, { compactAfter: 4 });
      assert.deepEqual(fs.readdirSync(path.join(root, 'gen1')).sort(), ['journal-1.log', 'snapshot-1.json']);
      snapshot1 = fs.readFileSync(path.join(root, 'gen1', 'snapshot-1.json'));
      journal1 = fs.readFileSync(path.join(root, 'gen1', 'journal-1.log'));
      fs.mkdirSync(dir);
    });

    async function expectAfterCrash(files: Record<string, Buffer>, keys: string[], left: string[]): Promise<void> {
      for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
      const { map, warnings, store } = await reload();
      assert.deepEqual([...map.keys()].sort(), keys);
      assert.deepEqual(warnings, []);
      assert.deepEqual(fs.readdirSync(dir).sort(), left, 'the other generation is cleaned away');
      // And the store goes on from there.
      await store.put('z', { n: 26 });
      await store.close();
      assert.deepEqual([...(await reload()).map.keys()].sort(), [...keys, 'z']);
    }

    it('while the snapshot is written: the old generation is whole', async () => {
      await expectAfterCrash(
        { 'journal-0.log': Buffer.concat([journal0, tail]), 'snapshot-1.json.tmp': snapshot1.subarray(0, snapshot1.length >> 1) },
        [...atSnapshot, 'e'],
        ['journal-0.log'],
      );
    });

    it('after the new journal is written, before the snapshot is renamed: the old generation is whole', async () => {
      await expectAfterCrash(
        {
          'journal-0.log': Buffer.concat([journal0, tail]),
          'snapshot-1.json.tmp': snapshot1,
          'journal-1.log': Buffer.concat([journal1, tail]),
        },
        [...atSnapshot, 'e'],
        ['journal-0.log'],
      );
    });

    it('after the rename, before the old generation is removed: the new one wins, with its later writes', async () => {
      await expectAfterCrash(
        {
          'journal-0.log': Buffer.concat([journal0, tail]),
          'snapshot-1.json': snapshot1,
          'journal-1.log': Buffer.concat([journal1, tail, after]),
        },
        [...atSnapshot, 'e', 'f'],
        ['journal-1.log', 'snapshot-1.json'],
      );
    });

    it('after the old journal is removed, before the old snapshot is', async () => {
      await expectAfterCrash(
        {
          'snapshot-0.json': snapshot1, // stands for any older snapshot: never read
          'snapshot-1.json': snapshot1,
          'journal-1.log': Buffer.concat([journal1, tail, after]),
        },
        [...atSnapshot, 'e', 'f'],
        ['journal-1.log', 'snapshot-1.json'],
      );
    });
  });

  it('skips a damaged snapshot line with a warning and loads the other entries', async () => {
    await writeSequence(dir, [['a', 1], ['b', 2], ['c', 3], ['d', 4], ['e', 5]], { compactAfter: 4 });
    const file = path.join(dir, 'snapshot-1.json');
    const data = fs.readFileSync(file);
    const second = frames(file)[2]!;
    data[second.start + 12] ^= 0x20;
    fs.writeFileSync(file, data);
    const { map, warnings } = await reload();
    assert.deepEqual([...map.keys()].sort(), ['a', 'c', 'd', 'e']);
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[0]!, /snapshot-1\.json: skipping a damaged record/);
    assert.match(warnings[1]!, /4 entries read, the snapshot says 5/);
  });

  it('goes on writing the journal when a compaction fails, and says so', async () => {
    const warnings: string[] = [];
    const store = make(dir, { compactAfter: 3, onWarning: (m) => warnings.push(m) });
    await store.load();
    // Something in the way of the temporary snapshot.
    fs.mkdirSync(path.join(dir, 'snapshot-1.json.tmp'));
    for (let i = 0; i < 6; i++) await store.put(`k${i}`, { n: i });
    await store.close();
    assert.equal(store.stats.compactions, 0);
    assert.ok(warnings.some((w) => /compaction into generation 1 failed/.test(w)), warnings.join('\n'));
    fs.rmdirSync(path.join(dir, 'snapshot-1.json.tmp'));
    assert.equal((await reload()).map.size, 6);
  });

  it('rejects the writes of a batch the disk refused, and refuses more when it cannot cut the journal back', async () => {
    const store = make();
    await store.load();
    await store.put('kept', { n: 1 });
    // Pull the file out from under the store: the next write and the undo both fail.
    await (store as unknown as { handle: { close(): Promise<void> } }).handle.close();
    const results = await Promise.allSettled([store.put('lost', { n: 2 }), store.delete('kept')]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.match(String((results[0] as PromiseRejectedResult).reason), /cannot write .*journal-0\.log/);
    await assert.rejects(store.put('later', { n: 3 }), /takes no more writes/);
    assert.deepEqual(sorted((await reload()).map), [['kept', { n: 1 }]], 'nothing that was refused is on disk');
  });

  it('leaves files that are not its own alone', async () => {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'README.txt'), 'not ours');
    fs.writeFileSync(path.join(dir, 'journal-x.log'), 'not ours either');
    await writeSequence(dir, [['a', 1]]);
    const { map, warnings } = await reload();
    assert.equal(map.size, 1);
    assert.deepEqual(warnings, []);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['README.txt', 'journal-0.log', 'journal-x.log']);
  });
});
