// The lab core's registrar (RFC 3261 10.3) with digest authentication,
// Min-Expires (423), GRUU assignment (RFC 5627) and P-Associated-URI.
import { createHash, randomBytes } from 'node:crypto';
import { DigestServer, type DigestVerifyResult } from '../auth/digest-server';
import type { IncomingRequest } from '../sip/endpoint';
import { deltaSeconds, tokenList, unquote, type NameAddr, type Params } from '../sip/message';
import { addressOfRecord, parseUri } from '../sip/uri';
import type { DigestAlgorithm } from '../auth/digest-hash';
import type { Scheduler } from '../util/scheduler';
import type { Binding, ContactUpdate, LocationService } from './location';

export interface RegistrarOptions {
  domain: string;
  /** Password of a user name, undefined for unknown users. */
  lookup: (user: string) => string | undefined;
  location: LocationService;
  scheduler: Scheduler;
  minExpires?: number;
  maxExpires?: number;
  defaultExpires?: number;
  /** Digest nonce lifetime in ms. */
  nonceTtlMs?: number;
  /** Offered in this order; default MD5 alone (see LAB_CORE_ALGORITHMS). */
  algorithms?: readonly DigestAlgorithm[];
}

/**
 * One challenge, MD5, qop=auth, as Kamailio's auth module sends by default:
 * some widely used clients fail the whole REGISTER when a challenge names an
 * algorithm they do not know instead of answering the one they do.
 */
export const LAB_CORE_ALGORITHMS: readonly DigestAlgorithm[] = ['MD5'];
/** The lab core's option: SHA-256 offered first, MD5 beside it (RFC 8760 2.4). */
export const WITH_SHA256: readonly DigestAlgorithm[] = ['SHA-256', 'MD5'];

export interface RegistrarEvent {
  kind: 'authenticated' | 'rejected';
  user: string;
  reason?: string;
  /** For reports of rejections: how many since the last report of this user. */
  count?: number;
}

/** A failed login, as opposed to the first round of a challenge or a nonce grown old. */
export function isLoginFailure(v: DigestVerifyResult): boolean {
  return !v.ok && v.reason !== 'no-credentials' && !v.stale;
}

export class Registrar {
  readonly digest: DigestServer;
  private readonly min: number;
  private readonly max: number;
  private readonly dflt: number;
  onAuthEvent?: (e: RegistrarEvent) => void;

  constructor(private readonly o: RegistrarOptions) {
    this.min = o.minExpires ?? 60;
    this.max = o.maxExpires ?? 3600;
    this.dflt = o.defaultExpires ?? 3600;
    this.digest = new DigestServer({
      realm: o.domain,
      lookup: o.lookup,
      algorithms: o.algorithms ?? LAB_CORE_ALGORITHMS,
      qop: ['auth'],
      nonceTtlMs: o.nonceTtlMs ?? 300_000,
      now: () => o.scheduler.now(),
    });
  }

  handle(req: IncomingRequest): void {
    const m = req.message;
    const ruri = parseUri(m.uri);
    if (!ruri || ruri.host.toLowerCase() !== this.o.domain.toLowerCase()) {
      req.respond(404, { reason: 'Not Found (domain not served here)' });
      return;
    }
    const aor = addressOfRecord(m.headers.to.uri);
    const toUri = parseUri(m.headers.to.uri);
    if (!aor || !toUri?.user || toUri.host.toLowerCase() !== this.o.domain.toLowerCase()) {
      req.respond(404, { reason: 'Not Found (not a user of this domain)' });
      return;
    }
    // No 404 for unknown users before a challenge: that would tell a stranger
    // which users exist. The digest check fails for them like a wrong password.
    const verdict = this.digest.verify(m.headers.authorization as Record<string, string>[] | undefined, { method: m.method, uri: m.uri });
    if (!verdict.ok) {
      if (isLoginFailure(verdict)) this.onAuthEvent?.({ kind: 'rejected', user: toUri.user, reason: verdict.reason });
      const c = this.digest.challenge({ stale: verdict.stale });
      req.respond(401, { headers: { [c.header]: c.split.map((s) => ({ ...s })) } });
      return;
    }
    if (verdict.username !== toUri.user) {
      // Lab rule: each user registers only its own identity.
      req.respond(403, { reason: `Forbidden (${verdict.username} may not register ${toUri.user})` });
      return;
    }
    this.onAuthEvent?.({ kind: 'authenticated', user: verdict.username });
    this.update(req, aor);
  }

  private update(req: IncomingRequest, aor: string): void {
    const m = req.message;
    const headerExpires = deltaSeconds(m, 'expires');
    const contactHeader = m.headers.contact;
    const wildcard = contactHeader === '*';
    if (wildcard && headerExpires !== 0) {
      req.respond(400, { reason: 'Bad Request (Contact: * needs Expires: 0)' });
      return;
    }
    const contacts: ContactUpdate[] = [];
    if (Array.isArray(contactHeader)) {
      for (const c of contactHeader) {
        const { expires: asked, ...params } = c.params;
        let expires = asked != null ? Number.parseInt(String(asked), 10) : headerExpires ?? this.dflt;
        if (!Number.isFinite(expires) || expires < 0) expires = this.dflt;
        if (expires > 0 && expires < this.min) {
          req.respond(423, { headers: { 'min-expires': String(this.min) } });
          return;
        }
        contacts.push({ uri: c.uri, displayName: c.name, params: params as Params, expires: Math.min(expires, this.max) });
      }
    }
    const outcome = this.o.location.apply({
      aor,
      callId: m.headers['call-id'],
      cseq: m.headers.cseq.seq,
      wildcard,
      contacts,
      source: req.peer,
    });
    if (!outcome.ok) {
      req.respond(outcome.status, { reason: outcome.reason });
      return;
    }
    const gruuOk = tokenList(m, 'supported').includes('gruu');
    const bindings = this.o.location.lookup(aor);
    const now = this.o.scheduler.now();
    const contact: NameAddr[] = bindings.map((b) => this.contactOf(b, now, gruuOk));
    const headers: Record<string, unknown> = { 'p-associated-uri': `<${aor}>` };
    if (contact.length) headers.contact = contact;
    req.respond(200, { headers });
  }

  private contactOf(b: Binding, now: number, gruu: boolean): NameAddr {
    const params: Params = { ...b.params, expires: String(Math.max(0, Math.round((b.expiresAt - now) / 1000))) };
    if (gruu && b.instance) {
      // RFC 5627 3.2: the public GRUU is the AOR with the instance id in `gr`.
      const inst = unquote(b.instance).replace(/^<|>$/g, '');
      params['pub-gruu'] = `"${b.aor};gr=${inst}"`;
      let temp = b.tempGruu;
      if (!temp) {
        temp = `sip:tgruu.${createHash('sha256').update(b.aor + inst).update(randomBytes(8)).digest('hex').slice(0, 24)}@${this.o.domain};gr`;
        this.o.location.setTempGruu(b.aor, b.id, temp);
      }
      params['temp-gruu'] = `"${temp}"`;
    }
    return { name: b.displayName, uri: b.uri, params };
  }
}
