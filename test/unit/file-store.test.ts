import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore, fileNameForKey } from '../../lib/store/file-store';
import { AWKWARD_KEYS } from '../support/store-keys';

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

  it('keeps one file per live key and nothing else, even after concurrent writes to one key', async () => {
    // What a reload sees is the contract's business (store-contract.test.ts); this is the layout.
    const store = new FileStore<Value>(dir);
    await store.load();
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => store.put('one', { n: i })),
      store.put('two', { n: 2 }),
      store.put('three', { n: 3 }),
      store.delete('three'),
      store.delete('never-stored'),
    ]);
    await store.close();
    assert.deepEqual(fs.readdirSync(dir).sort(), [fileNameForKey('one'), fileNameForKey('two')].sort());
  });

  it('keeps keys with slashes, dots, unicode and great length inside its directory', async () => {
    const keys = AWKWARD_KEYS;
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
    assert.equal((await new FileStore<Value>(dir).load()).size, keys.length);
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
