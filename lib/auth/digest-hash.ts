/**
 * The Digest computations of RFC 7616 §3.4 (and RFC 2617 §3.2.2 / RFC 2069
 * when the challenge carries no qop), over node:crypto.
 */
import { createHash } from 'node:crypto';

/** RFC 7616 §3.4 / §6.1 algorithm registry, spelled as registered. */
export type DigestAlgorithm =
  | 'MD5'
  | 'MD5-sess'
  | 'SHA-256'
  | 'SHA-256-sess'
  | 'SHA-512-256'
  | 'SHA-512-256-sess';

export type DigestQop = 'auth' | 'auth-int';

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = [
  'MD5',
  'MD5-sess',
  'SHA-256',
  'SHA-256-sess',
  'SHA-512-256',
  'SHA-512-256-sess',
];

// SHA-512-256 is the truncated SHA-512 variant with its own IV (FIPS 180-4
// SHA-512/256), which node exposes as 'sha512-256' — not SHA-512 cut short.
const NODE_HASH: Readonly<Record<DigestAlgorithm, string>> = {
  MD5: 'md5',
  'MD5-sess': 'md5',
  'SHA-256': 'sha256',
  'SHA-256-sess': 'sha256',
  'SHA-512-256': 'sha512-256',
  'SHA-512-256-sess': 'sha512-256',
};

/** Case-insensitive lookup (RFC 7616 §3.3 algorithm tokens); absent means MD5. */
export function parseAlgorithm(token: string | undefined): DigestAlgorithm | undefined {
  if (token === undefined) return 'MD5';
  const wanted = token.trim().toLowerCase();
  return DIGEST_ALGORITHMS.find((a) => a.toLowerCase() === wanted);
}

export function isSessionAlgorithm(algorithm: DigestAlgorithm): boolean {
  return algorithm.endsWith('-sess');
}

/** Length of H(...) in hex characters, for validating a response before comparing. */
export function digestHexLength(algorithm: DigestAlgorithm): number {
  return NODE_HASH[algorithm] === 'md5' ? 32 : 64;
}

/** H(data): lower-case hex, strings hashed as UTF-8 (RFC 7616 §3.4.1). */
export function h(algorithm: DigestAlgorithm, data: string | Uint8Array): string {
  return createHash(NODE_HASH[algorithm]).update(data).digest('hex');
}

/** KD(secret, data) = H(concat(secret, ":", data)) (RFC 7616 §3.4.1). */
export function kd(algorithm: DigestAlgorithm, secret: string, data: string): string {
  return h(algorithm, `${secret}:${data}`);
}

export interface Ha1Input {
  readonly username: string;
  readonly realm: string;
  readonly password: string;
  readonly nonce: string;
  /** Needed for -sess; callers never offer -sess without qop, which is what brings a cnonce. */
  readonly cnonce?: string;
}

/** H(A1), with the session form of RFC 7616 §3.4.2 for "-sess" algorithms. */
export function ha1(algorithm: DigestAlgorithm, input: Ha1Input): string {
  const base = h(algorithm, `${input.username}:${input.realm}:${input.password}`);
  if (!isSessionAlgorithm(algorithm)) return base;
  return h(algorithm, `${base}:${input.nonce}:${input.cnonce ?? ''}`);
}

export interface Ha2Input {
  readonly method: string;
  readonly uri: string;
  readonly qop?: DigestQop;
  /** Entity body for auth-int; an absent body hashes as the empty string (RFC 3261 §22.4). */
  readonly body?: string | Uint8Array;
}

/** H(A2) per RFC 7616 §3.4.3: auth-int adds H(entity-body). */
export function ha2(algorithm: DigestAlgorithm, input: Ha2Input): string {
  const a2 = `${input.method}:${input.uri}`;
  if (input.qop !== 'auth-int') return h(algorithm, a2);
  return h(algorithm, `${a2}:${h(algorithm, input.body ?? '')}`);
}

interface ResponseCommon extends Ha1Input, Ha2Input {
  readonly algorithm: DigestAlgorithm;
}

/** With qop the request must carry nc and cnonce (RFC 7616 §3.4); without, it is RFC 2069 style. */
export type DigestResponseInput =
  | (ResponseCommon & { readonly qop: DigestQop; readonly nc: string; readonly cnonce: string })
  | (ResponseCommon & { readonly qop?: undefined });

/** The request-digest (RFC 7616 §3.4.1; RFC 2069 §2.1.2 form when qop is absent). */
export function computeResponse(input: DigestResponseInput): string {
  const { algorithm } = input;
  const secret = ha1(algorithm, input);
  const a2 = ha2(algorithm, input);
  if (input.qop === undefined) return kd(algorithm, secret, `${input.nonce}:${a2}`);
  return kd(algorithm, secret, `${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${a2}`);
}
