// The client's side of deferred delivery (seed 003 12.2.2.2, RFC 4975,
// RFC 3862, RFC 3428): answers the server's INVITE with an MSRP answer
// (a=recvonly, its own a=path, the connection role the offer leaves),
// receives the messages, unwraps each message/cpim so that it keeps its
// original sender and time, and drops a message delivered twice (after a
// crash of the server) by its Message-ID. Pager-mode MESSAGEs to the user
// are taken too.
import { EventEmitter } from 'node:events';
import { IMDN_NAMESPACE } from './deferred-cpim';
import { CPIM_CONTENT_TYPE, cpimBodyText, parseCpim } from '../cpim/cpim';
import { LazyMsrpListener } from '../msrp/lazy-listener';
import { MessageIdMemory } from '../msrp/reassembly';
import { MsrpSession, type MsrpAcceptor, type MsrpCloseInfo, type MsrpIncomingMessage, type MsrpRefusal } from '../msrp/session';
import { newSessionUri } from '../msrp/uri';
import { buildMsrpAnswer, parseMsrpMedia, type MsrpAnswer, type MsrpMediaDescription } from '../sdp/msrp-sdp';
import { SdpError } from '../sdp/sdp';
import type { IncomingRequest, SipEndpoint } from '../sip/endpoint';
import { InviteSession, type SessionCause, type SessionEvent, type SessionState } from '../sip/invite-session';
import { headerText, type SipRequest } from '../sip/message';
import { addressOfRecord, parseUri } from '../sip/uri';
import { assertedIdentities } from '../server/asserted-identity';
import { refuseRequest } from '../server/refusal';
import type { Scheduler } from '../util/scheduler';

export interface InboxOptions {
  endpoint: SipEndpoint;
  /** The user's address of record: requests to it (or to our Contact user) are ours. */
  aor: string;
  /** User part of our Contact. */
  contactUser?: string;
  /** Address for our a=path and c=, and the listener when we are passive; default the endpoint's host. */
  msrpHost?: string;
  /** Message-IDs already delivered; share one (across restarts of the inbox) to drop redeliveries. */
  delivered?: MessageIdMemory;
  scheduler?: Scheduler;
  /** Our role when the offer says actpass. Default 'active' (we may be behind NAT, RFC 6135). */
  setup?: 'active' | 'passive';
}

export interface InboxMessage {
  /** The original sender. */
  from: string;
  to: string[];
  /** The original time (RFC 3339), when the message carries one. */
  time?: string;
  contentType: string;
  body: string;
  messageId: string;
  via: 'msrp' | 'pager';
  callId?: string;
}

export interface InboxSessionEvent {
  state: SessionState;
  callId: string;
  cause?: SessionCause;
}

/** Methods the inbox answers (12.2.2.2 has the server store the callee's Allow). */
export const INBOX_ALLOW = 'INVITE, ACK, CANCEL, BYE, UPDATE, MESSAGE';

/** What the inbox takes over MSRP: wrapped messages (their content any type) and plain text. */
const ACCEPT_TYPES = [CPIM_CONTENT_TYPE, 'text/plain'];

/** A complete MSRP message the inbox refused (answered 400 / 415, not output): the sender keeps it. */
export interface InboxUnreadable {
  messageId: string;
  status: 400 | 415;
  reason: string;
  callId: string;
}

/** A message received again (a redelivery after a crash, a retried MESSAGE): answered, not output again. */
export interface InboxDuplicate {
  messageId: string;
  via: 'msrp' | 'pager';
  callId: string;
}

interface Incoming {
  invite: InviteSession;
  msrp?: MsrpSession;
  callId: string;
  sender: string;
  /** The peer closed the MSRP connection (or it broke): the session ends once it may (after the ACK). */
  msrpGone?: boolean;
}

/**
 * Events: 'message' (InboxMessage), 'duplicate' (InboxDuplicate), 'session' (InboxSessionEvent),
 * 'refused' ({status, reason, method}) for requests answered with an error
 * and MSRP requests refused, 'unreadable' (InboxUnreadable) for a message
 * refused because the inbox cannot output it. Never 'error'.
 */
export class Inbox extends EventEmitter {
  private readonly aor: string;
  private readonly delivered: MessageIdMemory;
  private readonly sessions = new Set<Incoming>();
  private readonly listener: LazyMsrpListener;
  private unhandle?: () => void;
  private closed = false;

  constructor(private readonly o: InboxOptions) {
    super();
    this.on('error', () => undefined);
    this.listener = new LazyMsrpListener(() => ({ host: this.msrpHost(), scheduler: o.scheduler }));
    const aor = addressOfRecord(o.aor);
    if (!aor) throw new Error(`inbox: ${JSON.stringify(o.aor)} is not a SIP or tel URI`);
    this.aor = aor;
    this.delivered = o.delivered ?? new MessageIdMemory();
  }

  /** Takes initial INVITEs and MESSAGEs addressed to our AOR or Contact on the endpoint. */
  start(): void {
    if (this.unhandle || this.closed) return;
    this.unhandle = this.o.endpoint.addHandler((r) => this.handle(r));
  }

  /** BYE every session, stop taking requests. */
  async close(): Promise<void> {
    this.closed = true;
    this.unhandle?.();
    this.unhandle = undefined;
    await Promise.all(
      [...this.sessions].map(async (s) => {
        await s.invite.bye().catch(() => undefined);
        await s.msrp?.close();
      }),
    );
    this.sessions.clear();
    await this.listener.close();
  }

  private handle(r: IncomingRequest): boolean {
    const m = r.message;
    if (m.headers.to.params.tag) return false;
    if (m.method !== 'INVITE' && m.method !== 'MESSAGE') return false;
    if (!this.addressedToUs(m)) return false;
    if (m.method === 'MESSAGE') this.takeMessage(r);
    else this.takeInvite(r).catch((err: unknown) => this.refused(500, `inbox failed: ${(err as Error)?.message ?? err}`, 'INVITE'));
    return true;
  }

  private addressedToUs(m: SipRequest): boolean {
    if (addressOfRecord(m.uri) === this.aor) return true;
    const user = this.o.contactUser;
    return user !== undefined && parseUri(m.uri)?.user === user && parseUri(m.uri)?.host === this.o.endpoint.host;
  }

  // ------------------------------------------------------------- pager mode

  private takeMessage(r: IncomingRequest): void {
    const m = r.message;
    const contentType = headerText(m, 'content-type')?.trim() ?? 'text/plain';
    const from = assertedIdentities(m)[0] ?? m.headers.from.uri;
    const callId = m.headers['call-id'];
    const fallbackId = `${callId}:${m.headers.cseq.seq}`;
    const raw = m.content ?? '';
    let msg: InboxMessage;
    if (isCpim(contentType)) {
      try {
        msg = this.fromCpim(Buffer.from(raw, 'utf8'), fallbackId, 'pager', callId);
      } catch (err) {
        return void refuseRequest(this, r, 400, `Bad Request (${(err as Error).message})`);
      }
    } else {
      const date = headerText(m, 'date');
      const time = date && !Number.isNaN(Date.parse(date)) ? new Date(date).toISOString() : undefined;
      msg = { from, to: [m.headers.to.uri], contentType, body: raw, messageId: fallbackId, via: 'pager', callId };
      if (time) msg.time = time;
    }
    r.respond(200);
    if (this.seenBefore(msg.messageId, msg.via)) {
      this.safeEmit('duplicate', { messageId: msg.messageId, via: 'pager', callId } satisfies InboxDuplicate);
      return;
    }
    this.safeEmit('message', msg);
  }

  // ------------------------------------------------------------- session mode

  private async takeInvite(r: IncomingRequest): Promise<void> {
    const m = r.message;
    const invite = InviteSession.answering(this.o.endpoint, r, { scheduler: this.o.scheduler, contactUser: this.o.contactUser, headers: { allow: INBOX_ALLOW } });
    const callId = m.headers['call-id'];
    if (invite.state === 'terminated') return; // refused by the session itself (no Contact, 422)
    let offer: MsrpMediaDescription;
    try {
      if (!m.content) throw new SdpError('INVITE without an SDP offer');
      offer = parseMsrpMedia(m.content);
    } catch (err) {
      return this.rejectInvite(invite, err);
    }
    if (offer.direction === 'recvonly' || offer.direction === 'inactive') {
      return this.rejectInvite(invite, new SdpError(`the offer is ${offer.direction}: nothing would reach the inbox`));
    }
    const setup = this.answerSetup(offer);
    const host = this.msrpHost();
    const sender = m.headers.from.uri;
    // Decided before the last chunk's 200: a message the inbox cannot output stays with the sender.
    const accept: MsrpAcceptor = (im) => this.onMsrpMessage(callId, sender, im);
    let localUri: string;
    let port: number;
    let msrp: MsrpSession;
    if (setup === 'passive') {
      const listener = await this.listener.get();
      msrp = listener.createSession({ remotePath: offer.path, delivered: this.delivered, scheduler: this.o.scheduler, accept });
      localUri = msrp.localUri;
      port = listener.port;
    } else {
      // Active: our URI names no port anyone connects to; 9 is the discard port RFC 4145 uses for that.
      port = 9;
      localUri = newSessionUri(host, port);
      msrp = new MsrpSession({ localUri, remotePath: offer.path, setup: 'active', delivered: this.delivered, scheduler: this.o.scheduler, accept });
    }
    let answer: MsrpAnswer;
    try {
      answer = buildMsrpAnswer(offer, { address: host, port, path: localUri, setup, direction: 'recvonly', acceptTypes: ACCEPT_TYPES });
    } catch (err) {
      await msrp.close();
      return this.rejectInvite(invite, err);
    }
    const s: Incoming = { invite, msrp, callId, sender };
    this.sessions.add(s);
    this.watch(s);
    // The listener's bind is awaited above: the INVITE may have been cancelled, or the inbox closed, meanwhile.
    if (this.closed || ended(invite)) {
      this.sessions.delete(s);
      await msrp.close();
      return void invite.reject(480);
    }
    invite.accept({ sdp: answer.sdp });
    if (answer.setup === 'active') {
      msrp.connect().catch(async (err: unknown) => {
        this.refused(0, `MSRP connection failed: ${(err as Error)?.message ?? err}`, 'MSRP');
        await invite.bye().catch(() => undefined);
      });
    }
  }

  /** Wires an accepted session: its states out as 'session', its MSRP messages out as 'message'. */
  private watch(s: Incoming): void {
    s.invite.on('state', (e: SessionEvent) => {
      const ev: InboxSessionEvent = { state: e.state, callId: s.callId, cause: e.cause };
      this.safeEmit('session', ev);
      if (e.state === 'terminated') {
        this.sessions.delete(s);
        s.msrp?.close().catch(() => undefined);
      } else if (e.state === 'confirmed' && s.msrpGone) this.hangUp(s);
    });
    const msrp = s.msrp!;
    // The server crashed or dropped the connection: nothing more comes in this
    // session (what it had not confirmed it sends again in a new one), so the
    // session ends now rather than when its timer runs out half an hour later.
    msrp.on('close', (info: MsrpCloseInfo) => {
      if (!info.byPeer) return;
      s.msrpGone = true;
      if (s.invite.state === 'confirmed') this.hangUp(s);
    });
    msrp.on('duplicate', (messageId: string) => this.safeEmit('duplicate', { messageId, via: 'msrp', callId: s.callId } satisfies InboxDuplicate));
    msrp.on('refused', (err: Error, code: number) => this.refused(code, err.message, 'MSRP'));
    msrp.on('error', () => undefined);
  }

  private hangUp(s: Incoming): void {
    s.invite.bye().catch(() => undefined);
  }

  /**
   * A complete MSRP message, before its last chunk is answered: outputs it,
   * or refuses it (the session answers 400 / 415 and reports it as 'refused',
   * and the sender keeps it) when the inbox cannot output it.
   */
  private onMsrpMessage(callId: string, sender: string, m: MsrpIncomingMessage): MsrpRefusal | undefined {
    let msg: InboxMessage;
    if (isCpim(m.contentType)) {
      try {
        msg = this.fromCpim(m.body, m.messageId, 'msrp', callId);
      } catch (err) {
        return this.unreadable(callId, m.messageId, 400, `unreadable message/cpim: ${(err as Error).message}`);
      }
    } else if (baseType(m.contentType) === 'text/plain') {
      msg = { from: sender, to: [this.aor], contentType: m.contentType, body: m.body.toString('utf8'), messageId: m.messageId, via: 'msrp', callId };
    } else {
      return this.unreadable(callId, m.messageId, 415, `content type ${m.contentType} is not one the inbox takes (${ACCEPT_TYPES.join(', ')})`);
    }
    if (msg.messageId !== m.messageId && this.seenBefore(msg.messageId, 'msrp')) {
      this.safeEmit('duplicate', { messageId: msg.messageId, via: 'msrp', callId } satisfies InboxDuplicate);
      return undefined;
    }
    this.safeEmit('message', msg);
    return undefined;
  }

  /**
   * A message seen before under this id (MSRP dropped its own Message-IDs
   * already; this catches the CPIM imdn.Message-ID and pager retries). The
   * memory is shared with the MSRP sessions, so these ids get a prefix.
   */
  private seenBefore(id: string, via: 'msrp' | 'pager'): boolean {
    const key = `${via === 'pager' ? 'pager' : 'cpim'}:${id}`;
    if (this.delivered.has(key)) return true;
    this.delivered.add(key, 0);
    return false;
  }

  private fromCpim(data: Buffer, fallbackId: string, via: 'msrp' | 'pager', callId: string): InboxMessage {
    const c = parseCpim(data);
    if (!c.from) throw new Error('message/cpim without From');
    const id = c.extensions.find((h) => h.namespace === IMDN_NAMESPACE && h.name.toLowerCase() === 'message-id')?.value;
    const msg: InboxMessage = {
      from: c.from.uri,
      to: c.to.map((a) => a.uri),
      contentType: c.contentType,
      body: cpimBodyText(c),
      messageId: id ?? fallbackId,
      via,
      callId,
    };
    if (c.dateTime) msg.time = c.dateTime;
    return msg;
  }

  private unreadable(callId: string, messageId: string, status: 400 | 415, reason: string): MsrpRefusal {
    this.safeEmit('unreadable', { messageId, status, reason, callId } satisfies InboxUnreadable);
    return { status, reason };
  }

  private answerSetup(offer: MsrpMediaDescription): 'active' | 'passive' {
    // buildMsrpAnswer picks the complement; only actpass leaves us a choice.
    if (offer.setup === 'actpass') return this.o.setup ?? 'active';
    return offer.setup === 'active' ? 'passive' : 'active';
  }

  private rejectInvite(invite: InviteSession, err: unknown): void {
    const why = (err as Error)?.message ?? String(err);
    const status = err instanceof SdpError ? 488 : 500;
    const reason = status === 488 ? `Not Acceptable Here (${why})` : 'Server Internal Error';
    invite.reject(status, { reason: reason.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 160) });
    this.refused(status, why, 'INVITE');
  }

  private refused(status: number, reason: string, method: string): void {
    this.safeEmit('refused', { status, reason, method });
  }

  private msrpHost(): string {
    return this.o.msrpHost ?? this.o.endpoint.host;
  }

  private safeEmit(event: string, arg: unknown): void {
    try {
      this.emit(event, arg);
    } catch {
      // a listener's failure must not break the session
    }
  }
}

function ended(s: InviteSession): boolean {
  return s.state === 'terminated';
}

function baseType(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

function isCpim(contentType: string): boolean {
  return baseType(contentType) === CPIM_CONTENT_TYPE;
}
