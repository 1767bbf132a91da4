// SipMessage -> wire text (latin1, one char per byte). Our own writer: the
// `sip` package's stringify spends more on regular expressions than on
// writing, and prints name-addrs with a double space; its parser stays ours.
import type { CSeq, NameAddr, Params, SipMessage, Via } from './message';

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  via: 'Via',
  to: 'To',
  from: 'From',
  contact: 'Contact',
  route: 'Route',
  'record-route': 'Record-Route',
  path: 'Path',
  'max-forwards': 'Max-Forwards',
  expires: 'Expires',
  'user-agent': 'User-Agent',
  'content-type': 'Content-Type',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
  'www-authenticate': 'WWW-Authenticate',
  'proxy-authenticate': 'Proxy-Authenticate',
  authorization: 'Authorization',
  'proxy-authorization': 'Proxy-Authorization',
  'authentication-info': 'Authentication-Info',
  'p-associated-uri': 'P-Associated-URI',
  'p-asserted-identity': 'P-Asserted-Identity',
  'p-preferred-identity': 'P-Preferred-Identity',
  'mime-version': 'MIME-Version',
  'refer-to': 'Refer-To',
};

function headerName(key: string): string {
  const known = CANONICAL[key];
  if (known) return known;
  // Other names print with each word capitalised (subscription-state -> Subscription-State).
  return key.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

function params(p: Params | undefined): string {
  let s = '';
  if (!p) return s;
  for (const k in p) {
    const v = p[k];
    if (v === undefined) continue;
    s += v === null ? ';' + k : ';' + k + '=' + v;
  }
  return s;
}

function nameAddr(n: NameAddr): string {
  return (n.name ? n.name + ' ' : '') + '<' + n.uri + '>' + params(n.params);
}

function via(v: Via): string {
  // An IPv6 sent-by is an IPv6reference, in brackets (RFC 3261 20.42, RFC 5118 4.5).
  const host = v.host.includes(':') && !v.host.startsWith('[') ? `[${v.host}]` : v.host;
  return `SIP/${v.version || '2.0'}/${v.protocol.toUpperCase()} ${host}${v.port ? ':' + v.port : ''}${params(v.params)}`;
}

/** Digest parameters in the split form: `{scheme: 'Digest', realm: '"x"', ...}` (values already quoted as needed). */
function authValue(a: Record<string, unknown>): string {
  let s = '';
  for (const k in a) {
    if (k === 'scheme' || a[k] === undefined) continue;
    s += (s ? ', ' : '') + k + '=' + String(a[k]);
  }
  return a.scheme ? `${String(a.scheme)} ${s}` : s;
}

function headerLines(key: string, value: unknown): string {
  const name = headerName(key);
  switch (key) {
    case 'via':
      return (value as Via[]).map((v) => `Via: ${via(v)}\r\n`).join('');
    case 'to':
    case 'from':
    case 'refer-to':
      return `${name}: ${nameAddr(value as NameAddr)}\r\n`;
    case 'contact':
      if (value === '*') return 'Contact: *\r\n';
      return (value as NameAddr[]).length ? `Contact: ${(value as NameAddr[]).map(nameAddr).join(', ')}\r\n` : '';
    case 'route':
    case 'record-route':
    case 'path':
      return (value as NameAddr[]).length ? `${name}: ${(value as NameAddr[]).map(nameAddr).join(', ')}\r\n` : '';
    case 'cseq':
      return `CSeq: ${(value as CSeq).seq} ${(value as CSeq).method}\r\n`;
    default:
      break;
  }
  if (typeof value === 'string' || typeof value === 'number') return `${name}: ${value}\r\n`;
  // Headers that may not be combined into one line (RFC 3261 7.3.1): one line each.
  if (Array.isArray(value)) {
    return value.map((v) => `${name}: ${typeof v === 'object' && v !== null ? authValue(v as Record<string, unknown>) : String(v)}\r\n`).join('');
  }
  if (typeof value === 'object' && value !== null) return `${name}: ${authValue(value as Record<string, unknown>)}\r\n`;
  return '';
}

/**
 * The start line and headers, ending with the blank line, as characters (the
 * codec writes them as UTF-8); `contentLength` is the body's length in bytes.
 */
export function serializeHead(m: SipMessage, contentLength: number): string {
  let s =
    m.status !== undefined
      ? `SIP/${m.version || '2.0'} ${m.status} ${m.reason ?? ''}\r\n`
      : `${m.method} ${m.uri} SIP/${m.version || '2.0'}\r\n`;
  const h = m.headers;
  for (const key in h) {
    const value = h[key];
    if (value === undefined || value === null || key === 'content-length') continue;
    s += headerLines(key, value);
  }
  return s + `Content-Length: ${contentLength}\r\n\r\n`;
}
