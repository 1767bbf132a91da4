// The client's own REGISTER (or the core's 200 OK to it) inside a third-party
// REGISTER (3GPP TS 24.229 5.4.1.7: the S-CSCF includes them as message/sip
// bodies when the filter criteria ask for it; Kamailio can do the same). Only
// there does the server see the client's Contact and feature tags; the
// third-party REGISTER's own Contact is the core.
import { decode, utf8ToLatin1 } from '../sip/codec';
import { headerText, isRequest, parseValueWithParams, unquote, type SipMessage } from '../sip/message';

export interface ClientRegistration {
  /** The client's Contact URI. */
  contact?: string;
  /** Names of the Contact's feature tags (parameters starting with `+`, RFC 3840). */
  featureTags: string[];
  /** `+sip.instance` without quotes and angle brackets (RFC 5626). */
  instance?: string;
  /** Which message carried it: the client's REGISTER or the core's 200 OK. */
  source: 'request' | 'response';
}

const MESSAGE_SIP = 'message/sip';
/** Parts read from a multipart body: a request and a response are all a third-party REGISTER carries. */
const MAX_PARTS = 4;

/** What the third-party REGISTER says of the client, or undefined when it carries no message/sip body. */
export function clientRegistrationOf(m: SipMessage): ClientRegistration | undefined {
  if (!m.content) return undefined;
  const type = parseValueWithParams(headerText(m, 'content-type') ?? '');
  const kind = type.value.toLowerCase();
  let messages: SipMessage[] = [];
  if (kind === MESSAGE_SIP) messages = [embedded(m.content)].filter((x): x is SipMessage => x !== undefined);
  else if (kind === 'multipart/mixed' && type.params.boundary) messages = sipParts(m.content, unquote(String(type.params.boundary)));
  // The client's own REGISTER names its Contact; the 200 OK lists every binding of the user.
  const chosen = messages.find((x) => isRequest(x) && x.method === 'REGISTER') ?? messages.find((x) => !isRequest(x) && x.status === 200);
  if (!chosen) return undefined;
  const first = Array.isArray(chosen.headers.contact) ? chosen.headers.contact[0] : undefined;
  const params = first?.params ?? {};
  const instance = params['+sip.instance'];
  return {
    contact: first?.uri,
    featureTags: Object.keys(params).filter((k) => k.startsWith('+')),
    instance: instance ? unquote(String(instance)).replace(/^<|>$/g, '') : undefined,
    source: isRequest(chosen) ? 'request' : 'response',
  };
}

function embedded(text: string): SipMessage | undefined {
  // Cores write the embedded head with CRLF; tolerate LF, and a message that ends right after its headers.
  let wire = text.replace(/\r?\n/g, '\r\n');
  if (!wire.includes('\r\n\r\n')) wire = wire.replace(/(\r\n)?$/, '\r\n\r\n');
  const m = decode(utf8ToLatin1(wire));
  return m && (m.method !== undefined || m.status !== undefined) ? m : undefined;
}

/** The message/sip parts of a multipart/mixed body (RFC 2046 5.1). */
function sipParts(body: string, boundary: string): SipMessage[] {
  const out: SipMessage[] = [];
  const parts = body.split(`--${boundary}`).slice(1, 1 + MAX_PARTS);
  for (const part of parts) {
    if (part.startsWith('--')) break; // the close delimiter
    const text = part.replace(/^\r?\n/, '');
    const sep = /\r?\n\r?\n/.exec(text);
    if (!sep) continue;
    const head = text.slice(0, sep.index);
    const type = /^content-type:\s*([^;\r\n]+)/im.exec(head)?.[1]?.trim().toLowerCase();
    if (type !== MESSAGE_SIP) continue;
    const m = embedded(text.slice(sep.index + sep[0].length).replace(/\r?\n$/, ''));
    if (m) out.push(m);
  }
  return out;
}
