// A peer's side of digest in unit tests: challenges, and the RFC 2617 3.2.2.1
// response computed here independently of the code under test.
import { createHash } from 'node:crypto';
import type { SipRequest } from '../../lib/sip/message';
import type { ScriptedAnswer } from './scripted-ua';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

export const unq = (v: string | undefined): string => (v ?? '').replace(/^"|"$/g, '');

export function challenge(nonce: string, extra: Record<string, string> = {}, kind: 'www' | 'proxy' = 'www') {
  return {
    [`${kind}-authenticate`]: [{ scheme: 'Digest', realm: '"lab.test"', nonce: `"${nonce}"`, qop: '"auth"', algorithm: 'MD5', ...extra }],
  };
}

export function authOf(req: SipRequest, kind: 'www' | 'proxy' = 'www'): Record<string, string> | undefined {
  const a = req.headers[kind === 'www' ? 'authorization' : 'proxy-authorization'] as Record<string, string>[] | undefined;
  return a?.[0];
}

export function expectedResponse(auth: Record<string, string>, password: string, method: string): string {
  const ha1 = md5(`${unq(auth.username)}:${unq(auth.realm)}:${password}`);
  const ha2 = md5(`${method}:${unq(auth.uri)}`);
  return md5(`${ha1}:${unq(auth.nonce)}:${auth.nc}:${unq(auth.cnonce)}:${unq(auth.qop) || auth.qop}:${ha2}`);
}

/** A peer in a function: challenges (401, or 407 for a proxy) requests without good credentials, then grants. */
export function challenging(password: string, grant: (req: SipRequest) => ScriptedAnswer, kind: 'www' | 'proxy' = 'www') {
  let nonce = 0;
  return (req: SipRequest): ScriptedAnswer => {
    const auth = authOf(req, kind);
    if (!auth || unq(auth.response) !== expectedResponse(auth, password, req.method)) {
      return { status: kind === 'www' ? 401 : 407, headers: challenge('n' + ++nonce, {}, kind) };
    }
    return grant(req);
  };
}
