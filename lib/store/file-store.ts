// One JSON file per key in one directory, each replaced atomically: the new
// content goes to a temporary file in the same directory, is flushed to disk,
// and is renamed over the old file (rename within a file system is atomic on
// POSIX), then the directory itself is flushed so the rename survives a power
// cut. A crash at any point leaves either the old or the new value, never half
// of one; a temporary file left by a crash is removed on the next load.
//
// The file name is the key in base64url (no '/', '.' or '..' can come out of
// it, so no key can reach outside the directory); keys too long for a file
// name get a hash instead. The key is also stored inside the file, which is
// the authority on load.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomHex } from '../util/random';
import type { KeyValueStore } from './store';

const SUFFIX = '.json';
const TEMP_SUFFIX = '.tmp';
// 255 bytes is the usual file name limit; keep well below it.
const MAX_PLAIN_NAME = 200;
// Load reads files synchronously in slices of this many, yielding to the
// event loop between slices: on a busy two-core machine that was 3-5 times
// faster than promise-based reads (each of which is four thread-pool round
// trips), and no slice holds the loop for more than a few milliseconds.
const LOAD_SLICE = 256;

export interface FileStoreOptions {
  /** Told about each file that load() skips or cannot clean up. */
  onWarning?: (msg: string) => void;
}

interface FileContent<T> {
  key: string;
  value: T;
}

/** The file name (without directory) that holds a key. */
export function fileNameForKey(key: string): string {
  const plain = Buffer.from(key, 'utf8').toString('base64url');
  if (plain.length + SUFFIX.length <= MAX_PLAIN_NAME) return `k-${plain}${SUFFIX}`;
  return `h-${createHash('sha256').update(key, 'utf8').digest('hex')}${SUFFIX}`;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

export class FileStore<T> implements KeyValueStore<T> {
  onWarning?: (msg: string) => void;
  private readonly dir: string;
  // The last operation queued per key: a put or delete waits for the one
  // before it, so a later write never lands before an earlier one.
  private readonly tails = new Map<string, Promise<void>>();
  private closed = false;

  constructor(dir: string, options: FileStoreOptions = {}) {
    this.dir = path.resolve(dir);
    this.onWarning = options.onWarning;
  }

  get directory(): string {
    return this.dir;
  }

  async load(): Promise<Map<string, T>> {
    await fsp.mkdir(this.dir, { recursive: true });
    const names = await fsp.readdir(this.dir);
    const out = new Map<string, T>();
    for (let i = 0; i < names.length; i += LOAD_SLICE) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const name of names.slice(i, i + LOAD_SLICE)) {
        if (name.endsWith(TEMP_SUFFIX)) this.removeLeftover(name);
        else if (name.endsWith(SUFFIX)) this.readEntry(name, out);
      }
    }
    return out;
  }

  put(key: string, value: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error('file store is closed'));
    const text = JSON.stringify({ key, value } satisfies FileContent<T>);
    return this.enqueue(key, () => this.writeAtomically(fileNameForKey(key), text));
  }

  delete(key: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error('file store is closed'));
    return this.enqueue(key, () => this.unlink(fileNameForKey(key)));
  }

  /** Waits for every queued write; later puts and deletes are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.tails.values()]);
  }

  private enqueue(key: string, op: () => Promise<void>): Promise<void> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(op);
    // The chain must go on after a failed write; the caller sees the failure.
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  private async writeAtomically(name: string, text: string): Promise<void> {
    const target = path.join(this.dir, name);
    const temp = path.join(this.dir, `.${name}.${randomHex(6)}${TEMP_SUFFIX}`);
    try {
      const handle = await fsp.open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temp, target);
    } catch (err) {
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
    await this.syncDir();
  }

  private async unlink(name: string): Promise<void> {
    try {
      await fsp.unlink(path.join(this.dir, name));
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    await this.syncDir();
  }

  // Flushing a directory is what makes a rename or unlink durable on Linux;
  // some platforms (Windows) cannot open a directory, and there the rename is
  // as durable as the platform makes it.
  private async syncDir(): Promise<void> {
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(this.dir, 'r');
      await handle.sync();
    } catch {
      // best effort, see above
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }

  private removeLeftover(name: string): void {
    try {
      fs.rmSync(path.join(this.dir, name), { force: true });
    } catch (err) {
      this.warn(`cannot remove leftover temporary file ${name}: ${(err as Error).message}`);
    }
  }

  private readEntry(name: string, out: Map<string, T>): void {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir, name), 'utf8');
    } catch (err) {
      if (!isMissing(err)) this.warn(`cannot read ${name}: ${(err as Error).message}`);
      return;
    }
    let content: FileContent<T>;
    try {
      content = JSON.parse(text) as FileContent<T>;
    } catch (err) {
      this.warn(`skipping corrupt file ${name}: ${(err as Error).message}`);
      return;
    }
    if (typeof content !== 'object' || content === null || typeof content.key !== 'string' || !('value' in content)) {
      this.warn(`skipping ${name}: not a stored entry`);
      return;
    }
    // A file whose name does not belong to its key was not written by this
    // store (copied or renamed by hand): loading it could shadow the real one.
    if (fileNameForKey(content.key) !== name) {
      this.warn(`skipping ${name}: its name does not match the key it holds`);
      return;
    }
    out.set(content.key, content.value);
  }

  private warn(msg: string): void {
    try {
      this.onWarning?.(msg);
    } catch {
      // a failing warning sink must not fail the load
    }
  }
}
