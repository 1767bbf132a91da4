// Headers that carry lists of name-addrs as text in the `sip` parser's output:
// Service-Route (RFC 3608), P-Associated-URI (RFC 3455), Path.
import { headerText, splitHeaderList, type SipMessage } from './message';

/** Each entry as written (`<sip:scscf.lab.test;lr>`), ready to be a Route value. */
export function nameAddrList(m: SipMessage, name: string): string[] {
  const v = headerText(m, name);
  return v ? splitHeaderList(v) : [];
}

/** The URI inside a name-addr (`"Bob" <sip:bob@x>;p=1` -> `sip:bob@x`). */
export function uriOfNameAddr(entry: string): string {
  const lt = entry.indexOf('<');
  const gt = entry.indexOf('>', lt + 1);
  if (lt >= 0 && gt > lt) return entry.slice(lt + 1, gt).trim();
  return entry.split(';')[0]!.trim();
}
