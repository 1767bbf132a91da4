// Headers that carry lists of name-addrs as text in the `sip` parser's output:
// Service-Route (RFC 3608), P-Associated-URI (RFC 3455), Path.
import { headerText, splitHeaderList, type SipMessage } from './message';
import { parseNameAddr } from './name-addr';

/** Each entry as written (`<sip:scscf.lab.test;lr>`), ready to be a Route value. */
export function nameAddrList(m: SipMessage, name: string): string[] {
  const v = headerText(m, name);
  return v ? splitHeaderList(v) : [];
}

/** The URI inside each entry (`"Bob" <sip:bob@x>;p=1` -> `sip:bob@x`). */
export function uriList(m: SipMessage, name: string): string[] {
  return nameAddrList(m, name)
    .map((e) => parseNameAddr(e)?.uri)
    .filter((u): u is string => u !== undefined);
}
