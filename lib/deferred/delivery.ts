// Seed 003 12.2.2.2 "Delivering of offline messages", the server's side: one
// INVITE session per user that carries the user's stored messages over MSRP,
// each wrapped in message/cpim with its original sender and time, each
// deleted from the store only once its SEND got 200, then BYE.
//
// Whatever goes wrong (a failure response, no answer in time so we CANCEL,
// the MSRP connection dropped, a refresh answered 481) ends the session and
// leaves every message not yet confirmed in the store for the next trigger;
// the report says why and of what kind (DeliveryFailure). A callee refusing
// one message (400, 413, 415 to its SEND) only skips that one: it stays
// stored. A crash delivers again the messages whose SEND was sent but whose
// delete was not yet durable: at most `window` of them (256 by default; a
// crash test sees up to all 256), since a message holds its place in the
// window until its delete is on disk. Each keeps its Message-ID (the stored
// id), so the receiving side drops the duplicates, while it remembers them
// (the inbox does in memory).
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { deferredAsCpim } from './deferred-cpim';
import { buildDeliveryInvite, DELIVERY_ALLOW, IM_SERVER_USER_AGENT } from './delivery-plan';
import type { DeferredMessage, DeferredMessageStore } from './message-store';
import { CPIM_CONTENT_TYPE } from '../cpim/cpim';
import { LazyMsrpListener } from '../msrp/lazy-listener';
import { MsrpError, MsrpSession } from '../msrp/session';
import { offererConnectionRole, parseMsrpMedia, type MsrpMediaDescription } from '../sdp/msrp-sdp';
import type { SipEndpoint } from '../sip/endpoint';
import type { Exchange } from '../sip/exchange';
import { InviteSession, type RefreshEvent, type SessionEvent } from '../sip/invite-session';
import { headerText, type SipResponse } from '../sip/message';
import { addressOfRecord } from '../sip/uri';
import { realScheduler, type Scheduler } from '../util/scheduler';

export interface DeliveryOptions {
  endpoint: SipEndpoint;
  messages: DeferredMessageStore;
  /** The IM server's identity: From of the INVITE. */
  serverUri: string;
  /** Default IM_SERVER_USER_AGENT. */
  userAgent?: string;
  /** Address the MSRP listener binds and writes in a=path and c=; default the endpoint's host. */
  msrpHost?: string;
  /** Largest body of one MSRP SEND, bytes. Default 2048. */
  chunkSize?: number;
  /** Session interval asked for, seconds (refresher=uac: we refresh). Default 1800. */
  sessionExpires?: number;
  scheduler?: Scheduler;
  /** User part of our Contact. */
  contactUser?: string;
  /** SENDs in flight at once (pipelined on the one connection). Default 256: over loopback to another process, 64 halves the rate. */
  window?: number;
  /** How long the answerer may take to open the MSRP connection when we are passive, ms. Default 30 s. */
  connectTimeoutMs?: number;
  /**
   * How long the callee may ring (or stay silent after 100 Trying) before we
   * CANCEL, ms. Default 60 s: the user's client answers this INVITE by itself
   * (automata), so a longer wait means a client that will not.
   */
  answerTimeoutMs?: number;
}

export interface MessageReport {
  aor: string;
  id: string;
  sender: string;
  /** The original time (RFC 3339). */
  time: string;
  status: 'delivered' | 'failed';
  error?: string;
}

/**
 * Why a session ended short, for whoever acts on it: `declined` the callee
 * answered the INVITE with a failure (busy, unavailable, a redirect...), an
 * outcome and no error; `unanswered` no answer at all, or none in time (the
 * server CANCELled); `fault` the session was set up but broke, or the callee
 * refused a message: something to look into; `closed` the service closed.
 */
export type DeliveryFailure = 'declined' | 'unanswered' | 'fault' | 'closed';

export interface DeliveryReport {
  aor: string;
  /** delivered: every message went; partial: some went; failed: none went; nothing: nothing waited. */
  outcome: 'delivered' | 'partial' | 'failed' | 'nothing';
  /** Final status of the INVITE, when one was sent. */
  status?: number;
  /** Why the session ended short (a failure response, a dropped connection...). */
  reason?: string;
  /** The kind of that reason; set with it. */
  failure?: DeliveryFailure;
  /** Ids of the messages delivered (and deleted from the store), in order. */
  delivered: string[];
  /** Messages still stored for the user afterwards. */
  remaining: number;
  /** The Allow list of the last response that had one (12.2.2.2: the server stores it). */
  allow?: string;
  /** The Contact of the last response that had one. */
  contact?: string;
  /** The INVITE exchanges, refreshes and the BYE, for msg.sip and logs. */
  exchanges: Exchange[];
}

/** One delivery session under way. */
interface Running {
  aor: string;
  invite?: InviteSession;
  msrp?: MsrpSession;
  /** Set when the session must stop sending: the first reason wins. */
  stopped?: string;
  failure?: DeliveryFailure;
  /** Every message went: the BYE is under way, and the callee closing its side is no failure. */
  hangingUp?: boolean;
  /** Messages the callee refused one by one (the session went on without them). */
  refused: string[];
  report: DeliveryReport;
  done: Promise<DeliveryReport>;
}

const MSRP_IDENT = /^[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}$/;

/** The MSRP Message-ID of a stored message: its id when MSRP can carry it, else a stable digest of it. */
export function msrpMessageIdOf(storedId: string): string {
  return MSRP_IDENT.test(storedId) ? storedId : createHash('sha256').update(storedId).digest('hex').slice(0, 32);
}

/**
 * Events: 'message' (MessageReport) for each message sent or failed in a
 * session; 'session' (DeliveryReport) when a session ends. Never 'error'.
 */
export class DeferredDelivery extends EventEmitter {
  private readonly running = new Map<string, Running>();
  private readonly listener: LazyMsrpListener;
  private closed = false;
  private readonly scheduler: Scheduler;

  constructor(private readonly o: DeliveryOptions) {
    super();
    this.on('error', () => undefined);
    this.listener = new LazyMsrpListener(() => ({ host: this.msrpHost(), scheduler: o.scheduler }));
    this.scheduler = o.scheduler ?? realScheduler;
  }

  /** Delivery sessions under way. */
  get active(): number {
    return this.running.size;
  }

  /** Delivers what waits for `aor`; a call while a session for that user runs joins it. Never rejects. */
  deliver(aor: string): Promise<DeliveryReport> {
    const key = addressOfRecord(aor) ?? aor;
    const existing = this.running.get(key);
    if (existing) return existing.done;
    const report: DeliveryReport = { aor: key, outcome: 'nothing', delivered: [], remaining: 0, exchanges: [] };
    const run: Running = { aor: key, report, refused: [], done: Promise.resolve(report) };
    this.running.set(key, run);
    run.done = this.run(run)
      .catch((err: unknown) => {
        halt(run, errorText(err), 'fault');
      })
      .then(() => this.finish(run));
    return run.done;
  }

  /** BYE (or CANCEL) every running session; undelivered messages stay stored. */
  async close(): Promise<void> {
    this.closed = true;
    const runs = [...this.running.values()];
    for (const r of runs) this.stop(r, 'the delivery service is closing', 'closed');
    await Promise.all(runs.map((r) => r.done));
    await this.listener.close();
  }

  private async run(run: Running): Promise<void> {
    if (this.closed) {
      halt(run, 'the delivery service is closed', 'closed');
      return;
    }
    if (this.o.messages.count(run.aor) === 0) return;
    const listener = await this.listener.get();
    const passive = listener.createSession({ chunkSize: this.o.chunkSize });
    run.msrp = passive;
    const ep = this.o.endpoint;
    const userAgent = this.o.userAgent ?? IM_SERVER_USER_AGENT;
    const invite = buildDeliveryInvite({
      user: run.aor,
      server: this.o.serverUri,
      contact: ep.contactUri(this.o.contactUser),
      userAgent,
      sessionExpires: this.o.sessionExpires,
      media: { address: this.msrpHost(), port: listener.port, path: passive.localUri, setup: 'actpass' },
      callId: ep.newCallId(),
      fromTag: ep.newTag(),
    });
    const session = new InviteSession(ep, {
      sessionTimer: { expires: this.o.sessionExpires, refresher: 'uac' },
      scheduler: this.o.scheduler,
      contactUser: this.o.contactUser,
      headers: { allow: DELIVERY_ALLOW.join(', '), 'user-agent': userAgent },
    });
    run.invite = session;
    session.on('state', (e: SessionEvent) => {
      if (e.state !== 'terminated') return;
      if (e.cause === 'local-bye' || e.cause === 'rejected' || e.cause === 'cancelled') return;
      this.stop(run, sessionEndText(e), 'fault');
    });
    session.on('refresh', (e: RefreshEvent) => {
      run.report.exchanges.push(e.exchange);
      this.noteResponse(run, e.exchange.response);
    });
    if (run.stopped) return void (await passive.close());
    const answerMs = this.o.answerTimeoutMs ?? 60_000;
    const unanswered = this.scheduler.set(() => this.stop(run, `not answered within ${Math.round(answerMs / 1000)} s: cancelled`, 'unanswered'), answerMs);
    const outcome = await session.invite(invite, { onProvisional: (res) => this.noteResponse(run, res) }).finally(() => this.scheduler.clear(unanswered));
    for (const x of outcome.exchanges) {
      run.report.exchanges.push(x);
      this.noteResponse(run, x.response);
    }
    run.report.status = outcome.response.status;
    if (!outcome.established) {
      halt(run, inviteFailureText(outcome.exchange), inviteFailureKind(outcome.exchange));
      await passive.close();
      return;
    }
    const msrp = await this.openMsrp(run, passive, session.remoteSdp);
    if (msrp) await this.sendAll(run, msrp);
    await this.hangUp(run);
  }

  /** The MSRP session as the answer's a=setup says: the passive one we offered, or an active one on the same URI. */
  private async openMsrp(run: Running, passive: MsrpSession, answerSdp: string | undefined): Promise<MsrpSession | undefined> {
    let answer: MsrpMediaDescription;
    let role: 'active' | 'passive';
    try {
      answer = parseMsrpMedia(answerSdp ?? '');
      role = offererConnectionRole(answer);
    } catch (err) {
      halt(run, `unusable SDP answer: ${errorText(err)}`, 'fault');
      await passive.close();
      return undefined;
    }
    let msrp = passive;
    if (role === 'active') {
      this.listener.current?.unregister(passive);
      await passive.close();
      msrp = new MsrpSession({ localUri: passive.localUri, remotePath: answer.path, setup: 'active', chunkSize: this.o.chunkSize, scheduler: this.o.scheduler });
    } else msrp.setRemotePath(answer.path);
    run.msrp = msrp;
    msrp.on('close', (info) => {
      if (info.byPeer && !run.hangingUp) this.stop(run, `MSRP connection dropped${info.error ? `: ${info.error.message}` : ''}`, 'fault');
    });
    msrp.on('error', () => undefined);
    try {
      if (run.stopped) throw new Error(run.stopped);
      if (role === 'active') await msrp.connect();
      else await this.withTimeout(msrp.ready(), this.o.connectTimeoutMs ?? 30_000, 'the callee did not open the MSRP connection in time');
      return msrp;
    } catch (err) {
      halt(run, `MSRP connection failed: ${errorText(err)}`, 'fault');
      await msrp.close();
      return undefined;
    }
  }

  /**
   * Sends the user's messages in arrival order, `window` SENDs in flight at
   * once on the one connection; each is deleted once its SEND got 200. New
   * messages that arrive meanwhile go in the same session. A message holds
   * its slot in the window until its delete is durable, so a crash delivers
   * again at most `window` messages; the 200s that come while one delete is
   * under way are deleted together in the next (one group commit on a
   * journal). Callbacks, not a Promise per message.
   */
  private sendAll(run: Running, msrp: MsrpSession): Promise<void> {
    const window = Math.max(1, this.o.window ?? 256);
    const attempted = new Set<string>();
    let batch: DeferredMessage[] = [];
    let next = 0;
    let sending = 0;
    let acked: DeferredMessage[] = []; // 200 in, delete not begun
    let deleting = 0; // in the delete under way
    return new Promise<void>((resolve) => {
      let finished = false;
      const idle = (): boolean => sending === 0 && acked.length === 0 && deleting === 0;
      const deleteAcked = (): void => {
        if (deleting > 0 || acked.length === 0) return;
        const group = acked;
        acked = [];
        deleting = group.length;
        this.o.messages
          .markDeliveredMany(group.map((m) => m.id))
          .then(
            () => {
              for (const m of group) this.report({ ...messageBase(run, m), status: 'delivered' });
            },
            (err: unknown) => {
              // Delivered, but still stored: they go again and the inbox drops the duplicates by their Message-ID.
              const error = `delivered but not deleted from the store: ${errorText(err)}`;
              for (const m of group) this.report({ ...messageBase(run, m), status: 'delivered', error });
            },
          )
          .finally(() => {
            deleting = 0;
            deleteAcked();
            pump();
          });
      };
      const settled = (m: DeferredMessage, ok: boolean): void => {
        sending--;
        if (ok) acked.push(m);
        deleteAcked();
        pump();
      };
      const pump = (): void => {
        try {
          while (!run.stopped && sending + acked.length + deleting < window) {
            if (next === batch.length) {
              // Listed again once all went: messages that arrived meanwhile go in this session too.
              if (!idle()) break;
              batch = this.o.messages.list(run.aor).filter((m) => !attempted.has(m.id));
              next = 0;
              if (batch.length === 0) break;
            }
            const m = batch[next++]!;
            attempted.add(m.id);
            sending++;
            this.sendOne(run, msrp, m, settled);
          }
        } catch (err) {
          this.stop(run, `delivery failed: ${errorText(err)}`, 'fault');
        }
        if (!finished && idle() && (run.stopped || next === batch.length)) {
          finished = true;
          resolve();
        }
      };
      pump();
    });
  }

  /** One SEND; `settled(m, true)` once it got 200, `settled(m, false)` when it failed (a refusal of this message skips it, anything else stops the session). */
  private sendOne(run: Running, msrp: MsrpSession, m: DeferredMessage, settled: (m: DeferredMessage, ok: boolean) => void): void {
    const done = (err: Error | undefined): void => {
      if (err) {
        this.report({ ...messageBase(run, m), status: 'failed', error: errorText(err) });
        if (err instanceof MsrpError && REFUSES_THE_MESSAGE.has(err.code)) {
          // The callee refuses this message, not the session: it would refuse it again in every
          // session, so stopping here would hold the later ones back for ever. It stays stored.
          run.refused.push(`message ${m.id} refused: ${errorText(err)}`);
        } else {
          // Anything else is the session failing: later messages must not overtake this one,
          // so the session stops and the next one starts from it.
          this.stop(run, `SEND of message ${m.id} failed: ${errorText(err)}`, 'fault');
        }
        settled(m, false);
        return;
      }
      run.report.delivered.push(m.id);
      settled(m, true);
    };
    let wrapped: Buffer;
    try {
      wrapped = deferredAsCpim(m);
    } catch (err) {
      return done(err instanceof Error ? err : new Error(String(err)));
    }
    msrp.sendWith(wrapped, CPIM_CONTENT_TYPE, { messageId: msrpMessageIdOf(m.id) }, done);
  }

  /** BYE once the messages went (or the session stopped); closes the MSRP session. */
  private async hangUp(run: Running): Promise<void> {
    run.hangingUp = true;
    const s = run.invite;
    if (s && s.state !== 'terminated') {
      const bye = await s.bye();
      if (bye) run.report.exchanges.push(bye);
    }
    await run.msrp?.close();
  }

  /** Ends a session early: no more SENDs; BYE (or CANCEL while the INVITE is pending). */
  private stop(run: Running, why: string, failure: DeliveryFailure): void {
    if (run.stopped || run.hangingUp) return;
    halt(run, why, failure);
    const s = run.invite;
    if (s && (s.state === 'calling' || s.state === 'early')) s.cancel();
    run.msrp?.close().catch(() => undefined);
  }

  /** 12.2.2.2: the Allow list and the Contact of every response are stored. */
  private noteResponse(run: Running, res: SipResponse): void {
    const allow = headerText(res, 'allow');
    if (allow !== undefined) run.report.allow = allow;
    const contact = res.headers.contact;
    if (Array.isArray(contact) && contact[0]) run.report.contact = contact[0].uri;
  }

  private finish(run: Running): DeliveryReport {
    this.running.delete(run.aor);
    const r = run.report;
    r.remaining = this.o.messages.count(run.aor);
    const sent = r.delivered.length;
    if (sent > 0) r.outcome = r.remaining === 0 && !run.stopped && !run.refused.length ? 'delivered' : 'partial';
    else if (run.stopped) r.outcome = 'failed';
    else r.outcome = r.remaining > 0 ? 'failed' : 'nothing';
    const why = [run.stopped, ...run.refused].filter((w): w is string => w !== undefined);
    if (why.length) {
      r.reason = why.join('; ');
      r.failure = run.failure ?? 'fault';
    }
    this.safeEmit('session', r);
    return r;
  }

  private report(m: MessageReport): void {
    this.safeEmit('message', m);
  }

  private msrpHost(): string {
    return this.o.msrpHost ?? this.o.endpoint.host;
  }

  private withTimeout<T>(p: Promise<T>, ms: number, why: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = this.scheduler.set(() => reject(new Error(why)), ms);
      p.then(
        (v) => {
          this.scheduler.clear(t);
          resolve(v);
        },
        (e: unknown) => {
          this.scheduler.clear(t);
          reject(e);
        },
      );
    });
  }

  private safeEmit(event: string, arg: unknown): void {
    try {
      this.emit(event, arg);
    } catch {
      // a listener's failure must not end the delivery
    }
  }
}

/**
 * MSRP statuses that refuse one message and not the session (RFC 4975 10):
 * unintelligible (400), too large (413), a media type not taken (415).
 */
const REFUSES_THE_MESSAGE = new Set([400, 413, 415]);

/** Records why a session stops; the first reason wins. */
function halt(run: Running, why: string, failure: DeliveryFailure): void {
  if (run.stopped) return;
  run.stopped = why;
  run.failure = failure;
}

/** The kind of an INVITE that did not set up the session. */
function inviteFailureKind(x: Exchange): DeliveryFailure {
  if (!x.responseWire) return 'unanswered';
  return x.response.status < 300 ? 'fault' : 'declined';
}

/** Why an INVITE did not set up the session, for the report. */
function inviteFailureText(x: Exchange): string {
  const res = x.response;
  const status = `${res.status} ${res.reason ?? ''}`.trim();
  // A response the endpoint made up itself (Timer B, a transport failure): nothing answered.
  if (!x.responseWire) return `no response to the INVITE (${status})`;
  if (res.status >= 300 && res.status < 400) {
    const targets = (Array.isArray(res.headers.contact) ? res.headers.contact : []).map((c) => c.uri).join(', ');
    // The messages are the user's: only the user's own registrations get them, never a target a response names.
    return `INVITE redirected (${res.status})${targets ? ` to ${targets}` : ''}: not followed`;
  }
  if (res.status < 300) {
    if (!Array.isArray(res.headers.contact) || !res.headers.contact.length) return `INVITE answered ${res.status} without Contact: no session to deliver in`;
    return `INVITE answered ${status} but the session ended at once`;
  }
  return `INVITE answered ${status}`;
}

/** Why a session that was up ended, for the report. */
function sessionEndText(e: SessionEvent): string {
  switch (e.cause) {
    case 'refresh-failed':
      if (e.exchange && !e.exchange.responseWire) return `the session refresh got no response (${e.status}): the callee is gone`;
      return `the session refresh was answered ${e.status}: the callee no longer has the session`;
    case 'session-expired':
      return 'the session expired: no refresh in time (RFC 4028)';
    case 'remote-bye':
      return 'the callee ended the session (BYE)';
    default:
      return `session ended: ${e.cause}${e.status ? ` (${e.status})` : ''}`;
  }
}

function messageBase(run: Running, m: DeferredMessage): Omit<MessageReport, 'status'> {
  return { aor: run.aor, id: m.id, sender: m.sender, time: new Date(m.receivedAt).toISOString() };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
