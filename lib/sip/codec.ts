// Bytes on the wire <-> SipMessage. Wire text is handled as a `latin1` string
// (one char per byte) so that Content-Length counts bytes; bodies are decoded
// from UTF-8 here, which the `sip` package never does (it corrupts non-ASCII).
import * as sip from 'sip';
import type { NameAddr, SipMessage } from './message';

const HEADER_NAMES: Record<string, string> = {
  'call-id': 'Call-ID',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
  'www-authenticate': 'WWW-Authenticate',
  'p-associated-uri': 'P-Associated-URI',
  'p-asserted-identity': 'P-Asserted-Identity',
  'p-preferred-identity': 'P-Preferred-Identity',
  'cseq': 'CSeq',
  'mime-version': 'MIME-Version',
};

export function latin1ToUtf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

export function utf8ToLatin1(s: string): string {
  // Pure ASCII is the common case and needs no copy.
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

/** Parses one complete message given as wire text; undefined when it is not SIP. */
export function decode(wire: string): SipMessage | undefined {
  let m: SipMessage | undefined;
  try {
    m = sip.parse(wire);
  } catch {
    return undefined;
  }
  if (!m || typeof m !== 'object' || !m.headers) return undefined;
  for (const name of ['route', 'record-route', 'path'] as const) {
    const list = m.headers[name];
    if (Array.isArray(list)) {
      // The package parses these URIs into objects; the rest of our code keeps URIs as text.
      m.headers[name] = list.map((r: NameAddr & { uri: unknown }) => ({
        ...r,
        uri: typeof r.uri === 'string' ? r.uri : sip.stringifyUri(r.uri as sip.PackageUri),
      }));
    }
  }
  if (m.content) m.content = latin1ToUtf8(m.content);
  return m;
}

/** Serialises to wire text (latin1). Does not modify the message. */
export function encode(m: SipMessage): string {
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(m.headers)) {
    if (value === undefined || value === null || name === 'content-length') continue;
    // String headers are printed by the package with their key, so canonical
    // spelling of acronyms has to be in the key; structured ones keep theirs.
    const key = typeof value === 'string' || typeof value === 'number' ? HEADER_NAMES[name] ?? name : name;
    headers[key] = typeof value === 'number' ? String(value) : value;
  }
  const content = m.content ? utf8ToLatin1(m.content) : '';
  const wire: string = sip.stringify({ ...m, headers, content });
  // The package prints name-addrs without a display name as `To:  <uri>`; tidy what people read.
  const end = wire.length - content.length;
  return wire.slice(0, end).replace(/(: |, ) </g, '$1<') + content;
}

/** Wire text for people: logs and `msg.sip.raw`. */
export function wireToText(wire: string): string {
  return latin1ToUtf8(wire);
}
