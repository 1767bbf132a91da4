// Whether the endpoint takes on one more request: a cap on server
// transactions and a total of bytes held for requests not yet answered
// (shared with TCP messages still arriving). Above either, the request is shed
// with a stateless 503 and Retry-After (RFC 3261 21.5.4): the sender learns to
// come back later and we keep nothing of it.
import type { SipRequest, SipResponse } from './message';
import { InputBudget } from './input-budget';
import { makeResponse } from './responses';

export interface AdmissionLimits {
  /** Server transactions alive at once (answered ones linger 64*T1 over UDP). */
  maxServerTransactions: number;
  /** Bytes of input held at once: requests being handled plus partial TCP messages. */
  maxBufferedBytes: number;
  /** Seconds a shed sender is asked to wait (Retry-After). */
  retryAfterSeconds: number;
}

export const DEFAULT_ADMISSION: AdmissionLimits = {
  maxServerTransactions: 50_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  retryAfterSeconds: 5,
};

export class Admission {
  readonly limits: AdmissionLimits;
  readonly budget: InputBudget;
  /** Requests shed since start. */
  shed = 0;
  /** TCP connections closed since start because their partial messages did not fit. */
  shedConnections = 0;

  constructor(limits: Partial<AdmissionLimits> = {}) {
    this.limits = { ...DEFAULT_ADMISSION, ...stripUndefined(limits) };
    this.budget = new InputBudget(this.limits.maxBufferedBytes);
  }

  /** Holds `bytes` for a new server transaction; the returned call releases them, undefined means shed. */
  admit(bytes: number, transactions: number): (() => void) | undefined {
    const release = transactions < this.limits.maxServerTransactions ? this.budget.hold(bytes) : undefined;
    if (!release) this.shed++;
    return release;
  }

  /** The stateless answer to a shed request; none for ACK, which is never answered. */
  refusal(req: SipRequest, toTag: string): SipResponse | undefined {
    if (req.method === 'ACK') return undefined;
    return makeResponse(req, 503, { toTag, headers: { 'retry-after': String(this.limits.retryAfterSeconds) } });
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
