// The in-memory shape of a SIP message. It follows what the `sip` package's
// parser produces, so messages cross the codec without copying; `content` is
// always a decoded JavaScript string here (the codec handles the UTF-8 bytes).

export type Params = Record<string, string | null>;

/** A name-addr or addr-spec with its header parameters (To, From, Contact, Route...). */
export interface NameAddr {
  name?: string;
  uri: string;
  params: Params;
}

export interface Via {
  version?: string;
  protocol: string;
  host: string;
  port?: number;
  params: Params;
}

export interface CSeq {
  seq: number;
  method: string;
}

export interface SipHeaders {
  via?: Via[];
  to?: NameAddr;
  from?: NameAddr;
  'call-id'?: string;
  cseq?: CSeq;
  contact?: NameAddr[] | '*';
  route?: NameAddr[];
  'record-route'?: NameAddr[];
  path?: NameAddr[];
  'www-authenticate'?: Record<string, string>[];
  'proxy-authenticate'?: Record<string, string>[];
  [name: string]: unknown;
}

export interface SipMessage {
  method?: string;
  uri?: string;
  status?: number;
  reason?: string;
  version?: string;
  headers: SipHeaders;
  content?: string;
}

export interface SipRequest extends SipMessage {
  method: string;
  uri: string;
  headers: SipHeaders & { via: Via[]; to: NameAddr; from: NameAddr; 'call-id': string; cseq: CSeq };
}

export interface SipResponse extends SipMessage {
  status: number;
  reason: string;
  headers: SipHeaders & { via: Via[]; to: NameAddr; from: NameAddr; 'call-id': string; cseq: CSeq };
}

export function isRequest(m: SipMessage): m is SipRequest {
  return typeof m.method === 'string';
}

/**
 * A header that the `sip` parser keeps as text. Repeated header lines arrive
 * joined with commas, which is their RFC 3261 7.3.1 equivalent form.
 */
export function headerText(m: SipMessage, name: string): string | undefined {
  const v = m.headers[name.toLowerCase()];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

/** Splits a comma-separated header value, leaving commas inside quotes and <> alone. */
export function splitHeaderList(value: string): string[] {
  const out: string[] = [];
  let depthAngle = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) quoted = false;
    } else if (c === 34) quoted = true;
    else if (c === 60 /* < */) depthAngle++;
    else if (c === 62 /* > */) depthAngle = Math.max(0, depthAngle - 1);
    else if (c === 44 /* , */ && depthAngle === 0) {
      const part = value.slice(start, i).trim();
      if (part) out.push(part);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last) out.push(last);
  return out;
}

/** Option tags of Supported / Require / Allow-Events style headers, lower-cased. */
export function tokenList(m: SipMessage, name: string): string[] {
  const v = headerText(m, name);
  return v ? splitHeaderList(v).map((t) => t.toLowerCase()) : [];
}

/** Removes the surrounding quotes of a quoted-string and its backslash escapes. */
export function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return value;
}

export function quote(value: string): string {
  return '"' + value.replace(/(["\\])/g, '\\$1') + '"';
}

/** A header value with parameters, e.g. `Event: reg;id=5` or `Subscription-State: active;expires=60`. */
export interface ValueWithParams {
  value: string;
  params: Params;
}

export function parseValueWithParams(text: string): ValueWithParams {
  const parts = splitOutsideQuotes(text, ';');
  const params: Params = {};
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq < 0) params[p.trim().toLowerCase()] = null;
    else params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim();
  }
  return { value: (parts[0] ?? '').trim(), params };
}

function splitOutsideQuotes(text: string, sep: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === sep) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** Parses a delta-seconds header such as Expires or Min-Expires; undefined when absent or invalid. */
export function deltaSeconds(m: SipMessage, name: string): number | undefined {
  const v = headerText(m, name);
  if (v === undefined) return undefined;
  const n = Number.parseInt(v.trim(), 10);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
