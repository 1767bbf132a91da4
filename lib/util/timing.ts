// When to refresh and when to retry.

/**
 * 3GPP TS 24.229 5.1.1.4.1 (registration) and 5.1.1.3 (reg-event
 * subscription): refresh 600 s before expiry when more than 1200 s were
 * granted, otherwise when half of the time has passed.
 */
export function refreshDelaySeconds(granted: number): number {
  return granted > 1200 ? granted - 600 : granted / 2;
}

export interface BackoffPolicy {
  baseSeconds: number;
  maxSeconds: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseSeconds: 5, maxSeconds: 300 };

/**
 * Wait before retry number `failures` (1-based), doubling up to a cap, with
 * 50-100 % jitter as RFC 5626 4.5 recommends so a fleet of clients that lost
 * the same core does not come back in one burst. Retry-After wins when longer.
 */
export function retryDelaySeconds(failures: number, policy: BackoffPolicy, retryAfter?: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.max(0, failures - 1));
  const jittered = ceiling * (0.5 + 0.5 * random());
  return retryAfter !== undefined ? Math.max(retryAfter, jittered) : jittered;
}
