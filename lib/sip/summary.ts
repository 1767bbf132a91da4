// What nodes put in `msg.sip`: the message as a lab engineer reads it. The
// same shape on every node, whichever procedure produced it.
import { wireToText } from './codec';
import type { SipMessage } from './message';

export interface SipSummary {
  direction: 'in' | 'out';
  /** Request method, or the method of the request a response answers. */
  method: string;
  status?: number;
  reason?: string;
  uri?: string;
  callId: string;
  cseq: number;
  from: string;
  to: string;
  /** Every header as written on the wire, lower-case names; repeated ones joined by ", ". */
  headers: Record<string, string>;
  body?: string;
  /** The whole message as text (absent for responses the stack made up locally, e.g. a timeout). */
  raw?: string;
}

// RFC 3261 7.3.3 compact forms, plus RFC 6665's event (o) and allow-events (u).
const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', u: 'allow-events',
};

/** Header lines of wire text, keyed by lower-case name (compact forms expanded). */
export function headersOfWire(raw: string): Record<string, string> {
  // One pass over the head without splitting it: this runs for every message a node outputs.
  const blank = raw.indexOf('\r\n\r\n');
  const stop = blank >= 0 ? blank : raw.length;
  const out: Record<string, string> = {};
  let name: string | undefined;
  let value = '';
  const put = (): void => {
    if (name === undefined) return;
    const v = value.trim();
    out[name] = out[name] !== undefined ? `${out[name]}, ${v}` : v;
    name = undefined;
  };
  // The start line is skipped: the first header begins after its CRLF.
  let start = raw.indexOf('\r\n');
  while (start >= 0 && start < stop) {
    start += 2;
    let end = raw.indexOf('\r\n', start);
    if (end < 0 || end > stop) end = stop;
    const first = raw.charCodeAt(start);
    if (first === 0x20 || first === 0x09) {
      // A folded line continues the header above (RFC 3261 7.3.1).
      if (name !== undefined) value += ' ' + raw.slice(start, end).replace(/^[ \t]+/, '');
    } else {
      put();
      const colon = raw.indexOf(':', start);
      if (colon > start && colon < end) {
        const n = raw.slice(start, colon).trim().toLowerCase();
        name = COMPACT[n] ?? n;
        value = raw.slice(colon + 1, end);
      }
    }
    start = end;
  }
  put();
  return out;
}

export function summarize(m: SipMessage, direction: 'in' | 'out', wire?: string): SipSummary {
  const raw = wire !== undefined ? wireToText(wire) : undefined;
  const h = m.headers;
  const s: SipSummary = {
    direction,
    method: m.method ?? h.cseq?.method ?? '',
    callId: String(h['call-id'] ?? ''),
    cseq: h.cseq?.seq ?? 0,
    from: h.from?.uri ?? '',
    to: h.to?.uri ?? '',
    headers: raw ? headersOfWire(raw) : {},
  };
  if (m.status !== undefined) {
    s.status = m.status;
    s.reason = m.reason;
  } else {
    s.uri = m.uri;
  }
  if (m.content) s.body = m.content;
  if (raw !== undefined) s.raw = raw;
  return s;
}
