// A store that keeps nothing across restarts: for tests, and for users who
// want settings to live only as long as the flow. Values are copied in and
// out so that a caller mutating an object cannot change what is stored, just
// as with the file store.
import type { KeyValueStore } from './store';

export class MemoryStore<T> implements KeyValueStore<T> {
  private readonly entries = new Map<string, T>();

  async load(): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    for (const [key, value] of this.entries) out.set(key, structuredClone(value));
    return out;
  }

  async put(key: string, value: T): Promise<void> {
    this.entries.set(key, structuredClone(value));
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async close(): Promise<void> {
    // Nothing to release: the entries stay readable until the object is dropped.
  }

  get size(): number {
    return this.entries.size;
  }
}
