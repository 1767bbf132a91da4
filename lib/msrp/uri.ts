// MSRP URIs (RFC 4975 6, 9): msrp://host:port/<session-id>;tcp
//
// A session is known by its URI: the session id picks the session on a shared
// listener, and the whole URI (compared per RFC 4975 6.1) is what To-Path and
// From-Path must carry.
import { randomHex } from '../util/random';

/** IANA's port for MSRP, used when a URI leaves the port out. */
export const MSRP_DEFAULT_PORT = 2855;

export interface MsrpUri {
  secure: boolean; // msrps
  user?: string;
  host: string; // IPv6 without brackets
  port: number;
  sessionId: string;
  transport: string; // lower case, e.g. "tcp"
  params: string[];
}

export class MsrpUriError extends Error {
  constructor(text: string, why: string) {
    super(`bad MSRP URI "${text}": ${why}`);
    this.name = 'MsrpUriError';
  }
}

const SESSION_ID = /^[A-Za-z0-9\-._~+=/%]+$/;
const TRANSPORT = /^[A-Za-z0-9]+$/;

export function parseMsrpUri(text: string): MsrpUri {
  const m = /^(msrps?):\/\/([^/;]+)(?:\/([^;]*))?;(.+)$/i.exec(text.trim());
  if (!m) throw new MsrpUriError(text, 'expected msrp://host:port/session-id;transport');
  const [, scheme, authority, sessionId, tail] = m;
  if (!sessionId || !SESSION_ID.test(sessionId)) throw new MsrpUriError(text, 'missing or invalid session id');
  const [transport, ...params] = tail.split(';');
  if (!TRANSPORT.test(transport)) throw new MsrpUriError(text, 'invalid transport');
  let hostPort = authority;
  let user: string | undefined;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    user = authority.slice(0, at);
    hostPort = authority.slice(at + 1);
  }
  let host: string;
  let portText: string | undefined;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) throw new MsrpUriError(text, 'unclosed IPv6 reference');
    host = hostPort.slice(1, close);
    const rest = hostPort.slice(close + 1);
    if (rest && !rest.startsWith(':')) throw new MsrpUriError(text, 'junk after IPv6 reference');
    portText = rest ? rest.slice(1) : undefined;
  } else {
    const colon = hostPort.indexOf(':');
    host = colon < 0 ? hostPort : hostPort.slice(0, colon);
    portText = colon < 0 ? undefined : hostPort.slice(colon + 1);
  }
  if (!host || /[\s<>"]/.test(host)) throw new MsrpUriError(text, 'missing or invalid host');
  let port = MSRP_DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new MsrpUriError(text, 'invalid port');
    port = Number(portText);
  }
  return { secure: scheme.toLowerCase() === 'msrps', user, host, port, sessionId, transport: transport.toLowerCase(), params };
}

export function formatMsrpUri(u: MsrpUri): string {
  const host = u.host.includes(':') ? `[${u.host}]` : u.host;
  const user = u.user !== undefined ? `${u.user}@` : '';
  const params = u.params.map((p) => `;${p}`).join('');
  return `${u.secure ? 'msrps' : 'msrp'}://${user}${host}:${u.port}/${u.sessionId};${u.transport}${params}`;
}

/** RFC 4975 6.1: scheme, host and transport without case, user and session id exactly, ports as numbers. */
export function sameMsrpUri(a: MsrpUri, b: MsrpUri): boolean {
  return (
    a.secure === b.secure &&
    a.user === b.user &&
    a.host.toLowerCase() === b.host.toLowerCase() &&
    a.port === b.port &&
    a.sessionId === b.sessionId &&
    a.transport === b.transport
  );
}

/** Two paths (lists of URI texts) name the same hops; an unparsable URI matches nothing. */
export function samePath(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    try {
      if (!sameMsrpUri(parseMsrpUri(a[i]), parseMsrpUri(b[i]))) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** A fresh session URI; 80 random bits keep session ids unguessable (RFC 4975 14.1). */
export function newSessionUri(host: string, port: number, transport = 'tcp'): string {
  return formatMsrpUri({ secure: false, host, port, sessionId: randomHex(10), transport, params: [] });
}
