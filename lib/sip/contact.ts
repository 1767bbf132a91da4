// The first Contact URI of a message.
import type { SipMessage } from './message';

export function contactOf(m: SipMessage): string | undefined {
  const c = m.headers.contact;
  return Array.isArray(c) && c[0] ? c[0].uri : undefined;
}
