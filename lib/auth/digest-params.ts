/**
 * Parsing and formatting of Digest challenge / credentials header values
 * (WWW-Authenticate, Proxy-Authenticate, Authorization, Proxy-Authorization).
 *
 * Grammar: RFC 3261 §25.1 (challenge, credentials, auth-param, quoted-string)
 * and RFC 7616 §3.3/§3.4. Nothing here throws: hostile input yields
 * `{ ok: false, error }`.
 */

/** A header value as text, or already split into `{ scheme, name: value }`
 * where values may still carry their surrounding quotes and escapes. */
export type AuthHeaderInput = string | Readonly<Record<string, unknown>>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Scheme plus parameters; names lower-cased, values unquoted and unescaped. */
export interface AuthParams {
  readonly scheme: string;
  readonly params: ReadonlyMap<string, string>;
}

export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  /** Raw token as sent; absent means MD5 (RFC 7616 §3.3). */
  readonly algorithm?: string;
  /** Offered qop values, lower-cased; empty when the challenge has no qop (RFC 2069 style). */
  readonly qop: readonly string[];
  readonly opaque?: string;
  readonly domain?: string;
  readonly stale: boolean;
}

export interface DigestCredentials {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  readonly response: string;
  readonly algorithm?: string;
  readonly cnonce?: string;
  readonly opaque?: string;
  readonly qop?: string;
  readonly nc?: string;
}

/** SIP messages are bounded (RFC 3261 §18.1.1 / UDP); anything far bigger is hostile. */
const MAX_HEADER_LENGTH = 16384;

// RFC 3261 §25.1 token characters.
const TOKEN_CHAR = /[A-Za-z0-9\-.!%*_+`'~]/;

function fail<T>(error: string): Parsed<T> {
  return { ok: false, error };
}

function isLws(ch: string): boolean {
  return ch === ' ' || ch === '\t';
}

/** Cursor-based scanner over one header value. */
class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text.charAt(this.pos);
  }

  skipLws(): void {
    while (!this.done && isLws(this.peek())) this.pos++;
  }

  token(): string {
    const start = this.pos;
    while (!this.done && TOKEN_CHAR.test(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** Unquoted value: lenient (servers put base64 such as `abc==` unquoted). */
  bareValue(): string {
    const start = this.pos;
    while (!this.done) {
      const ch = this.peek();
      if (isLws(ch) || ch === ',' || ch === '"') break;
      this.pos++;
    }
    return this.text.slice(start, this.pos);
  }

  /** Expects the cursor on the opening quote; returns the unescaped content. */
  quoted(): string | undefined {
    let out = '';
    this.pos++;
    while (!this.done) {
      const ch = this.peek();
      this.pos++;
      if (ch === '"') return out;
      if (ch === '\\') {
        if (this.done) return undefined;
        out += this.peek();
        this.pos++;
      } else {
        out += ch;
      }
    }
    return undefined;
  }
}

/** RFC 3261 §7.3.1: a CRLF followed by whitespace is folding, equivalent to SP.
 * Any other CR/LF would let a value smuggle a new header line, so it is refused. */
function unfold(text: string): string | undefined {
  const unfolded = text.replace(/\r?\n[ \t]+/g, ' ');
  return /[\r\n]/.test(unfolded) ? undefined : unfolded;
}

function parseParamList(sc: Scanner, params: Map<string, string>): string | undefined {
  for (;;) {
    sc.skipLws();
    // RFC 7230 §7: empty list elements are allowed and ignored.
    while (sc.peek() === ',') {
      sc.pos++;
      sc.skipLws();
    }
    if (sc.done) return undefined;
    const name = sc.token().toLowerCase();
    if (name === '') return `unexpected character at ${sc.pos}`;
    sc.skipLws();
    if (sc.peek() !== '=') return `expected "=" after ${name}`;
    sc.pos++;
    sc.skipLws();
    let value: string | undefined;
    if (sc.peek() === '"') {
      value = sc.quoted();
      if (value === undefined) return `unterminated quoted string for ${name}`;
    } else {
      value = sc.bareValue();
      if (value === '') return `missing value for ${name}`;
    }
    // RFC 7235 §2.2: each parameter name MUST only occur once per challenge.
    if (params.has(name)) return `duplicate parameter ${name}`;
    params.set(name, value);
    sc.skipLws();
    if (sc.done) return undefined;
    if (sc.peek() !== ',') return `expected "," after ${name}`;
  }
}

function parseText(raw: string): Parsed<AuthParams> {
  if (raw.length > MAX_HEADER_LENGTH) return fail('header value too long');
  const text = unfold(raw);
  if (text === undefined) return fail('bare CR or LF in header value');
  const sc = new Scanner(text);
  sc.skipLws();
  const scheme = sc.token();
  if (scheme === '') return fail('missing auth scheme');
  const params = new Map<string, string>();
  if (!sc.done && !isLws(sc.peek())) return fail(`unexpected character after scheme ${scheme}`);
  const error = parseParamList(sc, params);
  return error === undefined ? { ok: true, value: { scheme, params } } : fail(error);
}

/** A split value may still be `"quoted"` with quoted-pairs inside. */
function unquoteSplitValue(value: string): string | undefined {
  if (!value.startsWith('"')) return value;
  const sc = new Scanner(value);
  const inner = sc.quoted();
  return inner !== undefined && sc.done ? inner : undefined;
}

function parseSplit(input: Readonly<Record<string, unknown>>): Parsed<AuthParams> {
  const scheme = input['scheme'];
  if (typeof scheme !== 'string' || scheme.trim() === '') return fail('missing auth scheme');
  const params = new Map<string, string>();
  let size = scheme.length;
  for (const [key, value] of Object.entries(input)) {
    if (key === 'scheme' || value === undefined) continue;
    if (typeof value !== 'string') return fail(`parameter ${key} is not a string`);
    size += key.length + value.length;
    if (size > MAX_HEADER_LENGTH) return fail('header value too long');
    const name = key.toLowerCase();
    const text = unfold(value);
    const unquoted = text === undefined ? undefined : unquoteSplitValue(text.trim());
    if (unquoted === undefined) return fail(`malformed value for ${name}`);
    if (params.has(name)) return fail(`duplicate parameter ${name}`);
    params.set(name, unquoted);
  }
  return { ok: true, value: { scheme: scheme.trim(), params } };
}

/** Parses either form of a header value into scheme + unquoted parameters. */
export function parseAuthParams(input: AuthHeaderInput): Parsed<AuthParams> {
  if (typeof input === 'string') return parseText(input);
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) return parseSplit(input);
  return fail('header value is neither a string nor an object');
}

function digestParams(parsed: AuthParams, required: readonly string[]): Parsed<ReadonlyMap<string, string>> {
  if (parsed.scheme.toLowerCase() !== 'digest') return fail(`not a Digest header (scheme ${parsed.scheme})`);
  const missing = required.filter((name) => !parsed.params.has(name));
  return missing.length === 0 ? { ok: true, value: parsed.params } : fail(`missing ${missing.join(', ')}`);
}

function splitQop(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((q) => q.trim().toLowerCase())
    .filter((q) => q !== '');
}

/** Typed view of already parsed challenge parameters (RFC 7616 §3.3). */
export function challengeFromParams(parsed: AuthParams): Parsed<DigestChallenge> {
  const checked = digestParams(parsed, ['realm', 'nonce']);
  if (!checked.ok) return checked;
  const p = checked.value;
  return {
    ok: true,
    value: {
      realm: p.get('realm') as string,
      nonce: p.get('nonce') as string,
      algorithm: p.get('algorithm'),
      qop: splitQop(p.get('qop')),
      opaque: p.get('opaque'),
      domain: p.get('domain'),
      stale: (p.get('stale') ?? '').toLowerCase() === 'true',
    },
  };
}

/** Typed view of already parsed credentials parameters (RFC 7616 §3.4). */
export function credentialsFromParams(parsed: AuthParams): Parsed<DigestCredentials> {
  const checked = digestParams(parsed, ['username', 'realm', 'nonce', 'uri', 'response']);
  if (!checked.ok) return checked;
  const p = checked.value;
  return {
    ok: true,
    value: {
      username: p.get('username') as string,
      realm: p.get('realm') as string,
      nonce: p.get('nonce') as string,
      uri: p.get('uri') as string,
      response: p.get('response') as string,
      algorithm: p.get('algorithm'),
      cnonce: p.get('cnonce'),
      opaque: p.get('opaque'),
      qop: p.get('qop'),
      nc: p.get('nc'),
    },
  };
}

/** Parses a WWW-Authenticate / Proxy-Authenticate value. */
export function parseChallenge(input: AuthHeaderInput): Parsed<DigestChallenge> {
  const parsed = parseAuthParams(input);
  return parsed.ok ? challengeFromParams(parsed.value) : parsed;
}

/** Parses an Authorization / Proxy-Authorization value. */
export function parseCredentials(input: AuthHeaderInput): Parsed<DigestCredentials> {
  const parsed = parseAuthParams(input);
  return parsed.ok ? credentialsFromParams(parsed.value) : parsed;
}

// ---------------------------------------------------------------------------
// Formatting

type Field = readonly [name: string, value: string | undefined, quoted: boolean];

/** CTLs cannot be carried by a quoted-pair (RFC 3261 §25.1) and CR/LF would
 * inject header lines, so they are replaced rather than emitted. */
function quote(value: string): string {
  const clean = value.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ' ');
  return `"${clean.replace(/["\\]/g, '\\$&')}"`;
}

/** Token values must stay a single token; anything else is quoted so it cannot break the list. */
function bare(value: string): string {
  return /^[A-Za-z0-9\-.!%*_+`'~]+$/.test(value) ? value : quote(value);
}

function present(fields: readonly Field[]): Field[] {
  return fields.filter((f) => f[1] !== undefined);
}

function formatFields(fields: readonly Field[]): string {
  const list = present(fields).map(([name, value, quoted]) => {
    const v = value as string;
    return `${name}=${quoted ? quote(v) : bare(v)}`;
  });
  return `Digest ${list.join(', ')}`;
}

/** Split form `{ scheme, name: value }` with quotes kept, the inverse of the split input. */
function splitFields(fields: readonly Field[]): Record<string, string> {
  const out: Record<string, string> = { scheme: 'Digest' };
  for (const [name, value, quoted] of present(fields)) {
    const v = value as string;
    out[name] = quoted ? quote(v) : bare(v);
  }
  return out;
}

function challengeFields(c: DigestChallenge): Field[] {
  return [
    ['realm', c.realm, true],
    ['domain', c.domain, true],
    ['nonce', c.nonce, true],
    ['opaque', c.opaque, true],
    ['stale', c.stale ? 'TRUE' : undefined, false],
    ['algorithm', c.algorithm, false],
    // qop-options is a quoted list in a challenge (RFC 3261 §25.1, RFC 7616 §3.3).
    ['qop', c.qop.length > 0 ? c.qop.join(',') : undefined, true],
  ];
}

function credentialFields(c: DigestCredentials): Field[] {
  // RFC 7616 §3.4: algorithm, qop (message-qop) and nc are sent unquoted.
  return [
    ['username', c.username, true],
    ['realm', c.realm, true],
    ['nonce', c.nonce, true],
    ['uri', c.uri, true],
    ['response', c.response, true],
    ['algorithm', c.algorithm, false],
    ['cnonce', c.cnonce, true],
    ['opaque', c.opaque, true],
    ['qop', c.qop, false],
    ['nc', c.nc, false],
  ];
}

export function formatChallenge(challenge: DigestChallenge): string {
  return formatFields(challengeFields(challenge));
}

export function formatCredentials(credentials: DigestCredentials): string {
  return formatFields(credentialFields(credentials));
}

/** Challenge as `{ scheme: 'Digest', realm: '"x"', ... }` for stacks that take split headers. */
export function challengeToSplit(challenge: DigestChallenge): Record<string, string> {
  return splitFields(challengeFields(challenge));
}

/** Credentials as `{ scheme: 'Digest', username: '"u"', ... }` for stacks that take split headers. */
export function credentialsToSplit(credentials: DigestCredentials): Record<string, string> {
  return splitFields(credentialFields(credentials));
}
