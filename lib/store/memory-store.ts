// A store that keeps nothing across restarts: for tests, and for users who
// want settings to live only as long as the flow. Values are copied in and
// out so that a caller mutating an object cannot change what is stored, just
// as with the file store.
import type { KeyValueStore } from './store';

export class MemoryStore<T> implements KeyValueStore<T> {
  private readonly entries = new Map<string, T>();
  private closed = false;

  async load(): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    for (const [key, value] of this.entries) out.set(key, structuredClone(value));
    return out;
  }

  async put(key: string, value: T): Promise<void> {
    if (this.closed) throw new Error('memory store is closed');
    this.entries.set(key, structuredClone(value));
  }

  async delete(key: string): Promise<void> {
    if (this.closed) throw new Error('memory store is closed');
    this.entries.delete(key);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (this.closed) throw new Error('memory store is closed');
    for (const key of keys) this.entries.delete(key);
  }

  /** Later puts and deletes are refused, as by the stores on disk; the entries stay readable. */
  async close(): Promise<void> {
    this.closed = true;
  }

  get size(): number {
    return this.entries.size;
  }
}
