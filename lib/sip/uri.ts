// SIP and tel URIs (RFC 3261 19.1, RFC 3966). Our own reader because the
// `sip` package's one knows no IPv6 references and no tel: URIs, and both show
// up in P-Associated-URI and reginfo documents.
import type { Params } from './message';

export interface SipUri {
  scheme: 'sip' | 'sips' | 'tel';
  user?: string;
  host: string; // for tel: the number
  port?: number;
  params: Params;
  headers: Record<string, string>;
}

export function parseUri(text: string): SipUri | undefined {
  let s = text.trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1).trim();
  const colon = s.indexOf(':');
  if (colon < 0) return undefined;
  const scheme = s.slice(0, colon).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') return undefined;
  let rest = s.slice(colon + 1);

  const headers: Record<string, string> = {};
  const q = rest.indexOf('?');
  if (q >= 0) {
    for (const pair of rest.slice(q + 1).split('&')) {
      const eq = pair.indexOf('=');
      if (eq > 0) headers[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    rest = rest.slice(0, q);
  }

  if (scheme === 'tel') {
    const [number, ...paramParts] = rest.split(';');
    if (!number) return undefined;
    return { scheme, host: number, params: readParams(paramParts), headers };
  }

  const at = rest.lastIndexOf('@');
  let user: string | undefined;
  if (at >= 0) {
    user = rest.slice(0, at);
    const pw = user.indexOf(':');
    if (pw >= 0) user = user.slice(0, pw); // a password in a URI is never used (RFC 3261 19.1.1)
    rest = rest.slice(at + 1);
  }
  const [hostport, ...paramParts] = rest.split(';');
  const hp = splitHostPort(hostport ?? '');
  if (!hp) return undefined;
  return { scheme, user: user || undefined, host: hp.host, port: hp.port, params: readParams(paramParts), headers };
}

function readParams(parts: string[]): Params {
  const params: Params = {};
  for (const p of parts) {
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) params[p.toLowerCase()] = null;
    else params[p.slice(0, eq).toLowerCase()] = p.slice(eq + 1);
  }
  return params;
}

export function splitHostPort(text: string): { host: string; port?: number } | undefined {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    host = text.slice(1, close);
    const after = text.slice(close + 1);
    if (after.startsWith(':')) portText = after.slice(1);
    else if (after) return undefined;
  } else {
    const c = text.indexOf(':');
    host = c >= 0 ? text.slice(0, c) : text;
    portText = c >= 0 ? text.slice(c + 1) : undefined;
  }
  if (!host || !/^[A-Za-z0-9.\-_:]+$/.test(host)) return undefined;
  if (portText === undefined || portText === '') return { host };
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** `user@host` of a sip/sips URI, lower-cased host; the key of an address of record. */
export function addressOfRecord(text: string): string | undefined {
  const u = parseUri(text);
  if (!u) return undefined;
  if (u.scheme === 'tel') return 'tel:' + u.host;
  return `sip:${u.user ? u.user + '@' : ''}${u.host.toLowerCase()}`;
}

/**
 * Equality as registrars compare contacts: scheme, user, host, port and
 * transport (RFC 3261 19.1.4, simplified to what identifies a binding).
 */
export function sameContactUri(a: string, b: string): boolean {
  const x = parseUri(a);
  const y = parseUri(b);
  if (!x || !y) return false;
  return (
    x.scheme === y.scheme &&
    (x.user ?? '') === (y.user ?? '') &&
    x.host.toLowerCase() === y.host.toLowerCase() &&
    (x.port ?? 0) === (y.port ?? 0) &&
    String(x.params.transport ?? 'udp').toLowerCase() === String(y.params.transport ?? 'udp').toLowerCase()
  );
}

/** The user part of an identity given as `alice`, `alice@lab.test` or `sip:alice@lab.test`. */
export function normaliseIdentity(identity: string, domain: string): string | undefined {
  const t = identity.trim();
  if (!t) return undefined;
  if (/^(sips?|tel):/i.test(t)) return parseUri(t) ? t : undefined;
  if (t.includes('@')) return 'sip:' + t;
  return domain ? `sip:${t}@${domain}` : undefined;
}
