// One UUID per Node-RED installation, made on first use and kept in the
// user directory. CPM clients derive their `+sip.instance` from it, so two
// labs that import the same example (same node ids) against one core do not
// take each other's bindings, and a restart keeps the instance.
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const INSTALLATION_FILE = '.oma-sip-installation-id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const known = new Map<string, string>();
// Without a user directory (a runtime embedded without one) the id lives as long as the process.
let processOnly: string | undefined;

/** The installation's UUID, read from `dir` or made and written there once. */
export function installationId(dir: string | undefined): string {
  if (!dir) return (processOnly ??= randomUUID());
  const cached = known.get(dir);
  if (cached) return cached;
  const file = path.join(dir, INSTALLATION_FILE);
  let id: string | undefined;
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (UUID.test(text)) id = text.toLowerCase();
  } catch {
    // not made yet
  }
  if (!id) {
    id = randomUUID();
    try {
      fs.mkdirSync(dir, { recursive: true });
      // 'wx': when two runtimes race on one directory, the first file wins and is read back.
      fs.writeFileSync(file, id + '\n', { flag: 'wx' });
    } catch {
      try {
        const text = fs.readFileSync(file, 'utf8').trim();
        if (UUID.test(text)) id = text.toLowerCase();
      } catch {
        // an unwritable directory: this process keeps the one it made
      }
    }
  }
  known.set(dir, id);
  return id;
}

/** A name-based UUID (RFC 4122 version 5 layout, SHA-1) for `name` within this installation. */
export function instanceUuid(installation: string, name: string): string {
  const h = createHash('sha1').update(`oma-sip-user:${installation}:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Forgets the ids read so far, as a restarted process would. */
export function forgetInstallationIds(): void {
  known.clear();
}
