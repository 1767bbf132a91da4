// The identity of an `oma-sip-user` config node, as other nodes read it.
import type { CpmMode, Enabler } from '../../lib/registration/enablers';
import type { Params } from '../../lib/sip/message';
import type { RedApi } from './red';

export interface UserConfig {
  /** As typed: `alice`, `alice@lab.test` or `sip:alice@lab.test`. */
  readonly identity: string;
  /** Digest user name; empty means the user part of the identity. */
  readonly authUser: string;
  readonly password: string;
  readonly displayName: string;
  readonly enabler: Enabler;
  readonly release: string;
  /** `+sip.instance` for CPM; stable across restarts. */
  readonly instanceId: string;
  readonly cpmModes: CpmMode[];
  readonly extraTags: Params;
}

export function userConfig(RED: RedApi, id: unknown): UserConfig | undefined {
  if (typeof id !== 'string' || !id) return undefined;
  const n = RED.nodes.getNode(id) as { omaUser?: UserConfig } | null;
  return n?.omaUser;
}
