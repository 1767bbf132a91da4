// How the servers refuse a request: one answer on the wire with a readable
// reason phrase, and one 'refused' event for the flow's log, the same shape
// for every server.
import type { EventEmitter } from 'node:events';
import type { IncomingRequest } from '../sip/endpoint';
import { parseValueWithParams, splitHeaderList } from '../sip/message';

/** Why a request was refused, for the flow's log. */
export interface ServerRefusal {
  method: string;
  status: number;
  reason: string;
}

/** A reason phrase from any explanation: one line of printable ASCII, short (RFC 3261 25.1 Reason-Phrase). */
export function reasonPhrase(reason: string): string {
  return reason.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 160);
}

/** Answers `status` with `reason` as the phrase and emits 'refused' (ServerRefusal, IncomingRequest) on `events`. */
export function refuseRequest(events: EventEmitter, req: IncomingRequest, status: number, reason: string, headers: Record<string, string> = {}): void {
  const text = reasonPhrase(reason) || String(status);
  req.respond(status, { reason: text, headers });
  events.emit('refused', { method: req.message.method, status, reason: text } satisfies ServerRefusal, req);
}

/** A handler failed where it should not: 500 unless answered already, and the error text in 'refused'. */
export function failRequest(events: EventEmitter, req: IncomingRequest, err: unknown): void {
  if (!req.responded) req.respond(500, { reason: 'Server Internal Error' });
  events.emit('refused', { method: req.message.method, status: 500, reason: String((err as Error)?.message ?? err) } satisfies ServerRefusal, req);
}

/** Whether a media range (`type/subtype`, `type/*` or `*\/*`, parameters ignored) admits `mediaType`. */
export function mediaRangeAdmits(range: string, mediaType: string): boolean {
  const r = parseValueWithParams(range).value.trim().toLowerCase();
  const t = parseValueWithParams(mediaType).value.trim().toLowerCase();
  return r === t || r === '*/*' || r === `${t.split('/')[0]}/*`;
}

/** Whether an Accept header value admits `mediaType`. */
export function acceptsMediaType(accept: string, mediaType: string): boolean {
  return splitHeaderList(accept).some((range) => mediaRangeAdmits(range, mediaType));
}
