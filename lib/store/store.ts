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
  close(): Promise<void>;
}
