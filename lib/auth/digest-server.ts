/**
 * Server side of SIP Digest authentication (RFC 3261 §22.1/§22.4, RFC 7616,
 * RFC 8760) for the embedded lab core and test registrars.
 *
 * Nonces are self-describing and stateless to verify: issue time, random
 * bytes and an HMAC under a per-instance secret. Only the last nonce count
 * seen per nonce is kept, in a bounded map, for replay protection.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthHeaderInput, DigestChallenge, DigestCredentials, challengeToSplit, credentialsFromParams, formatChallenge, parseAuthParams } from './digest-params';
import {
  DigestAlgorithm,
  DigestQop,
  computeResponse,
  digestHexLength,
  isSessionAlgorithm,
  parseAlgorithm,
} from './digest-hash';
import type { AuthKind, DigestRequest } from './digest-client';

export type CredentialsInput = AuthHeaderInput;

export interface DigestServerOptions {
  readonly realm: string;
  /** Password of a user, or undefined when unknown. */
  readonly lookup: (username: string) => string | undefined;
  /** 'www' for a registrar/UAS (401), 'proxy' for a proxy (407). Default 'www'. */
  readonly kind?: AuthKind;
  /** Offered in this order of preference (RFC 7616 §3.7). Default SHA-256 then MD5 (RFC 8760 §2.4). */
  readonly algorithms?: readonly DigestAlgorithm[];
  /** Default ['auth']; [] issues RFC 2069 style challenges, which have no nc and so no replay check. */
  readonly qop?: readonly DigestQop[];
  /** Sent in every challenge and required back unchanged (RFC 7616 §3.3). */
  readonly opaque?: string;
  /** Nonce lifetime; older nonces with a valid response get stale=TRUE. Default 300 000 ms. */
  readonly nonceTtlMs?: number;
  /** HMAC key; share it between instances that must accept each other's nonces. Default 32 random bytes. */
  readonly secret?: Uint8Array;
  /** Clock in ms, injectable for tests. */
  readonly now?: () => number;
  /** Bound on nonces whose nonce count is remembered. Default 10 000. */
  readonly maxTrackedNonces?: number;
  /** digest-uri vs Request-URI (RFC 3261 §22.4). Default: equal, ignoring case. */
  readonly uriMatches?: (digestUri: string, requestUri: string) => boolean;
}

export type DigestFailureReason =
  | 'no-credentials'
  | 'malformed'
  | 'bad-realm'
  | 'bad-algorithm'
  | 'bad-qop'
  | 'bad-opaque'
  | 'uri-mismatch'
  | 'unknown-user'
  | 'lookup-failed'
  | 'bad-nonce'
  | 'bad-response'
  | 'stale'
  | 'replay';

export type DigestVerifyResult =
  | { readonly ok: true; readonly username: string; readonly algorithm: DigestAlgorithm; readonly qop?: DigestQop }
  | { readonly ok: false; readonly reason: DigestFailureReason; readonly stale: boolean; readonly detail?: string };

export interface DigestChallengeSet {
  readonly header: 'www-authenticate' | 'proxy-authenticate';
  /** One header value per offered algorithm, in preference order. */
  readonly values: readonly string[];
  /** The same as `{ scheme: 'Digest', realm: '"x"', ... }`. */
  readonly split: readonly Record<string, string>[];
  readonly challenges: readonly DigestChallenge[];
}

type Failure = Extract<DigestVerifyResult, { ok: false }>;

function failure(reason: DigestFailureReason, detail?: string, stale = false): Failure {
  return detail === undefined ? { ok: false, reason, stale } : { ok: false, reason, stale, detail };
}

// Nonce layout: 8 bytes issue time (ms) | 12 random bytes | 16 bytes HMAC-SHA-256 prefix.
const TIME_BYTES = 8;
const RANDOM_BYTES = 12;
const MAC_BYTES = 16;
const BODY_BYTES = TIME_BYTES + RANDOM_BYTES;
const NONCE_CHARS = Math.ceil(((BODY_BYTES + MAC_BYTES) * 4) / 3);
const NONCE_SHAPE = new RegExp(`^[A-Za-z0-9_-]{${NONCE_CHARS}}$`);

/** Mints and authenticates nonces; base64url keeps them within token characters. */
class NonceMint {
  constructor(
    private readonly secret: Uint8Array,
    private readonly realm: string,
  ) {}

  mint(now: number): string {
    const nonce = Buffer.alloc(BODY_BYTES + MAC_BYTES);
    nonce.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now))), 0);
    randomBytes(RANDOM_BYTES).copy(nonce, TIME_BYTES);
    this.mac(nonce.subarray(0, BODY_BYTES)).copy(nonce, BODY_BYTES);
    return nonce.toString('base64url');
  }

  /** Issue time of one of our nonces, or undefined when it is not ours. */
  issuedAt(nonce: string): number | undefined {
    if (!NONCE_SHAPE.test(nonce)) return undefined;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== BODY_BYTES + MAC_BYTES) return undefined;
    const expected = this.mac(raw.subarray(0, BODY_BYTES));
    if (!timingSafeEqual(expected, raw.subarray(BODY_BYTES))) return undefined;
    return Number(raw.readBigUInt64BE(0));
  }

  private mac(body: Uint8Array): Buffer {
    // Binding the realm keeps a nonce of one realm from serving another sharing the secret.
    return createHmac('sha256', this.secret).update(body).update(this.realm, 'utf8').digest().subarray(0, MAC_BYTES);
  }
}

type CountVerdict = 'ok' | 'replay' | 'forgotten';

/** Highest nc seen per nonce (RFC 7616 §3.4: the server checks nc to detect replays), bounded in size. */
class NonceCounts {
  private readonly seen = new Map<string, { issued: number; nc: number }>();
  // Nonces issued at or before this time may have been evicted; their history is unknown.
  private evictedUpTo = -Infinity;

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}

  record(nonce: string, issued: number, nc: number, now: number): CountVerdict {
    this.pruneExpired(now);
    const entry = this.seen.get(nonce);
    if (entry !== undefined) {
      if (nc <= entry.nc) return 'replay';
      entry.nc = nc;
      return 'ok';
    }
    if (issued <= this.evictedUpTo) return 'forgotten';
    this.seen.set(nonce, { issued, nc });
    this.evictOverflow();
    return 'ok';
  }

  /** Expired nonces are refused before the count is consulted, so dropping them loses nothing. */
  private pruneExpired(now: number): void {
    for (const [nonce, entry] of this.seen) {
      if (now - entry.issued <= this.ttlMs) break;
      this.seen.delete(nonce);
    }
  }

  private evictOverflow(): void {
    while (this.seen.size > this.max) {
      const [nonce, entry] = this.seen.entries().next().value as [string, { issued: number; nc: number }];
      this.seen.delete(nonce);
      this.evictedUpTo = Math.max(this.evictedUpTo, entry.issued);
    }
  }
}

const NC_SHAPE = /^[0-9a-fA-F]{8}$/;
const MAX_CREDENTIAL_HEADERS = 32;

function defaultUriMatches(digestUri: string, requestUri: string): boolean {
  // SIP URI scheme and host compare case-insensitively (RFC 3261 §19.1.4).
  return digestUri === requestUri || digestUri.toLowerCase() === requestUri.toLowerCase();
}

function sameDigest(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given.toLowerCase(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function validateOptions(o: DigestServerOptions, algorithms: readonly DigestAlgorithm[], qop: readonly DigestQop[]): void {
  if (algorithms.length === 0) throw new Error('DigestServer: at least one algorithm is required');
  for (const a of algorithms) {
    if (parseAlgorithm(a) !== a) throw new Error(`DigestServer: unsupported algorithm ${String(a)}`);
    // -sess needs a cnonce, which only exists with qop (RFC 2617 §3.2.2).
    if (isSessionAlgorithm(a) && qop.length === 0) throw new Error(`DigestServer: ${a} requires a qop`);
  }
  if (qop.some((q) => q !== 'auth' && q !== 'auth-int')) throw new Error('DigestServer: qop must be auth and/or auth-int');
  if (/[\x00-\x1f\x7f]/.test(o.realm + (o.opaque ?? ''))) throw new Error('DigestServer: control character in realm or opaque');
}

export class DigestServer {
  readonly realm: string;
  readonly header: DigestChallengeSet['header'];
  private readonly algorithms: readonly DigestAlgorithm[];
  private readonly qop: readonly DigestQop[];
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly mint: NonceMint;
  private readonly counts: NonceCounts;
  private readonly uriMatches: (digestUri: string, requestUri: string) => boolean;

  constructor(private readonly options: DigestServerOptions) {
    this.realm = options.realm;
    this.header = options.kind === 'proxy' ? 'proxy-authenticate' : 'www-authenticate';
    this.algorithms = [...(options.algorithms ?? ['SHA-256', 'MD5'])];
    this.qop = [...(options.qop ?? ['auth'])];
    validateOptions(options, this.algorithms, this.qop);
    this.ttlMs = options.nonceTtlMs ?? 300_000;
    this.now = options.now ?? Date.now;
    this.mint = new NonceMint(options.secret ?? randomBytes(32), options.realm);
    this.counts = new NonceCounts(Math.max(1, options.maxTrackedNonces ?? 10_000), this.ttlMs);
    this.uriMatches = options.uriMatches ?? defaultUriMatches;
  }

  /** Fresh challenges, one per algorithm sharing one nonce (as in RFC 7616 §3.9.2). */
  challenge(options: { readonly stale?: boolean } = {}): DigestChallengeSet {
    const nonce = this.mint.mint(this.now());
    const challenges: DigestChallenge[] = this.algorithms.map((algorithm) => ({
      realm: this.realm,
      nonce,
      algorithm,
      qop: this.qop,
      opaque: this.options.opaque,
      stale: options.stale === true,
    }));
    return {
      header: this.header,
      values: challenges.map(formatChallenge),
      split: challenges.map(challengeToSplit),
      challenges,
    };
  }

  /**
   * Verifies the Authorization / Proxy-Authorization values of a request.
   * Among several values, the one for our realm is used (RFC 3261 §22.3).
   */
  verify(input: CredentialsInput | readonly CredentialsInput[] | undefined, request: DigestRequest): DigestVerifyResult {
    const picked = this.pick(input);
    if ('ok' in picked) return picked;
    return this.check(picked, request);
  }

  private pick(input: CredentialsInput | readonly CredentialsInput[] | undefined): DigestCredentials | Failure {
    const list: readonly unknown[] = input === undefined ? [] : Array.isArray(input) ? input : [input];
    let fallback: Failure = failure('no-credentials');
    for (const item of list.slice(0, MAX_CREDENTIAL_HEADERS)) {
      const params = parseAuthParams(item as CredentialsInput);
      if (!params.ok) {
        fallback = failure('malformed', params.error);
        continue;
      }
      if (params.value.scheme.toLowerCase() !== 'digest') continue;
      const credentials = credentialsFromParams(params.value);
      if (!credentials.ok) fallback = failure('malformed', credentials.error);
      else if (credentials.value.realm === this.realm) return credentials.value;
      else if (fallback.reason === 'no-credentials') fallback = failure('bad-realm', credentials.value.realm);
    }
    return fallback;
  }

  private check(c: DigestCredentials, request: DigestRequest): DigestVerifyResult {
    const algorithm = parseAlgorithm(c.algorithm);
    if (algorithm === undefined || !this.algorithms.includes(algorithm)) return failure('bad-algorithm', c.algorithm);
    const qop = this.checkQop(c);
    if (typeof qop === 'object') return qop;
    if (this.options.opaque !== undefined && c.opaque !== this.options.opaque) return failure('bad-opaque');
    if (!this.uriMatches(c.uri, request.uri)) return failure('uri-mismatch', c.uri);
    const password = this.lookup(c.username);
    if (typeof password === 'object') return password;

    const issued = this.mint.issuedAt(c.nonce);
    const responseOk = this.responseMatches(c, algorithm, qop, password, request);
    // RFC 7616 §3.3: stale only when the digest is valid for the nonce presented;
    // a valid digest over a foreign nonce (e.g. before a restart) is such a case.
    if (issued === undefined) return failure('bad-nonce', undefined, responseOk);
    if (!responseOk) return failure('bad-response');
    const now = this.now();
    if (now - issued > this.ttlMs) return failure('stale', 'nonce expired', true);
    if (qop !== undefined) {
      const verdict = this.counts.record(c.nonce, issued, parseInt(c.nc as string, 16), now);
      if (verdict === 'replay') return failure('replay', c.nc);
      if (verdict === 'forgotten') return failure('stale', 'nonce count history evicted', true);
    }
    return qop === undefined ? { ok: true, username: c.username, algorithm } : { ok: true, username: c.username, algorithm, qop };
  }

  /** The qop used, undefined for RFC 2069 style, or the failure. */
  private checkQop(c: DigestCredentials): DigestQop | undefined | Failure {
    if (this.qop.length === 0) return c.qop === undefined ? undefined : failure('bad-qop', c.qop);
    const qop = this.qop.find((q) => q === c.qop);
    if (qop === undefined) return failure('bad-qop', c.qop ?? 'missing');
    if (c.nc === undefined || !NC_SHAPE.test(c.nc)) return failure('malformed', 'nc must be 8 hex digits');
    if (c.cnonce === undefined || c.cnonce === '') return failure('malformed', 'missing cnonce');
    return qop;
  }

  private lookup(username: string): string | Failure {
    try {
      const password = this.options.lookup(username);
      return typeof password === 'string' ? password : failure('unknown-user', username);
    } catch (err) {
      return failure('lookup-failed', err instanceof Error ? err.message : String(err));
    }
  }

  private responseMatches(
    c: DigestCredentials,
    algorithm: DigestAlgorithm,
    qop: DigestQop | undefined,
    password: string,
    request: DigestRequest,
  ): boolean {
    if (c.response.length !== digestHexLength(algorithm)) return false;
    const common = {
      algorithm,
      username: c.username,
      realm: c.realm,
      password,
      nonce: c.nonce,
      method: request.method,
      uri: c.uri,
      body: request.body,
    };
    const expected =
      qop === undefined
        ? computeResponse(common)
        : computeResponse({ ...common, qop, nc: c.nc as string, cnonce: c.cnonce as string });
    return sameDigest(expected, c.response);
  }
}
