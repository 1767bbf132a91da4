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
  const end = raw.indexOf('\r\n\r\n');
  const head = (end >= 0 ? raw.slice(0, end) : raw).replace(/\r\n[ \t]+/g, ' ');
  const out: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const c = line.indexOf(':');
    if (c <= 0) continue;
    let name = line.slice(0, c).trim().toLowerCase();
    name = COMPACT[name] ?? name;
    const value = line.slice(c + 1).trim();
    out[name] = out[name] !== undefined ? `${out[name]}, ${value}` : value;
  }
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
