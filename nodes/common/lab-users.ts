// The lab core's users: every `oma-sip-user` config node of the core's domain
// (each has its own password credential, edited on its own in the editor),
// and the list typed in the lab core (handy for a bulk lab of u1..u100).
// Read when a user logs in, so a user added or changed in the editor counts
// without redeploying the core.
import { normaliseIdentity, parseUri } from '../../lib/sip/uri';
import type { RedApi } from './red';

export interface UserDirectory {
  get(user: string): string | undefined;
  has(user: string): boolean;
}

export interface LabUserDirectory extends UserDirectory {
  /**
   * Keep answering from the users last read, for a core that is stopping: by the time the old
   * flow closes, Node-RED has already swapped in the new flow's config nodes, so users removed by
   * the deploy would otherwise fail their own de-REGISTER as unknown (a 401 that reads as a
   * wrong password on every stop).
   */
  freeze(): void;
}

/** Seconds a snapshot of the config nodes is reused: a burst of logins reads them once. */
const SNAPSHOT_MS = 1000;

export function labUsers(RED: RedApi, domain: string, typed: ReadonlyMap<string, string>, fromConfigNodes: boolean): LabUserDirectory {
  let snapshot: { at: number; users: Map<string, string> } | undefined;
  let frozen = false;
  const configured = (): Map<string, string> => {
    const now = Date.now();
    if (snapshot && (frozen || now - snapshot.at < SNAPSHOT_MS)) return snapshot.users;
    const users = new Map<string, string>();
    RED.nodes.eachNode?.((def) => {
      if (def.type !== 'oma-sip-user' || def.d === true) return;
      const aor = parseUri(normaliseIdentity(String(def.identity ?? ''), domain) ?? '');
      if (!aor?.user || aor.host.toLowerCase() !== domain.toLowerCase()) return;
      const password = RED.nodes.getCredentials?.(def.id)?.password;
      const name = String(def.authUser ?? '').trim() || aor.user;
      if (password) users.set(name, password);
    });
    snapshot = { at: now, users };
    return users;
  };
  const get = (user: string): string | undefined => typed.get(user) ?? (fromConfigNodes ? configured().get(user) : undefined);
  return {
    get,
    has: (user) => get(user) !== undefined,
    freeze: () => {
      frozen = true;
    },
  };
}
