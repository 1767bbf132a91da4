// The reg event document model: RFC 3680 §5.3 (application/reginfo+xml) with
// the GRUU extension of RFC 5628. Attribute names become camelCase; optional
// attributes are left out (not set to undefined) when the document lacks them,
// so that a document read back from the writer compares equal.

export const REGINFO_NAMESPACE = 'urn:ietf:params:xml:ns:reginfo';
export const GRUUINFO_NAMESPACE = 'urn:ietf:params:xml:ns:gruuinfo';
export const REGINFO_CONTENT_TYPE = 'application/reginfo+xml';

export type DocumentState = 'full' | 'partial';
export type RegistrationState = 'init' | 'active' | 'terminated';
export type ContactState = 'active' | 'terminated';
/** RFC 3680 §5.3: why the contact is in its state. */
export type ContactEvent =
  | 'registered'
  | 'created'
  | 'refreshed'
  | 'shortened'
  | 'expired'
  | 'deactivated'
  | 'probation'
  | 'unregistered'
  | 'rejected';

/** Attributes of <contact> that RFC 3680 §5.3 defines; any other is an extra. */
export const CONTACT_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set([
  'id',
  'state',
  'event',
  'duration-registered',
  'expires',
  'retry-after',
  'q',
  'callid',
  'cseq',
]);

export const DOCUMENT_STATES: readonly DocumentState[] = ['full', 'partial'];
export const REGISTRATION_STATES: readonly RegistrationState[] = ['init', 'active', 'terminated'];
export const CONTACT_STATES: readonly ContactState[] = ['active', 'terminated'];
export const CONTACT_EVENTS: readonly ContactEvent[] = [
  'registered',
  'created',
  'refreshed',
  'shortened',
  'expired',
  'deactivated',
  'probation',
  'unregistered',
  'rejected',
];

/** <unknown-param name="...">value</unknown-param>: a Contact header parameter the registrar kept (feature tags, +sip.instance). */
export interface UnknownParam {
  name: string;
  /** '' for a parameter without a value. */
  value: string;
}

/** RFC 5628 <gr:temp-gruu uri="..." first-cseq="..."/>: the most recently assigned temporary GRUU. */
export interface TempGruu {
  uri: string;
  /** CSeq of the REGISTER request that caused this temporary GRUU to be assigned. */
  firstCseq: number;
}

export interface Contact {
  /** Unique within the registration; the key that ties a contact across documents. */
  id: string;
  state: ContactState;
  event: ContactEvent;
  uri: string;
  displayName?: string;
  /** xml:lang of <display-name>. */
  displayNameLang?: string;
  /** Seconds until the binding expires. */
  expires?: number;
  /** Seconds after which a 'probation' contact may re-register. */
  retryAfter?: number;
  /** Seconds the binding has been registered. */
  durationRegistered?: number;
  /** The q value as written (RFC 3680 types it as a string, e.g. "0.8"). */
  q?: string;
  /** Call-ID of the REGISTER that last touched the binding (attribute `callid`). */
  callId?: string;
  /** CSeq of that REGISTER. */
  cseq?: number;
  unknownParams: UnknownParam[];
  /** RFC 5628 <gr:pub-gruu uri="..."/>. */
  pubGruu?: string;
  tempGruu?: TempGruu;
  /**
   * Unprefixed attributes of <contact> that RFC 3680 does not define, kept for
   * information only: Kamailio's pua_reginfo adds `received`, `path` and
   * `user_agent` this way.
   */
  extraAttributes?: Record<string, string>;
}

export interface Registration {
  aor: string;
  id: string;
  state: RegistrationState;
  contacts: Contact[];
}

export interface ReginfoDocument {
  version: number;
  state: DocumentState;
  registrations: Registration[];
}
