// The merged registration state a reg event subscriber keeps, and the changes
// each NOTIFY makes to it.
//
// Versions (RFC 3680 §5.1: the notifier raises the version by one per NOTIFY
// within a subscription; §5.2: how a subscriber merges full and partial state):
// - A full document is always accepted and replaces the view, whatever its
//   version: it is complete in itself, and Kamailio's pua_reginfo sends version
//   0 and state full in every NOTIFY. Its version becomes the current one.
//   Reordered NOTIFYs are the dialog layer's business (RFC 3261 §12.2.2 refuses
//   a lower CSeq), so a full document is not second-guessed here.
// - A partial document is merged only when a full one has been seen and its
//   version is exactly the current one plus one. Anything else (a gap, a repeat,
//   a lower version, a partial first) leaves the view untouched and answers
//   needFullState: the subscriber refreshes its subscription to get full state.
//
// Changes:
// - Contact changes carry the contact's own event attribute and new state.
//   In a partial document every listed contact is a change (the notifier lists
//   only what changed). In a full document the view diffs against what it held:
//   a new contact; a different state, URI, Call-ID, CSeq or GRUU; a longer
//   remaining expiry (only a REGISTER extends a binding); or a new event other
//   than 'registered' — Kamailio marks every contact that did not trigger the
//   document 'registered', so a flip back to it says nothing happened.
// - An active contact that disappears (left out of a full document, or under a
//   registration that became init or terminated) is reported terminated with
//   inferred: true and an event chosen here: 'expired' when its last known
//   expiry has run out (give or take EXPIRY_TOLERANCE_MS, as expires is whole
//   seconds and the notifier's clock is not ours), else 'unregistered'.
//   Kamailio reports an expired binding exactly this way: the registration
//   without its <contact>.
// - Registration changes summarise the AoR: event 'registered' when its state
//   is active with at least one active contact, 'init' in state init, else
//   'unregistered' (terminated, gone from a full document, or left without an
//   active contact). One is reported when a registration is first seen and
//   whenever its state or that event changes, after the contact changes of the
//   same registration.
// - Terminated contacts from a partial document are reported and then dropped,
//   so the view does not grow over a long subscription; a full document's
//   terminated contacts stay for as long as the notifier lists them.
import type {
  Contact,
  ContactEvent,
  ContactState,
  ReginfoDocument,
  Registration,
  RegistrationState,
} from './reginfo-types';

export type RegistrationEvent = 'registered' | 'unregistered' | 'init';

export interface ContactChange {
  kind: 'contact';
  aor: string;
  registrationId: string;
  contactId: string;
  uri: string;
  event: ContactEvent;
  state: ContactState;
  /** Absent when the contact is new to the view. */
  previousState?: ContactState;
  /** True when the view concluded the termination itself (the contact disappeared). */
  inferred: boolean;
  /** The contact as the applied document gave it; when inferred, as last known with the new state and event. */
  contact: Contact;
}

export interface RegistrationChange {
  kind: 'registration';
  aor: string;
  registrationId: string;
  event: RegistrationEvent;
  state: RegistrationState;
  /** Absent when the registration is new to the view. */
  previousState?: RegistrationState;
  activeContacts: number;
}

export type ReginfoChange = ContactChange | RegistrationChange;

export type ApplyResult =
  | { needFullState: true; reason: string }
  | { needFullState: false; version: number; changes: ReginfoChange[] };

export interface ReginfoSnapshot {
  /** Undefined until a full document has been applied. */
  version: number | undefined;
  registrations: Registration[];
}

export interface ReginfoViewOptions {
  /** Milliseconds clock, for expiry inference; Date.now by default. */
  now?: () => number;
}

export const EXPIRY_TOLERANCE_MS = 2000;

interface HeldContact {
  contact: Contact;
  /** When the document that last listed it was applied. */
  seenAt: number;
}

interface HeldRegistration {
  aor: string;
  id: string;
  state: RegistrationState;
  contacts: Map<string, HeldContact>;
}

export class ReginfoView {
  private registrations = new Map<string, HeldRegistration>();
  private version: number | undefined;
  private readonly now: () => number;

  constructor(options: ReginfoViewOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  get currentVersion(): number | undefined {
    return this.version;
  }

  apply(doc: ReginfoDocument): ApplyResult {
    if (doc.state === 'full') return this.applyFull(doc);
    if (this.version === undefined) {
      return { needFullState: true, reason: `partial document (version ${doc.version}) before any full document` };
    }
    if (doc.version !== this.version + 1) {
      return {
        needFullState: true,
        reason: `partial document version ${doc.version} does not follow version ${this.version}`,
      };
    }
    return this.applyPartial(doc);
  }

  snapshot(): ReginfoSnapshot {
    const registrations: Registration[] = [];
    for (const held of this.registrations.values()) {
      const contacts: Contact[] = [];
      for (const { contact } of held.contacts.values()) contacts.push(copyContact(contact));
      registrations.push({ aor: held.aor, id: held.id, state: held.state, contacts });
    }
    return { version: this.version, registrations };
  }

  /** Forget everything. */
  reset(): void {
    this.registrations = new Map();
    this.version = undefined;
  }

  /**
   * A new subscription starts (the notifier forgot the old one, say after a
   * restart): its first document must be full, and is diffed against what is
   * held, so bindings the notifier lost with its restart are reported gone.
   */
  restart(): void {
    this.version = undefined;
  }

  /**
   * Full state with nothing registered (an empty first NOTIFY, which is how
   * Kamailio describes a user without bindings): every held binding is gone.
   */
  applyEmpty(): ReginfoChange[] {
    const now = this.now();
    const changes: ReginfoChange[] = [];
    for (const before of this.registrations.values()) changes.push(...registrationGone(before, now));
    this.registrations = new Map();
    this.version = undefined;
    return changes;
  }

  private applyFull(doc: ReginfoDocument): ApplyResult {
    const now = this.now();
    const changes: ReginfoChange[] = [];
    const next = new Map<string, HeldRegistration>();
    for (const registration of doc.registrations) {
      const key = registrationKey(registration.aor, registration.id);
      const before = this.registrations.get(key);
      const activeBefore = before ? countActive(before) : 0;
      const held: HeldRegistration = { aor: registration.aor, id: registration.id, state: registration.state, contacts: new Map() };
      for (const contact of registration.contacts) {
        const previous = before?.contacts.get(contact.id);
        held.contacts.set(contact.id, { contact: copyContact(contact), seenAt: now });
        if (!previous) changes.push(contactChange(held, contact, undefined));
        else if (changedMeaningfully(previous.contact, contact)) {
          changes.push(contactChange(held, contact, previous.contact.state));
        }
      }
      if (before) {
        for (const [id, previous] of before.contacts) {
          if (!held.contacts.has(id) && previous.contact.state === 'active') changes.push(vanished(held, previous, now));
        }
      }
      addRegistrationChange(changes, held, before?.state, activeBefore);
      next.set(key, held);
    }
    for (const [key, before] of this.registrations) {
      if (!next.has(key)) changes.push(...registrationGone(before, now));
    }
    this.registrations = next;
    this.version = doc.version;
    return { needFullState: false, version: doc.version, changes };
  }

  private applyPartial(doc: ReginfoDocument): ApplyResult {
    const now = this.now();
    const changes: ReginfoChange[] = [];
    for (const registration of doc.registrations) {
      const key = registrationKey(registration.aor, registration.id);
      const existing = this.registrations.get(key);
      const previousState = existing?.state;
      const activeBefore = existing ? countActive(existing) : 0;
      const held: HeldRegistration = existing ?? {
        aor: registration.aor,
        id: registration.id,
        state: registration.state,
        contacts: new Map(),
      };
      held.state = registration.state;
      this.registrations.set(key, held);
      const listed = new Set<string>();
      for (const contact of registration.contacts) {
        listed.add(contact.id);
        changes.push(contactChange(held, contact, held.contacts.get(contact.id)?.contact.state));
        if (contact.state === 'terminated') held.contacts.delete(contact.id);
        else held.contacts.set(contact.id, { contact: copyContact(contact), seenAt: now });
      }
      // RFC 3680 §4.7.1: only an active registration has bindings.
      if (held.state !== 'active') {
        for (const [id, previous] of held.contacts) {
          if (listed.has(id) || previous.contact.state !== 'active') continue;
          changes.push(vanished(held, previous, now));
          held.contacts.delete(id);
        }
      }
      addRegistrationChange(changes, held, previousState, activeBefore);
    }
    this.version = doc.version;
    return { needFullState: false, version: doc.version, changes };
  }
}

// Length-prefixed so that no aor/id pair can collide with another. Keyed by both
// because a notifier may reuse ids across AoRs (Kamailio uses record addresses).
function registrationKey(aor: string, id: string): string {
  return `${id.length}:${id}${aor}`;
}

function countActive(held: HeldRegistration): number {
  let active = 0;
  for (const { contact } of held.contacts.values()) if (contact.state === 'active') active++;
  return active;
}

function registrationEvent(state: RegistrationState, activeContacts: number): RegistrationEvent {
  if (state === 'active' && activeContacts > 0) return 'registered';
  return state === 'init' ? 'init' : 'unregistered';
}

function addRegistrationChange(
  changes: ReginfoChange[],
  held: HeldRegistration,
  previousState: RegistrationState | undefined,
  activeBefore: number,
): void {
  const activeContacts = countActive(held);
  const event = registrationEvent(held.state, activeContacts);
  if (previousState !== undefined && previousState === held.state && registrationEvent(previousState, activeBefore) === event) {
    return;
  }
  const change: RegistrationChange = {
    kind: 'registration',
    aor: held.aor,
    registrationId: held.id,
    event,
    state: held.state,
    activeContacts,
  };
  if (previousState !== undefined) change.previousState = previousState;
  changes.push(change);
}

function registrationGone(before: HeldRegistration, now: number): ReginfoChange[] {
  const changes: ReginfoChange[] = [];
  for (const previous of before.contacts.values()) {
    if (previous.contact.state === 'active') changes.push(vanished(before, previous, now));
  }
  if (before.state !== 'terminated') {
    changes.push({
      kind: 'registration',
      aor: before.aor,
      registrationId: before.id,
      event: 'unregistered',
      state: 'terminated',
      previousState: before.state,
      activeContacts: 0,
    });
  }
  return changes;
}

function contactChange(held: HeldRegistration, contact: Contact, previousState: ContactState | undefined): ContactChange {
  const change: ContactChange = {
    kind: 'contact',
    aor: held.aor,
    registrationId: held.id,
    contactId: contact.id,
    uri: contact.uri,
    event: contact.event,
    state: contact.state,
    inferred: false,
    contact,
  };
  if (previousState !== undefined) change.previousState = previousState;
  return change;
}

function vanished(held: HeldRegistration, previous: HeldContact, now: number): ContactChange {
  const last = previous.contact;
  const expired = last.expires !== undefined && now >= previous.seenAt + last.expires * 1000 - EXPIRY_TOLERANCE_MS;
  const event: ContactEvent = expired ? 'expired' : 'unregistered';
  const contact: Contact = { ...copyContact(last), state: 'terminated', event };
  if (contact.expires !== undefined) contact.expires = 0;
  return {
    kind: 'contact',
    aor: held.aor,
    registrationId: held.id,
    contactId: last.id,
    uri: last.uri,
    event,
    state: 'terminated',
    previousState: last.state,
    inferred: true,
    contact,
  };
}

function changedMeaningfully(before: Contact, after: Contact): boolean {
  return (
    before.state !== after.state ||
    before.uri !== after.uri ||
    before.callId !== after.callId ||
    before.cseq !== after.cseq ||
    (before.expires !== undefined && after.expires !== undefined && after.expires > before.expires) ||
    before.pubGruu !== after.pubGruu ||
    before.tempGruu?.uri !== after.tempGruu?.uri ||
    (before.event !== after.event && after.event !== 'registered')
  );
}

function copyContact(contact: Contact): Contact {
  const copy: Contact = { ...contact, unknownParams: contact.unknownParams.map((p) => ({ ...p })) };
  if (contact.tempGruu) copy.tempGruu = { ...contact.tempGruu };
  // Spread defines properties, so an attribute named __proto__ stays data.
  if (contact.extraAttributes) copy.extraAttributes = { ...contact.extraAttributes };
  return copy;
}
