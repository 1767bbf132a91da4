// What goes in `msg.sip` when a node reports something: the message on the wire
// that caused it, or, for what no message caused (an expiry, a subscription that
// ended before the core answered), `{local: true, reason}`, so `msg.sip` is never missing.
import { summarize } from '../../lib/sip/summary';
import type { IncomingRequest } from '../../lib/sip/endpoint';
import type { SubscriptionChange } from '../../lib/subscription/subscriber';

export interface LocalCause {
  local: true;
  reason: string;
}

export function localCause(reason: string): LocalCause {
  return { local: true, reason };
}

/** The request that caused an event, else the event as a local one. */
export function requestCause(req: IncomingRequest | undefined, reason: string): object {
  return req ? summarize(req.message, 'in', req.wire) : localCause(reason);
}

/** Our exchange's last response, else the NOTIFY that changed the state (one may come before the 200), else local. */
export function changeCause(c: SubscriptionChange): object {
  const last = c.exchanges.at(-1);
  if (last) return summarize(last.response, 'in', last.responseWire);
  if (c.notify) return summarize(c.notify.request.message, 'in', c.notify.request.wire);
  return localCause(c.error ?? c.reason ?? c.state);
}
