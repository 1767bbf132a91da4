// One request/response pair of a procedure, kept for msg.sip and logs.
import type { SipResponse } from './message';

export interface Exchange {
  requestWire: string;
  response: SipResponse;
  /** Absent when the response was generated locally (timeout, unreachable peer). */
  responseWire?: string;
}
