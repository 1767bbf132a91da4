// Who may watch a user's registration (reg event, RFC 3680 6): the user
// themself, and the configured application server, known by its source
// address, for every user. Anyone else is challenged (407, as a proxy
// challenges non-REGISTER requests), and a user who authenticates but asks
// for someone else's registration gets 403. Without this a stranger learns
// every contact of a user and can aim NOTIFYs at any address.
import type { DigestAlgorithm } from '../auth/digest-hash';
import { DigestServer } from '../auth/digest-server';
import type { IncomingRequest } from '../sip/endpoint';
import type { TrustedSources } from '../sip/trusted-sources';
import { parseUri } from '../sip/uri';
import { isLoginFailure, type RegistrarEvent } from './registrar';

export interface WatcherAuthOptions {
  domain: string;
  lookup: (user: string) => string | undefined;
  algorithms: readonly DigestAlgorithm[];
  /** The application server. */
  trusted: TrustedSources;
  now: () => number;
  onAuthEvent?: (e: RegistrarEvent) => void;
}

export class WatcherAuth {
  private readonly digest: DigestServer;

  constructor(private readonly o: WatcherAuthOptions) {
    this.digest = new DigestServer({
      realm: o.domain,
      kind: 'proxy',
      lookup: o.lookup,
      algorithms: o.algorithms,
      qop: ['auth'],
      now: o.now,
    });
  }

  /** Whether the sender of an initial SUBSCRIBE may watch its Request-URI; when not, the request is answered here. */
  async admit(req: IncomingRequest): Promise<boolean> {
    if (await this.o.trusted.allows(req)) return true;
    const m = req.message;
    const verdict = this.digest.verify(m.headers['proxy-authorization'] as Record<string, string>[] | undefined, { method: m.method, uri: m.uri });
    if (!verdict.ok) {
      const claimed = claimedUser(m.headers['proxy-authorization']);
      if (isLoginFailure(verdict)) this.o.onAuthEvent?.({ kind: 'rejected', user: claimed ?? '(unnamed)', reason: verdict.reason });
      const c = this.digest.challenge({ stale: verdict.stale });
      req.respond(407, { headers: { [c.header]: c.split.map((s) => ({ ...s })) } });
      return false;
    }
    const target = parseUri(m.uri);
    const own = target?.user === verdict.username && target.host.toLowerCase() === this.o.domain.toLowerCase();
    if (!own) {
      req.respond(403, { reason: `Forbidden (${verdict.username} may watch only their own registration)` });
      return false;
    }
    return true;
  }
}

/** The user name a client put in its credentials, for the log. */
function claimedUser(header: unknown): string | undefined {
  const first = Array.isArray(header) ? (header[0] as Record<string, unknown> | undefined) : undefined;
  const u = first?.username;
  return typeof u === 'string' ? u.replace(/^"|"$/g, '').slice(0, 64) : undefined;
}
