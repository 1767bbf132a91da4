// application/reginfo+xml -> ReginfoDocument. Elements are matched by namespace
// and local name, never by prefix (RFC 3680 §5.3 is a namespaced schema;
// notifiers choose their own prefixes). What RFC 3680 requires for merging
// (version, state, aor, ids, states, events, the contact URI) must be present and
// valid, or the document is refused with a reason. Optional attributes and the
// RFC 5628 extension carry information only: a malformed one is left out rather
// than costing the whole state. Unknown elements, attributes and namespaces are
// ignored (the schema's xs:any, and Kamailio's extra contact attributes).
import {
  findChild,
  findChildren,
  parseXml,
  readAttribute,
  trimmedText,
  trimXmlSpace,
} from '../xml/safe-xml';
import type { XmlElement } from '../xml/safe-xml';
import {
  CONTACT_ATTRIBUTE_NAMES,
  CONTACT_EVENTS,
  CONTACT_STATES,
  DOCUMENT_STATES,
  GRUUINFO_NAMESPACE,
  REGINFO_NAMESPACE,
  REGISTRATION_STATES,
} from './reginfo-types';
import type { Contact, ReginfoDocument, Registration, TempGruu, UnknownParam } from './reginfo-types';

export type ReadReginfoResult = { ok: true; doc: ReginfoDocument } | { ok: false; error: string };

const XML_NAMESPACE = 'http://www.w3.org/XML/1998/namespace';

class InvalidReginfo extends Error {}

/** Where in the document a problem is, built only when there is one. */
type Where = () => string;

/**
 * A NOTIFY without a body (or with only white space) carries no document: RFC
 * 6665 allows it, and Kamailio sends one for a user who never registered. The
 * caller decides what that means; readReginfo refuses it.
 */
export function isEmptyBody(body: string | Uint8Array | null | undefined): boolean {
  if (body === null || body === undefined) return true;
  if (typeof body === 'string') return trimXmlSpace(body) === '';
  for (const byte of body) {
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false;
  }
  return true;
}

export function readReginfo(text: string): ReadReginfoResult {
  if (isEmptyBody(text)) return { ok: false, error: 'reginfo: the body is empty, which is not a document' };
  const parsed = parseXml(text);
  if (!parsed.ok) return parsed;
  try {
    return { ok: true, doc: documentFrom(parsed.root) };
  } catch (e) {
    if (e instanceof InvalidReginfo) return { ok: false, error: e.message };
    return { ok: false, error: `reginfo: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function documentFrom(root: XmlElement): ReginfoDocument {
  if (root.ns !== REGINFO_NAMESPACE || root.name !== 'reginfo') {
    const ns = root.ns === '' ? 'no namespace' : `namespace ${shown(root.ns)}`;
    fail(`reginfo: the root element is <${root.name}> in ${ns}, not <reginfo> in ${REGINFO_NAMESPACE}`);
  }
  const where: Where = () => 'reginfo:';
  const version = requiredCount(root, 'version', where);
  const state = requiredChoice(root, 'state', DOCUMENT_STATES, where);
  const registrations: Registration[] = [];
  const seen = new Set<string>();
  for (const element of findChildren(root, REGINFO_NAMESPACE, 'registration')) {
    const registration = registrationFrom(element, registrations.length + 1);
    // Length-prefixed so that no aor/id pair can collide with another.
    const key = `${registration.id.length}:${registration.id}${registration.aor}`;
    if (seen.has(key)) {
      fail(`reginfo: registration ${describeRegistration(registration.aor, registration.id)} appears twice`);
    }
    seen.add(key);
    registrations.push(registration);
  }
  return { version, state, registrations };
}

function registrationFrom(element: XmlElement, position: number): Registration {
  const aorText = readAttribute(element, 'aor');
  const aor = aorText === undefined ? '' : trimXmlSpace(aorText);
  const id = readAttribute(element, 'id') ?? '';
  const where: Where = () => `reginfo: registration ${aor !== '' ? describeRegistration(aor, id) : `number ${position}`}:`;
  if (aor === '') fail(`${where()} the aor attribute is missing or empty`);
  if (id === '') fail(`${where()} the id attribute is missing or empty`);
  const state = requiredChoice(element, 'state', REGISTRATION_STATES, where);
  const contacts: Contact[] = [];
  const seen = new Set<string>();
  for (const child of findChildren(element, REGINFO_NAMESPACE, 'contact')) {
    const contact = contactFrom(child, where);
    if (seen.has(contact.id)) fail(`${where()} contact ${shown(contact.id)} appears twice`);
    seen.add(contact.id);
    contacts.push(contact);
  }
  return { aor, id, state, contacts };
}

function describeRegistration(aor: string, id: string): string {
  return `${shown(aor)} (id ${shown(id)})`;
}

/** Values in messages come from the network: quoted, escaped and cut short. */
function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
}

function contactFrom(element: XmlElement, registrationWhere: Where): Contact {
  const id = readAttribute(element, 'id') ?? '';
  const where: Where = () => `${registrationWhere().slice(0, -1)}, contact ${id === '' ? 'without id' : shown(id)}:`;
  if (id === '') fail(`${where()} the id attribute is missing or empty`);
  const state = requiredChoice(element, 'state', CONTACT_STATES, where);
  const event = requiredChoice(element, 'event', CONTACT_EVENTS, where);
  const uriElement = findChild(element, REGINFO_NAMESPACE, 'uri');
  // anyURI collapses white space; one RFC 3680 example has a trailing blank.
  const uri = uriElement ? trimmedText(uriElement) : '';
  if (uri === '') fail(`${where()} the <uri> element is missing or empty`);
  const contact: Contact = { id, state, event, uri, unknownParams: unknownParamsOf(element) };
  addOptionalAttributes(contact, element);
  addDisplayName(contact, element);
  addGruus(contact, element);
  const extras = extraAttributesOf(element);
  if (extras) contact.extraAttributes = extras;
  return contact;
}

function addOptionalAttributes(contact: Contact, element: XmlElement): void {
  const expires = optionalCount(element, 'expires');
  if (expires !== undefined) contact.expires = expires;
  const retryAfter = optionalCount(element, 'retry-after');
  if (retryAfter !== undefined) contact.retryAfter = retryAfter;
  const durationRegistered = optionalCount(element, 'duration-registered');
  if (durationRegistered !== undefined) contact.durationRegistered = durationRegistered;
  const q = readAttribute(element, 'q');
  if (q !== undefined && trimXmlSpace(q) !== '') contact.q = trimXmlSpace(q);
  const callId = readAttribute(element, 'callid');
  if (callId !== undefined && callId !== '') contact.callId = callId;
  const cseq = optionalCount(element, 'cseq');
  if (cseq !== undefined) contact.cseq = cseq;
}

function addDisplayName(contact: Contact, element: XmlElement): void {
  const displayName = findChild(element, REGINFO_NAMESPACE, 'display-name');
  if (!displayName) return;
  contact.displayName = trimmedText(displayName);
  const lang = readAttribute(displayName, 'lang', XML_NAMESPACE);
  if (lang !== undefined && lang !== '') contact.displayNameLang = lang;
}

function unknownParamsOf(element: XmlElement): UnknownParam[] {
  const params: UnknownParam[] = [];
  for (const child of findChildren(element, REGINFO_NAMESPACE, 'unknown-param')) {
    const name = readAttribute(child, 'name');
    // The name is what makes the parameter mean anything (RFC 3680 §5.3: required).
    if (name === undefined || trimXmlSpace(name) === '') continue;
    params.push({ name: trimXmlSpace(name), value: trimmedText(child) });
  }
  return params;
}

function addGruus(contact: Contact, element: XmlElement): void {
  const pub = findChild(element, GRUUINFO_NAMESPACE, 'pub-gruu');
  const pubUri = pub ? nonEmptyUri(pub) : undefined;
  if (pubUri !== undefined) contact.pubGruu = pubUri;
  const temp = findChild(element, GRUUINFO_NAMESPACE, 'temp-gruu');
  const tempGruu = temp ? tempGruuFrom(temp) : undefined;
  if (tempGruu) contact.tempGruu = tempGruu;
}

function tempGruuFrom(element: XmlElement): TempGruu | undefined {
  const uri = nonEmptyUri(element);
  // RFC 5628 makes both attributes mandatory; without either the element says nothing usable.
  const firstCseq = optionalCount(element, 'first-cseq');
  return uri === undefined || firstCseq === undefined ? undefined : { uri, firstCseq };
}

function nonEmptyUri(element: XmlElement): string | undefined {
  const uri = readAttribute(element, 'uri');
  if (uri === undefined) return undefined;
  const trimmed = trimXmlSpace(uri);
  return trimmed === '' ? undefined : trimmed;
}

function extraAttributesOf(element: XmlElement): Record<string, string> | undefined {
  let extras: Record<string, string> | undefined;
  for (const [key, value] of element.attrs) {
    // Namespaced attributes would need their declarations to be written back; they are ignored.
    if (key.charCodeAt(0) === 0x7b || CONTACT_ATTRIBUTE_NAMES.has(key)) continue;
    extras ??= {};
    // Assigning __proto__ would not make it a property; defining it does.
    if (key === '__proto__') Object.defineProperty(extras, key, { value, enumerable: true, writable: true, configurable: true });
    else extras[key] = value;
  }
  return extras;
}

// ---- attribute values ------------------------------------------------------

// xs:nonNegativeInteger / xs:unsignedLong lexical space after white space
// collapse; values beyond 2^53 cannot be held exactly and are treated as invalid.
function parseCount(value: string): number | undefined {
  const trimmed = trimXmlSpace(value);
  if (!/^\+?[0-9]+$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : undefined;
}

function optionalCount(element: XmlElement, name: string): number | undefined {
  const value = readAttribute(element, name);
  return value === undefined ? undefined : parseCount(value);
}

function requiredCount(element: XmlElement, name: string, where: Where): number {
  const value = readAttribute(element, name);
  if (value === undefined) fail(`${where()} the ${name} attribute is missing`);
  const n = parseCount(value);
  if (n === undefined) fail(`${where()} ${name} ${shown(value)} is not a non-negative integer`);
  return n;
}

function requiredChoice<T extends string>(element: XmlElement, name: string, choices: readonly T[], where: Where): T {
  const value = readAttribute(element, name);
  if (value === undefined) fail(`${where()} the ${name} attribute is missing`);
  const trimmed = trimXmlSpace(value);
  if (!(choices as readonly string[]).includes(trimmed)) {
    fail(`${where()} ${name} ${shown(value)} is not one of ${choices.join(', ')}`);
  }
  return trimmed as T;
}

function fail(message: string): never {
  throw new InvalidReginfo(message);
}
