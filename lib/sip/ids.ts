// Identifiers that must be globally unique (RFC 3261 8.1.1.4, 8.1.1.7, 19.3).
// A random per-process prefix plus a counter is unique and costs nothing per
// message, unlike drawing fresh random bytes for every branch.
import { randomHex } from '../util/random';

const prefix = randomHex(6);
let counter = 0;

function next(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return counter.toString(36);
}

/** Via branch with the RFC 3261 magic cookie. */
export function newBranch(): string {
  return `z9hG4bK${prefix}${next()}`;
}

export function newTag(): string {
  return randomHex(5) + next();
}

export function newCallId(host: string): string {
  return `${randomHex(9)}${next()}@${host}`;
}
