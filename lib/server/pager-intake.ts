// A pager-mode MESSAGE (RFC 3428) that the core routes to the server for a
// user who cannot take it now (the IMS terminating-unregistered trigger: a
// provisioned user who is not registered) becomes a deferred message.
//
// The answer is 202 Accepted, sent only once the message is durable: RFC
// 3428 7 has a store-and-forward server that accepted a request without
// delivering it answer 202, and that is what the sender should learn (a 200
// would say the recipient has it). A refused or failed store is answered
// with an error, so the sender still holds the message: none is lost in
// between.
//
// Trust: only a trusted core hands messages to the server (403 otherwise);
// the sender is the identity that core asserted, else the From of a request
// the core passed on without one (a message from another network).
import { EventEmitter } from 'node:events';
import { DeferredStoreError, type DeferredMessage, type DeferredMessageStore } from '../deferred/message-store';
import type { IncomingRequest, RequestHandler } from '../sip/endpoint';
import { deltaSeconds, headerText } from '../sip/message';
import { REASONS } from '../sip/responses';
import type { TrustedSources } from '../sip/trusted-sources';
import { addressOfRecord } from '../sip/uri';
import { assertedIdentities } from './asserted-identity';
import { failRequest, mediaRangeAdmits, refuseRequest } from './refusal';

export interface PagerIntakeOptions {
  messages: DeferredMessageStore;
  /** The core(s) that may hand messages to the server. */
  trusted: TrustedSources;
  /** Content types taken (type/subtype, `type/*` or `*\/*`); others get 415 with Accept. Default: any. */
  acceptTypes?: string[];
  /** Which recipients the server keeps messages for (e.g. its provisioned users). Others are left to other handlers. Default: every user. */
  serves?: (aor: string) => boolean;
  /** 202 (default, see above) or 200 for cores that treat 202 as an oddity. */
  successStatus?: 200 | 202;
}

/**
 * Events: 'stored' (DeferredMessage, IncomingRequest) once a message is
 * stored and answered; 'refused' (ServerRefusal, IncomingRequest).
 */
export class PagerIntake extends EventEmitter {
  private readonly acceptTypes: string[] | undefined;

  constructor(private readonly o: PagerIntakeOptions) {
    super();
    this.acceptTypes = o.acceptTypes?.map((t) => t.trim());
  }

  /** An endpoint handler: takes every out-of-dialog MESSAGE to a user the server serves. */
  readonly handle: RequestHandler = (req) => {
    const m = req.message;
    if (m.method !== 'MESSAGE' || m.headers.to.params.tag) return false;
    const aor = addressOfRecord(m.uri);
    if (aor && this.o.serves && !this.o.serves(aor)) return false;
    this.take(req, aor).catch((err: unknown) => failRequest(this, req, err));
    return true;
  };

  private async take(req: IncomingRequest, recipient: string | undefined): Promise<void> {
    const m = req.message;
    if (!(await this.o.trusted.allows(req))) return refuseRequest(this, req, 403, 'Forbidden (MESSAGE not from a trusted core)');
    if (!recipient) return refuseRequest(this, req, 404, 'Not Found (Request-URI is not a user)');
    const body = m.content ?? '';
    if (body.length === 0) return refuseRequest(this, req, 400, 'Bad Request (MESSAGE without a body)');
    const contentType = headerText(m, 'content-type')?.trim();
    if (!contentType) return refuseRequest(this, req, 400, 'Bad Request (MESSAGE body without Content-Type)');
    if (!this.accepts(contentType)) {
      return refuseRequest(this, req, 415, 'Unsupported Media Type', { accept: (this.acceptTypes ?? []).join(', ') });
    }
    const hasExpires = headerText(m, 'expires') !== undefined;
    const expires = deltaSeconds(m, 'expires');
    if (hasExpires && expires === undefined) return refuseRequest(this, req, 400, 'Bad Request (Expires is not delta-seconds)');
    // RFC 3428 has Expires say how long the content is of use; 0 means it already is not.
    if (expires === 0) return refuseRequest(this, req, 400, 'Bad Request (Expires 0: nothing to keep)');

    const asserted = assertedIdentities(m);
    const input = {
      recipient,
      sender: asserted.find((id) => id.startsWith('sip')) ?? asserted[0] ?? m.headers.from.uri,
      senderName: displayName(m.headers.from.name),
      contentType,
      body,
      subject: headerText(m, 'subject'),
      expires,
    };
    let stored: DeferredMessage;
    try {
      stored = await this.o.messages.add(input);
    } catch (err) {
      // A store failure's text (paths, system errors) is for the flow's log, not for the sender.
      if (err instanceof DeferredStoreError && err.status !== 500) {
        const headers: Record<string, string> = err.status === 503 ? { 'retry-after': '300' } : {};
        return refuseRequest(this, req, err.status, `${REASONS[err.status] ?? 'Error'} (${err.message})`, headers);
      }
      throw err;
    }
    req.respond(this.o.successStatus ?? 202);
    this.emit('stored', stored, req);
  }

  private accepts(contentType: string): boolean {
    return !this.acceptTypes || this.acceptTypes.some((range) => mediaRangeAdmits(range, contentType));
  }
}

function displayName(name: string | undefined): string | undefined {
  const n = name?.trim().replace(/^"(.*)"$/, '$1').replace(/\\(.)/g, '$1');
  return n ? n : undefined;
}
