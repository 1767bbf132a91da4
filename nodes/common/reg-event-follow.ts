// How a register node reads a reg event node's output about its own user:
// does the core still hold our binding? After a core restart the core has
// forgotten it, and only the reg event says so (3GPP TS 24.229 5.1.1.5 has the
// UE register again when its contact is deactivated).
import { sameContactUri } from '../../lib/sip/uri';

/**
 * Contact events after which registering again makes sense. Not `rejected`:
 * the core refused the binding on purpose, and asking again would only be refused.
 */
const GONE_EVENTS = new Set(['deactivated', 'unregistered', 'expired', 'probation']);

/**
 * True when a reg event `update` payload says the binding with Contact
 * `contact` is gone: a change terminates it (with one of the events above,
 * or inferred because it vanished from full state), or full state no longer
 * lists it as active.
 */
export function bindingGone(payload: Record<string, unknown>, contact: string): boolean {
  const changes = Array.isArray(payload.changes) ? (payload.changes as Record<string, unknown>[]) : [];
  for (const c of changes) {
    if (c?.kind !== 'contact' || c.state !== 'terminated' || typeof c.uri !== 'string') continue;
    if (!sameContactUri(c.uri, contact)) continue;
    if (c.inferred === true || GONE_EVENTS.has(String(c.event))) return true;
    if (c.event === 'rejected') return false;
  }
  if (payload.full !== true || !Array.isArray(payload.registrations)) return false;
  const active = (payload.registrations as Array<{ contacts?: Array<{ uri?: unknown; state?: unknown }> }>).some((r) =>
    (r?.contacts ?? []).some((c) => c?.state === 'active' && typeof c.uri === 'string' && sameContactUri(c.uri, contact)),
  );
  return !active;
}
