// One traced SIP message as a lab engineer scans it in a ladder: who sent it
// to whom, what it is (method or status, CSeq), which call it belongs to, and
// its text with credentials masked.
import { parseNameAddr } from '../sip/name-addr';
import { headersOfWire } from '../sip/summary';
import { parseUri } from '../sip/uri';
import { maskSecrets } from './mask';

export interface TraceEntry {
  /** Increasing across every endpoint of the process, so merged traces keep their order. */
  id: number;
  /** Milliseconds since the epoch. */
  time: number;
  direction: 'in' | 'out';
  /** The tracing endpoint: its config node id, its name and where it listens (`host:port`). */
  endpointId: string;
  endpoint: string;
  local: string;
  transport: string;
  /** The other side, `address:port`. */
  peer: string;
  /** Request method, or for a response the method of its CSeq. */
  method: string;
  status?: number;
  reason?: string;
  cseq: number;
  callId: string;
  /** User parts of From and To (the host when the URI has no user). */
  fromUser: string;
  toUser: string;
  /** One line: `REGISTER sip:lab.test (CSeq 1) alice → alice` or `401 Unauthorized (CSeq 1 REGISTER)`. */
  summary: string;
  /** The whole message as text, credentials masked; cut at the trace's limit. */
  raw: string;
  /** True when `raw` was cut. */
  truncated?: boolean;
}

export interface WireSource {
  direction: 'in' | 'out';
  peer: { protocol: string; address: string; port: number };
  /** Message text (decoded to UTF-8). */
  text: string;
}

export interface TraceOrigin {
  endpointId: string;
  endpoint: string;
  local: string;
}

export function hostPort(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

function userOf(header: string | undefined): string {
  if (!header) return '';
  const na = parseNameAddr(header);
  const uri = na ? parseUri(na.uri) : undefined;
  if (!uri) return '';
  // A core or server often has no user part (a third-party REGISTER is From sip:core): its host says who it is.
  return uri.user ?? uri.host;
}

/** The entry for a message; `maxRaw` caps the text kept (characters). */
export function traceEntry(id: number, time: number, origin: TraceOrigin, w: WireSource, maxRaw = Infinity): TraceEntry {
  const text = maskSecrets(w.text);
  const firstLine = text.slice(0, Math.max(0, text.indexOf('\r\n'))) || text.slice(0, 200);
  const h = headersOfWire(text);
  const cseqParts = (h.cseq ?? '').trim().split(/\s+/);
  const cseq = Number.parseInt(cseqParts[0] ?? '', 10);
  const cseqMethod = (cseqParts[1] ?? '').toUpperCase();
  const e: TraceEntry = {
    id,
    time,
    direction: w.direction,
    endpointId: origin.endpointId,
    endpoint: origin.endpoint,
    local: origin.local,
    transport: w.peer.protocol.toUpperCase(),
    peer: hostPort(w.peer.address, w.peer.port),
    method: cseqMethod,
    cseq: Number.isFinite(cseq) ? cseq : 0,
    callId: h['call-id'] ?? '',
    fromUser: userOf(h.from),
    toUser: userOf(h.to),
    summary: '',
    raw: text.length > maxRaw ? text.slice(0, maxRaw) : text,
  };
  if (text.length > maxRaw) e.truncated = true;
  const status = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/.exec(firstLine);
  const users = e.fromUser || e.toUser ? ` ${e.fromUser || '?'} → ${e.toUser || '?'}` : '';
  if (status) {
    e.status = Number(status[1]);
    e.reason = status[2] ?? '';
    e.summary = `${e.status} ${e.reason} (CSeq ${e.cseq} ${e.method})${users}`.replace(/\s+\(/, ' (');
  } else {
    const request = /^([A-Za-z]+)\s+(\S+)/.exec(firstLine);
    if (request) e.method = request[1]!.toUpperCase();
    e.summary = `${request ? `${e.method} ${request[2]}` : firstLine} (CSeq ${e.cseq})${users}`;
  }
  return e;
}

/** Rough memory of an entry: JavaScript strings take two bytes a character, plus the object. */
export function entryBytes(e: TraceEntry): number {
  return 2 * (e.raw.length + e.summary.length + e.callId.length + e.endpoint.length + e.local.length + e.peer.length + e.fromUser.length + e.toUser.length) + 160;
}
