/**
 * Client side of SIP Digest authentication (RFC 3261 §22.2/§22.3, RFC 7616,
 * RFC 8760): answers 401/407 challenges and re-uses a nonce for later
 * requests with an incremented nonce count.
 */
import { randomHex } from '../util/random';
import {
  AuthHeaderInput,
  DigestChallenge,
  DigestCredentials,
  credentialsToSplit,
  formatCredentials,
  parseChallenge,
} from './digest-params';
import { DigestAlgorithm, DigestQop, computeResponse, isSessionAlgorithm, parseAlgorithm } from './digest-hash';

export type ChallengeInput = AuthHeaderInput;

/** 'www' answers WWW-Authenticate (401), 'proxy' answers Proxy-Authenticate (407). */
export type AuthKind = 'www' | 'proxy';

export interface DigestRequest {
  readonly method: string;
  /** The digest-uri: the Request-URI of the request being authorised (RFC 3261 §22.4). */
  readonly uri: string;
  /** Only hashed for qop=auth-int. */
  readonly body?: string | Uint8Array;
}

export interface DigestClientOptions {
  /** Only answer challenges of this realm (RFC 3261 §22.1: credentials belong to a realm). */
  readonly realm?: string;
  /** Use auth-int whenever offered instead of only when it is the sole qop. */
  readonly preferAuthInt?: boolean;
  /** cnonce source; defaults to 128 random bits (RFC 7616 §3.4 wants it unpredictable). */
  readonly cnonce?: () => string;
}

export interface DigestAuthorization {
  /** Header value, e.g. `Digest username="alice", ...`. */
  readonly value: string;
  /** The same as `{ scheme: 'Digest', username: '"alice"', ... }`. */
  readonly split: Record<string, string>;
  readonly credentials: DigestCredentials;
  readonly challenge: DigestChallenge;
}

export interface DigestAnswer {
  readonly header: 'authorization' | 'proxy-authorization';
  /** First authorization's value; most responses challenge a single realm. */
  readonly value: string;
  readonly challenge: DigestChallenge;
  /** True when an answered challenge said stale=TRUE: the password was fine, only the nonce expired (RFC 7616 §3.3). */
  readonly stale: boolean;
  /** One per challenging realm: RFC 3261 §22.3 asks for an answer to each proxy of a forked request. */
  readonly authorizations: readonly DigestAuthorization[];
}

export interface DigestError {
  readonly error: string;
}

interface Session {
  readonly challenge: DigestChallenge;
  readonly algorithm: DigestAlgorithm;
  readonly qop?: DigestQop;
  /** Held per nonce so that -sess keeps one session key (RFC 2617 §3.2.2.2). */
  sessionCnonce: string;
  nc: number;
}

// A response can list any number of challenges; answering hundreds of realms
// would only amplify a hostile server's message.
const MAX_CHALLENGES = 32;
const MAX_REALMS = 8;
// nc-value is 8LHEX (RFC 7616 §3.4).
const MAX_NC = 0xffffffff;

function headerFor(kind: AuthKind): DigestAnswer['header'] {
  return kind === 'proxy' ? 'proxy-authorization' : 'authorization';
}

/** RFC 7616 §3.4: qop is the client's pick among those offered. */
function pickQop(offered: readonly string[], preferAuthInt: boolean): { qop?: DigestQop } | undefined {
  if (offered.length === 0) return {};
  const order: DigestQop[] = preferAuthInt ? ['auth-int', 'auth'] : ['auth', 'auth-int'];
  const qop = order.find((q) => offered.includes(q));
  return qop === undefined ? undefined : { qop };
}

function ncHex(nc: number): string {
  return nc.toString(16).padStart(8, '0');
}

export class DigestClient {
  private readonly sessions: Record<AuthKind, Map<string, Session>> = { www: new Map(), proxy: new Map() };
  private readonly newCnonce: () => string;

  constructor(
    private readonly credentials: { readonly username: string; readonly password: string },
    private readonly options: DigestClientOptions = {},
  ) {
    this.newCnonce = options.cnonce ?? (() => randomHex(16));
  }

  /**
   * Answers the challenges of one 401/407. Per realm, the first challenge in
   * the server's order whose algorithm and qop we support is used (RFC 7616 §3.7).
   */
  answer(challenges: ChallengeInput | readonly ChallengeInput[], kind: AuthKind, request: DigestRequest): DigestAnswer | DigestError {
    const list: readonly unknown[] = Array.isArray(challenges) ? challenges : [challenges];
    const chosen = this.choose(list.slice(0, MAX_CHALLENGES) as ChallengeInput[]);
    if (chosen.sessions.length === 0) {
      const wanted = this.options.realm === undefined ? '' : ` for realm "${this.options.realm}"`;
      const why = chosen.errors.length > 0 ? ` (${chosen.errors.join('; ')})` : '';
      return { error: `no supported Digest challenge${wanted}${why}` };
    }
    const store = this.sessions[kind];
    for (const session of chosen.sessions) {
      const previous = store.get(session.challenge.realm);
      // Same nonce again: keep counting, the server remembers the nc it saw (RFC 7616 §3.4).
      if (previous && previous.challenge.nonce === session.challenge.nonce) {
        session.nc = previous.nc;
        session.sessionCnonce = previous.sessionCnonce;
      }
      store.delete(session.challenge.realm);
      store.set(session.challenge.realm, session);
    }
    while (store.size > MAX_REALMS) store.delete(store.keys().next().value as string);
    const answer = this.sign(chosen.sessions, kind, request);
    return answer ?? { error: 'nonce count exhausted' };
  }

  /** Pre-emptive credentials for a later request, re-using the remembered nonces with nc+1. */
  reuse(kind: AuthKind, request: DigestRequest): DigestAnswer | undefined {
    return this.sign([...this.sessions[kind].values()], kind, request);
  }

  /** Drops remembered nonces, e.g. after the credentials were rejected. */
  forget(kind?: AuthKind): void {
    if (kind === undefined || kind === 'www') this.sessions.www.clear();
    if (kind === undefined || kind === 'proxy') this.sessions.proxy.clear();
  }

  private choose(inputs: readonly ChallengeInput[]): { sessions: Session[]; errors: string[] } {
    const sessions: Session[] = [];
    const errors: string[] = [];
    for (const input of inputs) {
      const parsed = parseChallenge(input);
      if (!parsed.ok) {
        errors.push(parsed.error);
        continue;
      }
      const challenge = parsed.value;
      if (this.options.realm !== undefined && challenge.realm !== this.options.realm) continue;
      if (sessions.some((s) => s.challenge.realm === challenge.realm)) continue;
      if (sessions.length >= MAX_REALMS) break;
      const session = this.sessionFor(challenge);
      if (typeof session === 'string') errors.push(session);
      else sessions.push(session);
    }
    return { sessions, errors };
  }

  private sessionFor(challenge: DigestChallenge): Session | string {
    const algorithm = parseAlgorithm(challenge.algorithm);
    if (algorithm === undefined) return `unsupported algorithm ${challenge.algorithm}`;
    const qop = pickQop(challenge.qop, this.options.preferAuthInt === true);
    if (qop === undefined) return `unsupported qop ${challenge.qop.join(',')}`;
    // -sess needs a cnonce, which RFC 2617 §3.2.2 only allows alongside qop.
    if (isSessionAlgorithm(algorithm) && qop.qop === undefined) return `${algorithm} without qop`;
    return { challenge, algorithm, ...qop, sessionCnonce: this.newCnonce(), nc: 0 };
  }

  private sign(sessions: readonly Session[], kind: AuthKind, request: DigestRequest): DigestAnswer | undefined {
    const authorizations: DigestAuthorization[] = [];
    for (const session of sessions) {
      if (session.nc >= MAX_NC) {
        this.sessions[kind].delete(session.challenge.realm);
        continue;
      }
      session.nc += 1;
      authorizations.push(this.authorize(session, request));
    }
    const first = authorizations[0];
    if (first === undefined) return undefined;
    return {
      header: headerFor(kind),
      get value() {
        return first.value;
      },
      challenge: first.challenge,
      stale: authorizations.some((a) => a.challenge.stale),
      authorizations,
    };
  }

  private authorize(session: Session, request: DigestRequest): DigestAuthorization {
    const { challenge, algorithm, qop } = session;
    const common = {
      algorithm,
      username: this.credentials.username,
      realm: challenge.realm,
      password: this.credentials.password,
      nonce: challenge.nonce,
      method: request.method,
      uri: request.uri,
      body: request.body,
    };
    const cnonce = isSessionAlgorithm(algorithm) ? session.sessionCnonce : this.newCnonce();
    const nc = ncHex(session.nc);
    const response = qop === undefined ? computeResponse(common) : computeResponse({ ...common, qop, nc, cnonce });
    const credentials: DigestCredentials = {
      username: this.credentials.username,
      realm: challenge.realm,
      nonce: challenge.nonce,
      uri: request.uri,
      response,
      // Echo only when the server named one: RFC 2069 servers know no algorithm parameter.
      algorithm: challenge.algorithm === undefined ? undefined : algorithm,
      cnonce: qop === undefined ? undefined : cnonce,
      opaque: challenge.opaque,
      qop,
      nc: qop === undefined ? undefined : nc,
    };
    // The header text is made only when asked for: the stack sends the split form.
    return {
      get value() {
        return formatCredentials(credentials);
      },
      split: credentialsToSplit(credentials),
      credentials,
      challenge,
    };
  }
}
