// Who sent a request, as a server behind an IMS core knows it: the identities
// the core asserted in P-Asserted-Identity (RFC 3325 9.1). They mean something
// only when the request came from the core itself (a trusted source); the
// caller checks that first.
import { headerText, splitHeaderList, type SipMessage } from '../sip/message';
import { parseNameAddr } from '../sip/name-addr';
import { addressOfRecord } from '../sip/uri';

/** The asserted identities (a SIP URI and/or a tel URI), as addresses of record; empty when none. */
export function assertedIdentities(m: SipMessage): string[] {
  const text = headerText(m, 'p-asserted-identity');
  if (!text) return [];
  const out: string[] = [];
  for (const item of splitHeaderList(text)) {
    const uri = parseNameAddr(item)?.uri;
    const aor = uri ? addressOfRecord(uri) : undefined;
    if (aor) out.push(aor);
  }
  return out;
}

/** Whether one of the asserted identities is the address of record `aor`. */
export function assertsIdentity(m: SipMessage, aor: string): boolean {
  return assertedIdentities(m).includes(aor);
}
