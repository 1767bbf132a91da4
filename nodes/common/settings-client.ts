// What the two settings client nodes (publish settings, settings watch) share:
// one user on one endpoint, and which entity of the user's poc-settings
// document is this client's.
import { formatInstance } from '../../lib/registration/enablers';
import { normaliseIdentity } from '../../lib/sip/uri';
import { useEndpoint, type EndpointUse } from './endpoint-user';
import type { Translate } from './i18n';
import { text, type NodeDef, type RedApi, type RedNode } from './red';
import { failed } from './status';
import { userConfig, type UserConfig } from './user-link';

export interface UserEndpoint {
  endpoint: EndpointUse;
  user: UserConfig;
  /** The user's address of record. */
  aor: string;
}

/** The node's endpoint and user; undefined (red status, an error) when either is missing. */
export function useUserEndpoint(RED: RedApi, node: RedNode, def: NodeDef, t: Translate, onState: () => void): UserEndpoint | undefined {
  const endpoint = useEndpoint(RED, node, def, t, onState);
  if (!endpoint) return undefined;
  const user = userConfig(RED, def.user);
  const aor = user?.identity ? normaliseIdentity(user.identity, endpoint.config.domain) : undefined;
  if (!user || !aor) {
    node.status(failed(t(`${def.type}.status.no-user`)));
    node.error(t(`${def.type}.errors.no-user`));
    return undefined;
  }
  return { endpoint, user, aor };
}

/**
 * This client's entity id: as typed, else the user's stable instance id. Real
 * clients use the user's address or an opaque client id (RFC 4354 shows an
 * opaque one); an own id per client lets two clients of one user publish two
 * entities instead of overwriting each other's.
 */
export function entityIdOf(def: NodeDef, user: UserConfig, aor: string): string {
  const typed = text(def, 'entityId');
  if (typed) return typed;
  return user.instanceId ? formatInstance(user.instanceId).slice(1, -1) : aor;
}

/** The digest user name of a user: as configured, else the user part of the address. */
export function authUserOf(user: UserConfig, aor: string): string {
  return user.authUser || aor.replace(/^sips?:/, '').split('@')[0]!;
}
