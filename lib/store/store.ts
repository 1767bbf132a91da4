// Persistence behind a small interface: the settings server keeps publications
// in it, the deferred-message slice keeps messages. Keys and values are plain
// JSON; an implementation must make each put durable before it resolves, so
// that a crash after a 200 OK loses nothing.

export interface KeyValueStore<T> {
  /** Every stored entry, read once at start. */
  load(): Promise<Map<string, T>>;
  /** Stores or replaces one entry durably. */
  put(key: string, value: T): Promise<void>;
  /** Removes one entry (no error when it is absent). */
  delete(key: string): Promise<void>;
  /**
   * Removes several entries (no error for absent ones), in one write where
   * the store can instead of one per key; durable for all once it resolves.
   * A crash before that may have removed some of them and not others.
   * Optional: callers fall back to delete() per key.
   */
  deleteMany?(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
