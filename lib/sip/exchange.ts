// One request/response pair of a procedure, kept for msg.sip and logs.
import type { SipRequest, SipResponse } from './message';

export interface Exchange {
  /** The request as sent (absent when it never left, e.g. the endpoint was closed). */
  request?: SipRequest;
  requestWire: string;
  response: SipResponse;
  /** Absent when the response was generated locally (timeout, unreachable peer). */
  responseWire?: string;
}
