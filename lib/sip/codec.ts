// Bytes on the wire <-> SipMessage. Wire text is handled as a `latin1` string
// (one char per byte) so that Content-Length counts bytes; bodies are decoded
// from UTF-8 here, which the `sip` package never does (it corrupts non-ASCII).
// Parsing is the `sip` package's; writing is ours (serialize.ts).
import * as sip from 'sip';
import type { NameAddr, SipMessage } from './message';
import { serialize } from './serialize';

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
  return serialize(m, m.content ? utf8ToLatin1(m.content) : '');
}

/** Wire text for people: logs and `msg.sip.raw`. */
export function wireToText(wire: string): string {
  return latin1ToUtf8(wire);
}
