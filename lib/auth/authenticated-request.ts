// Sends a request and answers 401/407 challenges (RFC 3261 22.2, 22.3), for
// every procedure that may be challenged: REGISTER, SUBSCRIBE, PUBLISH.
import type { RequestResult } from '../sip/endpoint';
import type { Exchange } from '../sip/exchange';
import type { SipRequest, SipResponse } from '../sip/message';
import type { UserAgent } from '../sip/user-agent';
import type { AuthKind, DigestClient } from './digest-client';

export interface AuthLoopOptions {
  ua: UserAgent;
  /** Absent: challenges are not answered (no credentials). */
  digest?: DigestClient;
  /** Whose credentials these are, for the error text. */
  username?: string;
  /** A fresh request for each round (new CSeq); credentials are added by the loop. */
  build: () => SipRequest;
  /**
   * Lets the caller react to other responses by changing what `build` makes
   * (423 Interval Too Brief, say); returning true sends again.
   */
  retryOn?: (res: SipResponse) => boolean;
  maxRounds?: number;
}

export interface AuthLoopResult {
  result: RequestResult;
  exchanges: Exchange[];
  /** Set when retrying cannot help: wrong password, unanswerable challenge. */
  fatal?: string;
}

export async function requestWithAuth(o: AuthLoopOptions): Promise<AuthLoopResult> {
  const exchanges: Exchange[] = [];
  const credentials: Record<string, Record<string, string>[]> = {};
  // Kinds whose credentials in the last request answered a fresh challenge.
  let fresh = new Set<AuthKind>();
  const maxRounds = o.maxRounds ?? 5;
  for (let round = 1; ; round++) {
    const req = o.build();
    // A refresh or de-REGISTER signs with the nonce the core gave last time and
    // the next nonce count (RFC 7616 3.4), saving the 401 round trip until the
    // core says the nonce is stale; a challenge to these is answered as usual.
    if (round === 1) sign(o.digest, req, credentials);
    Object.assign(req.headers, credentials);
    const result = await o.ua.request(req);
    const res = result.response;
    exchanges.push({ request: req, requestWire: result.requestWire, response: res, responseWire: result.responseWire });
    if (round >= maxRounds) return { result, exchanges };
    if ((res.status === 401 || res.status === 407) && o.digest) {
      const kind: AuthKind = res.status === 401 ? 'www' : 'proxy';
      const challenges = res.headers[kind === 'www' ? 'www-authenticate' : 'proxy-authenticate'];
      if (!Array.isArray(challenges) || challenges.length === 0) {
        return { result, exchanges, fatal: `${res.status} without a challenge` };
      }
      const answer = o.digest.answer(challenges, kind, { method: req.method, uri: req.uri, body: req.content });
      if ('error' in answer) return { result, exchanges, fatal: `cannot answer the challenge: ${answer.error}` };
      // Challenged again right after a fresh answer, and not for a stale nonce: the password is wrong.
      if (fresh.has(kind) && !answer.stale) {
        o.digest.forget(kind);
        const who = o.username ? ` for ${o.username}` : '';
        return { result, exchanges, fatal: `wrong password${who}: the core rejected the credentials (${res.status} after answering its challenge)` };
      }
      credentials[answer.header] = answer.authorizations.map((a) => ({ ...a.split }));
      fresh = new Set([kind]);
      continue;
    }
    if (o.retryOn?.(res)) {
      // The nonce is still good: sign the new request with the next nonce count.
      sign(o.digest, req, credentials);
      fresh = new Set();
      continue;
    }
    return { result, exchanges };
  }
}

/**
 * Puts credentials for the remembered nonces into `credentials`, for the
 * request about to be sent. The body is hashed only for auth-int, so the
 * request signed here and the one sent agree as long as method, URI and body do.
 */
function sign(digest: DigestClient | undefined, req: SipRequest, credentials: Record<string, Record<string, string>[]>): void {
  for (const kind of ['www', 'proxy'] as const) {
    const again = digest?.reuse(kind, { method: req.method, uri: req.uri, body: req.content });
    if (again) credentials[again.header] = again.authorizations.map((a) => ({ ...a.split }));
  }
}
