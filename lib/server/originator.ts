// Who sent a request to a server, and only when a trusted core says so: the
// identity asserted in P-Asserted-Identity (RFC 3325 9.1) counts when the
// request came from a configured core (SPEC: "a server believes only the core
// it is configured with"); nothing else says who sent it.
import type { IncomingRequest } from '../sip/endpoint';
import type { TrustedSources } from '../sip/trusted-sources';
import { addressOfRecord } from '../sip/uri';
import { assertedIdentities } from './asserted-identity';

/**
 * The originator as the trusted core asserted it, or undefined when the
 * request asserts no one or did not come from a trusted source. Of several
 * asserted identities (RFC 3325 allows one SIP and one tel URI) the one that
 * is the Request-URI's user counts first, then the first SIP URI.
 */
export async function trustedOriginator(req: IncomingRequest, trusted: TrustedSources): Promise<string | undefined> {
  const ids = assertedIdentities(req.message);
  if (ids.length === 0) return undefined;
  if (!(await trusted.allows(req))) return undefined;
  const target = addressOfRecord(req.message.uri);
  return ids.find((id) => id === target) ?? ids.find((id) => id.startsWith('sip')) ?? ids[0];
}
