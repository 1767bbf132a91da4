// How many records a node's journal holds, read once the node is gone (one
// store per directory): what a benchmark left behind in the store.
import { JournalStore } from '../lib/store/journal-store';

export async function journalSize(dir: string): Promise<number> {
  const store = new JournalStore<unknown>(dir);
  try {
    return (await store.load()).size;
  } finally {
    await store.close();
  }
}
