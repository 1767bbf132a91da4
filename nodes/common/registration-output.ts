// Turns a registration change into the node's output message.
import type { RegistrationChange, RegistrationInfo } from '../../lib/registration/registration';
import type { Exchange } from '../../lib/sip/exchange';
import { summarize, type SipSummary } from '../../lib/sip/summary';
import { decode } from '../../lib/sip/codec';
import { compact, type NodeMessage } from './red';

export type RegistrationEvent = 'registered' | 'refreshed' | 'service-deregistered' | 'deregistered' | 'failed';

/** The settled event a change stands for; undefined for transitional states (registering...). */
export function eventOf(c: RegistrationChange): RegistrationEvent | undefined {
  switch (c.info.state) {
    case 'registered':
      return c.previous === 'refreshing' ? 'refreshed' : 'registered';
    case 'core-only':
      return 'service-deregistered';
    case 'unregistered':
      return 'deregistered';
    case 'failed':
      return 'failed';
    default:
      return undefined;
  }
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

export function registrationPayload(info: RegistrationInfo, event: RegistrationEvent, enabler: string) {
  return compact({
    event,
    state: info.state,
    aor: info.aor,
    enabler,
    contact: info.contact,
    services: info.services,
    expires: info.expires,
    expiresAt: iso(info.expiresAt),
    nextAttemptAt: iso(info.nextAttemptAt),
    gruu: info.gruu,
    associatedUris: info.associatedUris,
    serviceRoute: info.serviceRoute,
    bindings: info.bindings,
    failures: info.failures,
    error: info.error,
  });
}

/** `msg.sip`: the final response, with the whole exchange (REGISTER, 401, REGISTER, 200) beside it. */
export function exchangeSummary(c: { exchanges: Exchange[] }): (SipSummary & { exchange: SipSummary[] }) | undefined {
  const last = c.exchanges.at(-1);
  if (!last) return undefined;
  const exchange: SipSummary[] = [];
  for (const x of c.exchanges) {
    if (x.requestWire) {
      const req = x.request ?? decode(x.requestWire);
      if (req) exchange.push(summarize(req, 'out', x.requestWire));
    }
    exchange.push(summarize(x.response, 'in', x.responseWire));
  }
  return { ...summarize(last.response, 'in', last.responseWire), exchange };
}

export function registrationMessage(c: RegistrationChange, event: RegistrationEvent, enabler: string): NodeMessage {
  return {
    topic: c.info.aor,
    payload: registrationPayload(c.info, event, enabler),
    sip: exchangeSummary(c),
  };
}
