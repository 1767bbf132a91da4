// message/cpim (RFC 3862): the wrapper that keeps a message's original
// sender, recipients and time when someone else (the IM server delivering a
// deferred message) puts it on the wire.
//
// Layout: message headers, a blank line, the content's MIME headers
// (Content-Type at least), a blank line, the content. Header values are
// UTF-8; the content is bytes and stays bytes.

export interface CpimAddress {
  name?: string;
  uri: string;
}

export interface CpimSubject {
  text: string;
  lang?: string;
}

/** An NS declaration; no prefix declares the default namespace. */
export interface CpimNamespace {
  prefix?: string;
  uri: string;
}

/** A header outside the core set, with the namespace its prefix stands for. */
export interface CpimExtensionHeader {
  prefix?: string;
  name: string;
  value: string;
  namespace?: string;
  params?: string[];
}

export interface CpimHeader {
  name: string;
  value: string;
}

export interface CpimMessage {
  from?: CpimAddress;
  to: CpimAddress[];
  cc: CpimAddress[];
  /** As sent (RFC 3339), so the sender's UTC offset survives. */
  dateTime?: string;
  subject: CpimSubject[];
  namespaces: CpimNamespace[];
  require: string[];
  extensions: CpimExtensionHeader[];
  /** The content's type, e.g. "text/plain;charset=utf-8". */
  contentType: string;
  /** The content's other MIME headers (Content-ID, Content-Disposition, ...). */
  contentHeaders: CpimHeader[];
  body: Buffer;
}

export interface CpimInput {
  from?: CpimAddress | string;
  to?: CpimAddress | string | Array<CpimAddress | string>;
  cc?: Array<CpimAddress | string>;
  /** A Date is written in UTC; a string is written as given (it must be RFC 3339). */
  dateTime?: Date | string;
  subject?: string | CpimSubject | CpimSubject[];
  namespaces?: CpimNamespace[];
  require?: string[];
  extensions?: CpimExtensionHeader[];
  contentType: string;
  contentHeaders?: CpimHeader[];
  body: Buffer | string;
}

export const CPIM_CONTENT_TYPE = 'message/cpim';

export class CpimError extends Error {
  constructor(message: string) {
    super(`message/cpim: ${message}`);
    this.name = 'CpimError';
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const TOKEN = /^[A-Za-z0-9!#$%&'*+\-^_`|~]+$/;
const CONTENT_TYPE = 'content-type';

/** Builds the wrapper; throws CpimError on values that would break its lines. */
export function buildCpim(input: CpimInput): Buffer {
  // One string for the headers and one buffer for all: a wrapper is built per message delivered.
  let head = '';
  if (input.from !== undefined) head += `From: ${formatAddress(input.from)}\r\n`;
  const to = input.to === undefined ? [] : Array.isArray(input.to) ? input.to : [input.to];
  for (const a of to) head += `To: ${formatAddress(a)}\r\n`;
  for (const a of input.cc ?? []) head += `cc: ${formatAddress(a)}\r\n`;
  if (input.dateTime !== undefined) head += `DateTime: ${formatDateTime(input.dateTime)}\r\n`;
  const subjects = input.subject === undefined ? [] : Array.isArray(input.subject) ? input.subject : [input.subject];
  for (const s of subjects) {
    const subject = typeof s === 'string' ? { text: s } : s;
    head += `Subject:${subject.lang ? `;lang=${checkToken(subject.lang, 'language tag')}` : ''} ${checkValue(subject.text)}\r\n`;
  }
  for (const ns of input.namespaces ?? []) {
    head += `NS: ${ns.prefix ? `${checkToken(ns.prefix, 'namespace prefix')} ` : ''}<${checkUri(ns.uri)}>\r\n`;
  }
  if (input.require && input.require.length > 0) head += `Require: ${input.require.map((r) => checkValue(r)).join(',')}\r\n`;
  for (const h of input.extensions ?? []) {
    const name = `${h.prefix ? `${checkToken(h.prefix, 'namespace prefix')}.` : ''}${checkToken(h.name, 'header name')}`;
    let params = '';
    for (const p of h.params ?? []) params += `;${checkValue(p)}`;
    head += `${name}:${params} ${checkValue(h.value)}\r\n`;
  }
  head += `\r\nContent-Type: ${checkValue(input.contentType)}\r\n`;
  for (const h of input.contentHeaders ?? []) head += `${checkToken(h.name, 'header name')}: ${checkValue(h.value)}\r\n`;
  head += '\r\n';
  const headBytes = Buffer.byteLength(head, 'utf8');
  const body = input.body;
  const bodyBytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  const out = Buffer.allocUnsafe(headBytes + bodyBytes);
  out.write(head, 0, 'utf8');
  if (typeof body === 'string') out.write(body, headBytes, 'utf8');
  else body.copy(out, headBytes);
  return out;
}

interface RawHeader {
  prefix?: string;
  name: string;
  params: string[];
  value: string;
}

/** Reads a wrapper; throws CpimError naming what is wrong. */
export function parseCpim(data: Buffer | string): CpimMessage {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const raw: RawHeader[] = [];
  const afterHeaders = readSection(buf, 0, 'no blank line after the message headers', (line) => raw.push(headerLine(line)));
  const msg: CpimMessage = { to: [], cc: [], subject: [], namespaces: [], require: [], extensions: [], contentType: '', contentHeaders: [], body: buf };
  const afterContent = readSection(buf, afterHeaders, 'no blank line after the content headers', (line) => {
    const colon = line.indexOf(':');
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) {
      throw new CpimError(`malformed content header line ${JSON.stringify(line.slice(0, 80))}`);
    }
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (name.length === CONTENT_TYPE.length && name.toLowerCase() === CONTENT_TYPE) msg.contentType = value;
    else msg.contentHeaders.push({ name, value });
  });
  msg.body = buf.subarray(afterContent);

  // Declarations first, so every prefixed header finds its namespace whatever the line order.
  for (const h of raw) {
    if (h.prefix === undefined && h.name.toLowerCase() === 'ns') msg.namespaces.push(parseNamespace(h.value));
  }
  for (const h of raw) {
    const key = h.prefix === undefined ? h.name.toLowerCase() : '';
    if (key === 'from') {
      if (msg.from) throw new CpimError('more than one From header');
      msg.from = parseAddress(h.value, 'From');
    } else if (key === 'to') msg.to.push(parseAddress(h.value, 'To'));
    else if (key === 'cc') msg.cc.push(parseAddress(h.value, 'cc'));
    else if (key === 'datetime') {
      if (!RFC3339.test(h.value) || Number.isNaN(Date.parse(h.value))) throw new CpimError(`DateTime "${h.value}" is not an RFC 3339 time`);
      msg.dateTime = h.value;
    } else if (key === 'subject') {
      const lang = h.params.find((p) => p.toLowerCase().startsWith('lang='));
      msg.subject.push(lang ? { text: h.value, lang: lang.slice(5) } : { text: h.value });
    } else if (key === 'require') {
      msg.require.push(...h.value.split(',').map((s) => s.trim()).filter((s) => s.length > 0));
    } else if (key !== 'ns') {
      const namespace = msg.namespaces.find((n) => n.prefix === h.prefix)?.uri;
      const ext: CpimExtensionHeader = { name: h.name, value: h.value };
      if (h.prefix !== undefined) ext.prefix = h.prefix;
      if (namespace !== undefined) ext.namespace = namespace;
      if (h.params.length > 0) ext.params = h.params;
      msg.extensions.push(ext);
    }
  }
  if (!msg.contentType) throw new CpimError('the content has no Content-Type');
  return msg;
}

/**
 * Hands each line of a header section from `from` to `take` and returns where
 * the section's blank line ends. Lines end in CRLF, or a bare LF from lenient
 * writers. Only the section is read (the content after it is never scanned),
 * and it is decoded once, not line by line.
 */
function readSection(buf: Buffer, from: number, missing: string, take: (line: string) => void): number {
  let end = from;
  for (;;) {
    const lf = buf.indexOf(0x0a, end);
    if (lf < 0) throw new CpimError(missing);
    if (lf === end || (lf === end + 1 && buf[end] === 0x0d)) break;
    end = lf + 1;
  }
  const text = buf.toString('utf8', from, end);
  for (let pos = 0; pos < text.length; ) {
    const lf = text.indexOf('\n', pos);
    take(text.slice(pos, lf > pos && text.charCodeAt(lf - 1) === 0x0d ? lf - 1 : lf));
    pos = lf + 1;
  }
  return buf[end] === 0x0d ? end + 2 : end + 1;
}

/** `[prefix.]name:[;param...][ value]` (RFC 3862 3.1), read without a regular expression: one per header of every message. */
function headerLine(line: string): RawHeader {
  const colon = line.indexOf(':');
  const bad = (): CpimError => new CpimError(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
  if (colon <= 0) throw bad();
  const dot = line.lastIndexOf('.', colon);
  const prefix = dot >= 0 ? line.slice(0, dot) : undefined;
  const name = line.slice(dot + 1, colon);
  if (!TOKEN.test(name) || (prefix !== undefined && !TOKEN.test(prefix))) throw bad();
  const params: string[] = [];
  let pos = colon + 1;
  while (line.charCodeAt(pos) === 0x3b) {
    let stop = pos + 1;
    while (stop < line.length && line.charCodeAt(stop) !== 0x20 && line.charCodeAt(stop) !== 0x3b) stop++;
    params.push(line.slice(pos + 1, stop));
    pos = stop;
  }
  let value = '';
  if (pos < line.length) {
    if (line.charCodeAt(pos) !== 0x20) throw bad();
    value = line.slice(pos + 1);
    if (value.includes('\r')) throw bad();
    value = value.trim();
  }
  return prefix === undefined ? { name, params, value } : { prefix, name, params, value };
}

/** The content as text (message/cpim content is UTF-8 unless its charset says otherwise). */
export function cpimBodyText(msg: CpimMessage): string {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(msg.contentType)?.[1]?.toLowerCase();
  return msg.body.toString(charset === 'iso-8859-1' || charset === 'latin1' || charset === 'us-ascii' ? 'latin1' : 'utf8');
}

function formatDateTime(d: Date | string): string {
  if (typeof d !== 'string') {
    if (Number.isNaN(d.getTime())) throw new CpimError('DateTime is an invalid Date');
    return d.toISOString();
  }
  if (!RFC3339.test(d) || Number.isNaN(Date.parse(d))) throw new CpimError(`DateTime "${d}" is not an RFC 3339 time`);
  return d;
}

function formatAddress(a: CpimAddress | string): string {
  const addr = typeof a === 'string' ? { uri: a } : a;
  const uri = `<${checkUri(addr.uri)}>`;
  if (!addr.name) return uri;
  checkValue(addr.name);
  const name = /^[A-Za-z0-9!#$%&'*+\-^_`|~. ]+$/.test(addr.name) ? addr.name : `"${addr.name.replace(/(["\\])/g, '\\$1')}"`;
  return `${name} ${uri}`;
}

function parseAddress(value: string, header: string): CpimAddress {
  const m = /^(.*?)\s*<([^<>\s]+)>$/.exec(value);
  if (!m) {
    // Tolerated: a bare URI without angle brackets.
    if (/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(value)) return { uri: value };
    throw new CpimError(`${header} "${value}" is not [name] <uri>`);
  }
  let name = m[1].trim();
  if (name.startsWith('"')) {
    if (name.length < 2 || !name.endsWith('"')) throw new CpimError(`${header} has an unclosed quoted name`);
    name = name.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return name ? { name, uri: m[2] } : { uri: m[2] };
}

function parseNamespace(value: string): CpimNamespace {
  const m = /^(?:([^\s<]+)\s+)?<([^<>\s]+)>$/.exec(value);
  if (!m) throw new CpimError(`NS "${value}" is not [prefix] <uri>`);
  return m[1] ? { prefix: m[1], uri: m[2] } : { uri: m[2] };
}

function checkValue(v: string): string {
  if (/[\r\n]/.test(v)) throw new CpimError(`a header value may not hold a line break: ${JSON.stringify(v.slice(0, 40))}`);
  return v;
}

function checkToken(v: string, what: string): string {
  if (!TOKEN.test(v)) throw new CpimError(`bad ${what} "${v}"`);
  return v;
}

function checkUri(v: string): string {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^<>\s]+$/.test(v)) throw new CpimError(`bad URI "${v}"`);
  return v;
}
