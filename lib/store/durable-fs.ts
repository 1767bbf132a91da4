// The few file operations that the stores need to be durable on a power cut:
// data reaches the disk before a rename makes it visible, and the directory
// is flushed so that the rename (or a new file) survives too.
import { promises as fsp } from 'node:fs';

export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** Writes all of `bytes` at `position`, however many calls that takes. */
export async function writeFully(handle: fsp.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Creates (or, with flag 'w', replaces) a file with the given content and
 * flushes it to disk before resolving. Chunks are written one after another,
 * so a large content need not exist as one buffer.
 */
export async function writeFileSynced(file: string, content: string | Iterable<Uint8Array>, flag: 'wx' | 'w' = 'wx'): Promise<void> {
  const handle = await fsp.open(file, flag, 0o600);
  try {
    if (typeof content === 'string') await handle.writeFile(content, 'utf8');
    else {
      let position = 0;
      for (const chunk of content) {
        await writeFully(handle, chunk, position);
        position += chunk.length;
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// Flushing a directory is what makes a rename, unlink or new file durable on
// Linux; some platforms (Windows) cannot open a directory, and there the
// operation is as durable as the platform makes it.
export async function syncDirectory(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch {
    // best effort, see above
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Removes a file if it is there; resolves to the error when it could not. */
export async function removeFile(file: string): Promise<Error | undefined> {
  try {
    await fsp.rm(file, { force: true });
    return undefined;
  } catch (err) {
    return err as Error;
  }
}
