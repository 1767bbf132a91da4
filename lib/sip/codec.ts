// Bytes on the wire <-> SipMessage. Wire text is handled as a `latin1` string
// (one char per byte) so that Content-Length counts bytes. Heads and bodies
// are UTF-8 (RFC 3261 7.3.1 and 7.4), decoded here, which the `sip` package
// never does (it corrupts non-ASCII). Parsing is the `sip` package's, with
// the headers it gets wrong read again (raw-headers.ts); writing is ours
// (serialize.ts).
import * as sip from 'sip';
import type { SipMessage } from './message';
import { nameAddrValues, rawHeaderValues, viaValues } from './raw-headers';
import { serializeHead } from './serialize';

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function latin1ToUtf8(s: string): string {
  // ASCII reads the same either way: no second copy of a large body.
  return ASCII.test(s) ? s : Buffer.from(s, 'latin1').toString('utf8');
}

export function utf8ToLatin1(s: string): string {
  // Pure ASCII is the common case and needs no copy.
  return ASCII.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

/**
 * Header text as characters. Text that is not valid UTF-8 (an old agent
 * writing Latin-1) is kept one char per byte rather than replaced by U+FFFD,
 * so nothing the sender wrote is lost.
 */
function headToText(head: string): string {
  // A copy, not a slice: V8 keeps the whole string a slice was cut from, and
  // header values (Route sets, tags, the branch in transaction keys) outlive
  // the request; a slice would keep its whole datagram alive with them.
  if (ASCII.test(head)) return Buffer.from(head, 'latin1').toString('latin1');
  try {
    return strictUtf8.decode(Buffer.from(head, 'latin1'));
  } catch {
    return head;
  }
}

const ROUTE_HEADERS = ['route', 'record-route', 'path'] as const;

/** Parses one complete message given as wire text; undefined when it is not SIP. */
export function decode(wire: string): SipMessage | undefined {
  const start = wire.length - wire.trimStart().length;
  const end = wire.indexOf('\r\n\r\n', start);
  if (end < 0) return undefined;
  const head = headToText(wire.slice(start, end));
  let m: SipMessage | undefined;
  try {
    m = sip.parse(head + '\r\n\r\n');
  } catch {
    return undefined;
  }
  if (!m || typeof m !== 'object' || !m.headers) return undefined;
  const h = m.headers;
  const brokenVia = Array.isArray(h.via) && h.via.some((v) => v.host.startsWith('['));
  const reread = [...(brokenVia ? ['via'] : []), ...ROUTE_HEADERS.filter((n) => h[n] !== undefined)];
  if (reread.length) {
    const raw = rawHeaderValues(head, reread);
    for (const name of ROUTE_HEADERS) {
      // URIs stay as written: the package's URI objects know no IPv6 references.
      if (raw.has(name)) h[name] = nameAddrValues(raw.get(name)!);
    }
    if (brokenVia) {
      const via = viaValues(raw.get('via') ?? []);
      if (!via) return undefined;
      h.via = via;
    }
  }
  const body = wire.slice(end + 4);
  const declared = h['content-length'];
  const length = typeof declared === 'number' && Number.isFinite(declared) && declared >= 0 ? declared : body.length;
  m.content = latin1ToUtf8(length < body.length ? body.slice(0, length) : body);
  return m;
}

/** Serialises to wire text (latin1). Does not modify the message. */
export function encode(m: SipMessage): string {
  const body = m.content ? utf8ToLatin1(m.content) : '';
  return utf8ToLatin1(serializeHead(m, body.length)) + body;
}

/** Wire text for people: logs and `msg.sip.raw`. */
export function wireToText(wire: string): string {
  return latin1ToUtf8(wire);
}
