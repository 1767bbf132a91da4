// ReginfoDocument -> application/reginfo+xml (RFC 3680 §5.3, RFC 5628). Elements
// and attributes follow the schema's order. The writer never produces what the
// reader would refuse: numbers outside xs:unsignedLong's safe range are left
// out (the version falls back to 0), and characters XML 1.0 cannot carry at all
// (§2.2 Char) become U+FFFD.
import { CONTACT_ATTRIBUTE_NAMES, GRUUINFO_NAMESPACE, REGINFO_NAMESPACE } from './reginfo-types';
import type { Contact, ReginfoDocument, Registration } from './reginfo-types';
import { attributeText, elementText } from '../xml/xml-escape';


export function writeReginfo(doc: ReginfoDocument): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n'];
  const gruuNamespace = usesGruu(doc) ? ` xmlns:gr="${GRUUINFO_NAMESPACE}"` : '';
  out.push(
    `<reginfo xmlns="${REGINFO_NAMESPACE}"${gruuNamespace} version="${unsignedText(doc.version) ?? '0'}"` +
      ` state="${attributeText(doc.state)}">\n`,
  );
  for (const registration of doc.registrations) writeRegistration(out, registration);
  out.push('</reginfo>\n');
  return out.join('');
}

// RFC 5628 only needs its namespace when a GRUU is there to be reported.
function usesGruu(doc: ReginfoDocument): boolean {
  return doc.registrations.some((r) => r.contacts.some((c) => c.pubGruu !== undefined || c.tempGruu !== undefined));
}

function writeRegistration(out: string[], registration: Registration): void {
  const open =
    `  <registration aor="${attributeText(registration.aor)}" id="${attributeText(registration.id)}"` +
    ` state="${attributeText(registration.state)}"`;
  if (registration.contacts.length === 0) {
    out.push(`${open}/>\n`);
    return;
  }
  out.push(`${open}>\n`);
  for (const contact of registration.contacts) writeContact(out, contact);
  out.push('  </registration>\n');
}

function writeContact(out: string[], contact: Contact): void {
  out.push(`    <contact${contactAttributes(contact)}>\n`);
  out.push(`      <uri>${elementText(contact.uri)}</uri>\n`);
  if (contact.displayName !== undefined) {
    const lang = contact.displayNameLang !== undefined ? ` xml:lang="${attributeText(contact.displayNameLang)}"` : '';
    out.push(`      <display-name${lang}>${elementText(contact.displayName)}</display-name>\n`);
  }
  for (const param of contact.unknownParams) {
    out.push(`      <unknown-param name="${attributeText(param.name)}">${elementText(param.value)}</unknown-param>\n`);
  }
  if (contact.pubGruu !== undefined) out.push(`      <gr:pub-gruu uri="${attributeText(contact.pubGruu)}"/>\n`);
  if (contact.tempGruu !== undefined) {
    const firstCseq = unsignedText(contact.tempGruu.firstCseq);
    if (firstCseq !== undefined) {
      out.push(`      <gr:temp-gruu uri="${attributeText(contact.tempGruu.uri)}" first-cseq="${firstCseq}"/>\n`);
    }
  }
  out.push('    </contact>\n');
}

function contactAttributes(contact: Contact): string {
  let text = ` id="${attributeText(contact.id)}" state="${attributeText(contact.state)}" event="${attributeText(contact.event)}"`;
  text += numberAttribute('duration-registered', contact.durationRegistered);
  text += numberAttribute('expires', contact.expires);
  text += numberAttribute('retry-after', contact.retryAfter);
  if (contact.q !== undefined) text += ` q="${attributeText(contact.q)}"`;
  if (contact.callId !== undefined) text += ` callid="${attributeText(contact.callId)}"`;
  text += numberAttribute('cseq', contact.cseq);
  for (const [name, value] of Object.entries(contact.extraAttributes ?? {})) {
    if (isPlainAttributeName(name) && !CONTACT_ATTRIBUTE_NAMES.has(name) && name !== 'xmlns') text += ` ${name}="${attributeText(value)}"`;
  }
  return text;
}

function numberAttribute(name: string, value: number | undefined): string {
  const text = unsignedText(value);
  return text === undefined ? '' : ` ${name}="${text}"`;
}

function unsignedText(value: number | undefined): string | undefined {
  return value !== undefined && Number.isSafeInteger(value) && value >= 0 ? String(value) : undefined;
}

// An unprefixed name (no colon: that would need a namespace declaration) in the
// ASCII subset of XML names; anything else cannot be written back safely.
function isPlainAttributeName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9._-]*$/.test(name) && !/^xml/i.test(name);
}
