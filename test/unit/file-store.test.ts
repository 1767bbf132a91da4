import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore, fileNameForKey } from '../../lib/store/file-store';
import { MemoryStore } from '../../lib/store/memory-store';

interface Value {
  n: number;
  text?: string;
}

describe('FileStore', () => {
  let root: string;
  let dir: string;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-file-store-'));
    dir = path.join(root, 'store', 'nested');
  });

  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('creates its directory on load and starts empty', async () => {
    const store = new FileStore<Value>(dir);
    const loaded = await store.load();
    assert.equal(loaded.size, 0);
    assert.ok(fs.statSync(dir).isDirectory());
  });

  it('round-trips values through a new instance, with replace and delete', async () => {
    const a = new FileStore<Value>(dir);
    await a.load();
    await a.put('one', { n: 1, text: 'first' });
    await a.put('two', { n: 2 });
    await a.put('one', { n: 11, text: 'replaced' });
    await a.put('three', { n: 3 });
    await a.delete('three');
    await a.delete('never-stored');
    await a.close();

    const b = new FileStore<Value>(dir);
    const loaded = await b.load();
    assert.deepEqual(
      [...loaded.entries()].sort(([x], [y]) => x.localeCompare(y)),
      [
        ['one', { n: 11, text: 'replaced' }],
        ['two', { n: 2 }],
      ],
    );
    assert.equal(fs.readdirSync(dir).length, 2, 'one file per live key, nothing else');
  });

  it('keeps keys with slashes, dots, unicode and great length inside its directory', async () => {
    const keys = [
      '../../escape',
      '/etc/passwd',
      'sip:alice@lab.test;x=1/../..',
      '.',
      '..',
      '',
      'Zoë 😀 ключ',
      'k'.repeat(600),
      'k'.repeat(601),
    ];
    const store = new FileStore<Value>(dir);
    await store.load();
    for (const [i, key] of keys.entries()) await store.put(key, { n: i });
    const files = fs.readdirSync(dir);
    assert.equal(files.length, keys.length, 'one distinct file per key');
    for (const f of files) {
      assert.ok(!f.includes('/') && f !== '.' && f !== '..');
      assert.ok(fs.statSync(path.join(dir, f)).isFile());
    }
    assert.deepEqual(fs.readdirSync(path.join(root, 'store')), ['nested'], 'nothing written beside the directory');
    const loaded = await new FileStore<Value>(dir).load();
    assert.equal(loaded.size, keys.length);
    for (const [i, key] of keys.entries()) assert.deepEqual(loaded.get(key), { n: i }, `key ${JSON.stringify(key)}`);
  });

  it('loads the old value when a crash left the new one in a temporary file, and removes that file', async () => {
    const store = new FileStore<Value>(dir);
    await store.load();
    await store.put('alice', { n: 1, text: 'old' });
    await store.close();
    // What a crash between write and rename leaves: a full temporary file and a
    // truncated one, both named the way the store names its temporary files.
    const name = fileNameForKey('alice');
    fs.writeFileSync(path.join(dir, `.${name}.0a1b2c3d4e5f.tmp`), JSON.stringify({ key: 'alice', value: { n: 2 } }));
    fs.writeFileSync(path.join(dir, `.${name}.ffffffffffff.tmp`), '{"key":"alice","val');

    const warnings: string[] = [];
    const again = new FileStore<Value>(dir, { onWarning: (m) => warnings.push(m) });
    const loaded = await again.load();
    assert.deepEqual([...loaded.entries()], [['alice', { n: 1, text: 'old' }]]);
    assert.deepEqual(fs.readdirSync(dir), [name], 'temporary files removed');
    assert.deepEqual(warnings, []);
  });

  it('skips a corrupt file with a warning and loads the rest', async () => {
    const store = new FileStore<Value>(dir);
    await store.load();
    await store.put('good', { n: 1 });
    await store.put('bad', { n: 2 });
    await store.put('moved', { n: 3 });
    fs.writeFileSync(path.join(dir, fileNameForKey('bad')), '{"key":"bad","value":{"n":');
    // A valid file under another key's name (copied by hand) is not trusted either.
    fs.renameSync(path.join(dir, fileNameForKey('moved')), path.join(dir, fileNameForKey('elsewhere')));
    fs.writeFileSync(path.join(dir, 'README.txt'), 'not ours');

    const warnings: string[] = [];
    const loaded = await new FileStore<Value>(dir, { onWarning: (m) => warnings.push(m) }).load();
    assert.deepEqual([...loaded.entries()], [['good', { n: 1 }]]);
    assert.equal(warnings.length, 2);
    assert.ok(warnings.some((w) => w.includes(fileNameForKey('bad')) && /corrupt/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes(fileNameForKey('elsewhere'))), warnings.join('\n'));
    assert.ok(fs.existsSync(path.join(dir, 'README.txt')), 'files that are not entries are left alone');
  });

  it('serialises writes to one key: the last put wins even when an earlier one is slower', async () => {
    const store = new FileStore<Value>(dir);
    await store.load();
    const settled: number[] = [];
    const writes: Promise<void>[] = [];
    // The first value is large, so an unserialised first rename would land last.
    writes.push(store.put('k', { n: 0, text: 'x'.repeat(4 * 1024 * 1024) }).then(() => void settled.push(0)));
    for (let i = 1; i <= 20; i++) writes.push(store.put('k', { n: i }).then(() => void settled.push(i)));
    writes.push(store.delete('k').then(() => void settled.push(21)));
    writes.push(store.put('k', { n: 22 }).then(() => void settled.push(22)));
    await Promise.all(writes);
    assert.deepEqual(settled, Array.from({ length: 23 }, (_, i) => i), 'each write resolves in the order it was asked');
    const loaded = await new FileStore<Value>(dir).load();
    assert.deepEqual(loaded.get('k'), { n: 22 });
    assert.deepEqual(fs.readdirSync(dir), [fileNameForKey('k')], 'no temporary file left behind');
  });

  it('goes on after a failed write and refuses writes after close', async () => {
    const store = new FileStore<Value>(dir);
    await store.load();
    // A directory where the entry file should be makes the rename fail.
    fs.mkdirSync(path.join(dir, fileNameForKey('blocked')));
    fs.writeFileSync(path.join(dir, fileNameForKey('blocked'), 'x'), '');
    await assert.rejects(store.put('blocked', { n: 1 }));
    await store.put('free', { n: 2 });
    assert.ok(!fs.readdirSync(dir).some((f) => f.endsWith('.tmp')), 'failed write cleaned up its temporary file');
    await store.close();
    await assert.rejects(store.put('free', { n: 3 }), /closed/);
    const loaded = await new FileStore<Value>(dir).load();
    assert.deepEqual(loaded.get('free'), { n: 2 });
  });
});

describe('MemoryStore', () => {
  it('keeps copies, so a caller mutating its object does not change what is stored', async () => {
    const store = new MemoryStore<Value>();
    const v = { n: 1 };
    await store.put('a', v);
    v.n = 2;
    const first = await store.load();
    assert.deepEqual(first.get('a'), { n: 1 });
    first.get('a')!.n = 3;
    assert.deepEqual((await store.load()).get('a'), { n: 1 });
    await store.delete('a');
    await store.delete('a');
    assert.equal((await store.load()).size, 0);
  });
});
