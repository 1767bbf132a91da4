// A store wrapper whose writes a test can fail or hold back, to check that a
// failed or pending write never shows in memory.
import type { KeyValueStore } from '../../lib/store/store';

export class FlakyStore<T> implements KeyValueStore<T> {
  failWrites = false;
  failDeletes = false;
  /** While set, puts and deletes wait until release() is called. */
  hold = false;
  readonly calls: string[] = [];
  private held: (() => void)[] = [];

  constructor(readonly inner: KeyValueStore<T>) {}

  load(): Promise<Map<string, T>> {
    return this.inner.load();
  }

  async put(key: string, value: T): Promise<void> {
    this.calls.push(`put ${key}`);
    await this.gate();
    if (this.failWrites) throw new Error('disk full (test)');
    await this.inner.put(key, value);
  }

  async delete(key: string): Promise<void> {
    this.calls.push(`delete ${key}`);
    await this.gate();
    if (this.failDeletes) throw new Error('read-only file system (test)');
    await this.inner.delete(key);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  get waiting(): number {
    return this.held.length;
  }

  /** Lets every held write go on. */
  release(): void {
    this.hold = false;
    for (const go of this.held.splice(0)) go();
  }

  /** Lets the held write at this position (0: the oldest) go on alone. */
  releaseAt(index: number): void {
    const go = this.held.splice(index, 1)[0];
    if (!go) throw new Error(`no held write at ${index}`);
    go();
  }

  private gate(): Promise<void> {
    if (!this.hold) return Promise.resolve();
    return new Promise((resolve) => this.held.push(resolve));
  }
}
