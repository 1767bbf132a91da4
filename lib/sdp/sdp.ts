// A small SDP (RFC 4566) reader and writer: session-level fields, media
// sections and their attributes, nothing codec-specific. Enough for MSRP
// offers and answers without a dependency.

export interface SdpAttribute {
  name: string;
  value?: string;
}

export interface SdpConnection {
  addrType: 'IP4' | 'IP6';
  address: string;
}

export interface SdpMedia {
  media: string;
  port: number;
  proto: string;
  formats: string[];
  connection?: SdpConnection;
  attributes: SdpAttribute[];
}

export interface SdpDescription {
  origin?: string;
  sessionName?: string;
  connection?: SdpConnection;
  attributes: SdpAttribute[];
  media: SdpMedia[];
}

/**
 * SDP we cannot take, with the SIP status that answers it: 400 for text that
 * is not SDP, 488 (Not Acceptable Here) for SDP that offers nothing we can use.
 */
export class SdpError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 488 = 488,
  ) {
    super(message);
    this.name = 'SdpError';
  }
}

const LINE = /^([a-z])=(.*)$/;

export function parseSdp(text: string): SdpDescription {
  const rows = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (rows[0] !== 'v=0') throw new SdpError('SDP must start with v=0', 400);
  const sdp: SdpDescription = { attributes: [], media: [] };
  let current: SdpMedia | undefined;
  for (const row of rows.slice(1)) {
    const m = LINE.exec(row);
    if (!m) throw new SdpError(`malformed SDP line ${JSON.stringify(row.slice(0, 80))}`, 400);
    const [, type, value] = m;
    switch (type) {
      case 'm': {
        const parts = value.split(' ');
        const port = parts[1]?.split('/')[0];
        if (parts.length < 4 || !/^\d{1,5}$/.test(port ?? '')) throw new SdpError(`malformed m= line "${value}"`, 400);
        current = { media: parts[0], port: Number(port), proto: parts[2], formats: parts.slice(3), attributes: [] };
        sdp.media.push(current);
        break;
      }
      case 'c': {
        const c = parseConnection(value);
        if (current) current.connection = c;
        else sdp.connection = c;
        break;
      }
      case 'a': {
        const colon = value.indexOf(':');
        const attr = colon < 0 ? { name: value } : { name: value.slice(0, colon), value: value.slice(colon + 1) };
        (current ? current.attributes : sdp.attributes).push(attr);
        break;
      }
      case 'o':
        if (!current) sdp.origin = value;
        break;
      case 's':
        if (!current) sdp.sessionName = value;
        break;
      default:
        break; // t=, b=, i=, k= ...: nothing MSRP needs
    }
  }
  return sdp;
}

function parseConnection(value: string): SdpConnection {
  const m = /^IN (IP4|IP6) (\S+)$/.exec(value.trim());
  if (!m) throw new SdpError(`malformed c= line "${value}"`, 400);
  // A multicast TTL or count suffix (addr/ttl) is not ours to keep.
  return { addrType: m[1] as 'IP4' | 'IP6', address: m[2].split('/')[0] };
}

/** Attribute values by name, media level first, then session level. */
export function attributeValues(sdp: SdpDescription, media: SdpMedia, name: string): string[] {
  const own = media.attributes.filter((a) => a.name === name);
  const list = own.length > 0 ? own : sdp.attributes.filter((a) => a.name === name);
  return list.map((a) => a.value ?? '');
}

export function hasAttribute(attrs: SdpAttribute[], name: string): boolean {
  return attrs.some((a) => a.name === name);
}

/** The c= address type for an address text. */
export function addrTypeOf(address: string): 'IP4' | 'IP6' {
  return address.includes(':') ? 'IP6' : 'IP4';
}

let sessionCounter = 0;

/** An o= session id: numeric, unique in this process and unlikely to repeat across restarts. */
export function newSdpSessionId(): string {
  sessionCounter = (sessionCounter + 1) % 1000;
  return `${Math.floor(Date.now() / 1000)}${String(sessionCounter).padStart(3, '0')}`;
}
