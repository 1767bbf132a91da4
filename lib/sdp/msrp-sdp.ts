// SDP for MSRP media (RFC 4975 8, RFC 6135, RFC 3264 offer/answer):
// `m=message <port> TCP/MSRP *` with a=path, a=accept-types,
// a=accept-wrapped-types, a=max-size, a=setup and a direction.
import { parseMsrpUri } from '../msrp/uri';
import { SdpError, addrTypeOf, attributeValues, hasAttribute, newSdpSessionId, parseSdp } from './sdp';

export type MsrpSetup = 'active' | 'passive' | 'actpass' | 'holdconn';
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface MsrpSdpParams {
  /** Our address for o= and c= (RFC 4975 8.1: informative; the path is what counts). */
  address: string;
  /** The m= port: the port of our path URI when passive, 9 is customary when active (RFC 4145). */
  port: number;
  /** Our a=path (one URI, or several with relays). */
  path: string | string[];
  setup: MsrpSetup;
  /** Default ["message/cpim"]. */
  acceptTypes?: string[];
  acceptWrapped?: string[];
  direction?: MediaDirection;
  maxSize?: number;
  /** o= user name; default "-". */
  username?: string;
  sessionId?: string;
  sessionVersion?: number;
}

export interface MsrpMediaDescription {
  port: number;
  proto: string;
  /** c= address (media level, else session level). */
  address?: string;
  path: string[];
  /** Absent when the SDP had no a=setup: the offerer is then active, the answerer passive (RFC 4145 4). */
  setup?: MsrpSetup;
  direction: MediaDirection;
  acceptTypes: string[];
  acceptWrappedTypes: string[];
  maxSize?: number;
}

export interface MsrpAnswerLocal {
  address: string;
  port: number;
  path: string | string[];
  acceptTypes?: string[];
  acceptWrapped?: string[];
  /** Our preference when the offer says actpass. Default 'active' (we may be behind NAT). */
  setup?: 'active' | 'passive';
  /** What we want when the offer is sendrecv. */
  direction?: MediaDirection;
  maxSize?: number;
  username?: string;
  sessionId?: string;
  sessionVersion?: number;
}

export interface MsrpAnswer {
  sdp: string;
  /** Who we are on the MSRP connection. */
  setup: 'active' | 'passive';
  direction: MediaDirection;
  /** The offer as read. */
  offer: MsrpMediaDescription;
}

const SETUPS: readonly MsrpSetup[] = ['active', 'passive', 'actpass', 'holdconn'];
const DIRECTIONS: readonly MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];
const MEDIA_TYPE = /^(\*|[A-Za-z0-9!#$&^_.+-]+\/(\*|[A-Za-z0-9!#$&^_.+-]+))$/;

export function buildMsrpOffer(p: MsrpSdpParams): string {
  return describe({ ...p, direction: p.direction ?? 'sendrecv' });
}

/** Reads the first usable MSRP media; SdpError (status 400 or 488) says why there is none. */
export function parseMsrpMedia(sdpText: string): MsrpMediaDescription {
  const sdp = parseSdp(sdpText);
  const messages = sdp.media.filter((m) => m.media === 'message');
  if (messages.length === 0) throw new SdpError('no m=message media in the SDP');
  const media = messages.find((m) => m.proto.toUpperCase() === 'TCP/MSRP' && m.port !== 0);
  if (!media) {
    if (messages.some((m) => m.proto.toUpperCase() === 'TCP/TLS/MSRP' && m.port !== 0)) {
      throw new SdpError('MSRP over TLS (TCP/TLS/MSRP) is not supported');
    }
    throw new SdpError('no usable m=message TCP/MSRP media (port 0 or another transport)');
  }
  const pathText = attributeValues(sdp, media, 'path')[0];
  if (!pathText) throw new SdpError('MSRP media without a=path');
  const path = pathText.trim().split(/\s+/);
  for (const uri of path) {
    try {
      const u = parseMsrpUri(uri);
      if (u.secure || u.transport !== 'tcp') throw new SdpError(`a=path URI ${uri} is not msrp over tcp`);
    } catch (e) {
      if (e instanceof SdpError) throw e;
      throw new SdpError(`a=path: ${(e as Error).message}`);
    }
  }
  const acceptText = attributeValues(sdp, media, 'accept-types')[0];
  if (acceptText === undefined || acceptText.trim() === '') throw new SdpError('MSRP media without a=accept-types');
  const acceptTypes = mediaTypes(acceptText, 'accept-types');
  const wrappedText = attributeValues(sdp, media, 'accept-wrapped-types')[0];
  const acceptWrappedTypes = wrappedText ? mediaTypes(wrappedText, 'accept-wrapped-types') : [];
  const setupText = attributeValues(sdp, media, 'setup')[0];
  let setup: MsrpSetup | undefined;
  if (setupText !== undefined) {
    if (!SETUPS.includes(setupText.trim() as MsrpSetup)) throw new SdpError(`unknown a=setup:${setupText}`);
    setup = setupText.trim() as MsrpSetup;
  }
  const maxSizeText = attributeValues(sdp, media, 'max-size')[0];
  let maxSize: number | undefined;
  if (maxSizeText !== undefined) {
    if (!/^\d{1,15}$/.test(maxSizeText.trim())) throw new SdpError(`bad a=max-size:${maxSizeText}`);
    maxSize = Number(maxSizeText.trim());
  }
  const direction =
    DIRECTIONS.find((d) => hasAttribute(media.attributes, d)) ?? DIRECTIONS.find((d) => hasAttribute(sdp.attributes, d)) ?? 'sendrecv';
  const out: MsrpMediaDescription = {
    port: media.port,
    proto: media.proto,
    path,
    direction,
    acceptTypes,
    acceptWrappedTypes,
  };
  const address = (media.connection ?? sdp.connection)?.address;
  if (address !== undefined) out.address = address;
  if (setup !== undefined) out.setup = setup;
  if (maxSize !== undefined) out.maxSize = maxSize;
  return out;
}

/**
 * The answer to an MSRP offer (RFC 3264 6): the direction mirrored, the
 * connection role that complements the offer's a=setup, our own path and
 * types. SdpError (488) when we cannot take the offer.
 */
export function buildMsrpAnswer(offer: string | MsrpMediaDescription, local: MsrpAnswerLocal): MsrpAnswer {
  const o = typeof offer === 'string' ? parseMsrpMedia(offer) : offer;
  const acceptTypes = local.acceptTypes ?? ['message/cpim'];
  if (!acceptTypes.some((ours) => o.acceptTypes.some((theirs) => typesMatch(ours, theirs)))) {
    throw new SdpError(`no common content type: offer accepts ${o.acceptTypes.join(' ')}, we accept ${acceptTypes.join(' ')}`);
  }
  const setup = answerSetup(o.setup, local.setup ?? 'active');
  const direction = answerDirection(o.direction, local.direction ?? 'sendrecv');
  const sdp = describe({
    address: local.address,
    port: local.port,
    path: local.path,
    setup,
    acceptTypes,
    acceptWrapped: local.acceptWrapped,
    direction,
    maxSize: local.maxSize,
    username: local.username,
    sessionId: local.sessionId,
    sessionVersion: local.sessionVersion,
  });
  return { sdp, setup, direction, offer: o };
}

/** The offerer's role once the answer is in: the complement of the answer's a=setup. */
export function offererConnectionRole(answer: MsrpMediaDescription): 'active' | 'passive' {
  switch (answer.setup) {
    case 'active':
      return 'passive';
    case 'passive':
    case undefined: // no a=setup: the answerer is passive (RFC 4145 4, RFC 4975 5.4)
      return 'active';
    default:
      throw new SdpError(`the answer's a=setup:${answer.setup} leaves no one to connect`);
  }
}

function answerSetup(offered: MsrpSetup | undefined, preference: 'active' | 'passive'): 'active' | 'passive' {
  switch (offered) {
    case 'active':
    case undefined: // the offerer connects when it says nothing
      return 'passive';
    case 'passive':
      return 'active';
    case 'actpass':
      return preference;
    default:
      throw new SdpError('a=setup:holdconn (no connection yet) is not supported');
  }
}

function answerDirection(offered: MediaDirection, wanted: MediaDirection): MediaDirection {
  switch (offered) {
    case 'sendonly':
      return wanted === 'sendonly' || wanted === 'inactive' ? 'inactive' : 'recvonly';
    case 'recvonly':
      return wanted === 'recvonly' || wanted === 'inactive' ? 'inactive' : 'sendonly';
    case 'inactive':
      return 'inactive';
    default:
      return wanted;
  }
}

function typesMatch(a: string, b: string): boolean {
  const [at, as] = a.toLowerCase().split('/');
  const [bt, bs] = b.toLowerCase().split('/');
  if (at === '*' || bt === '*') return true;
  return at === bt && (as === '*' || bs === '*' || as === bs);
}

function mediaTypes(text: string, attr: string): string[] {
  const list = text.trim().split(/\s+/);
  for (const t of list) if (!MEDIA_TYPE.test(t)) throw new SdpError(`a=${attr}: "${t}" is not a media type`);
  return list;
}

function describe(p: MsrpSdpParams & { direction: MediaDirection }): string {
  const path = Array.isArray(p.path) ? p.path : [p.path];
  if (path.length === 0) throw new Error('an MSRP media description needs a path');
  for (const uri of path) parseMsrpUri(uri);
  if (!Number.isInteger(p.port) || p.port < 0 || p.port > 65535) throw new Error(`bad m= port ${p.port}`);
  if (!/^[A-Za-z0-9.:-]+$/.test(p.address)) throw new Error(`bad address "${p.address}"`);
  const acceptTypes = p.acceptTypes ?? ['message/cpim'];
  for (const t of [...acceptTypes, ...(p.acceptWrapped ?? [])]) {
    if (!MEDIA_TYPE.test(t)) throw new Error(`"${t}" is not a media type`);
  }
  const ip = addrTypeOf(p.address);
  const lines = [
    'v=0',
    `o=${p.username ?? '-'} ${p.sessionId ?? newSdpSessionId()} ${p.sessionVersion ?? 1} IN ${ip} ${p.address}`,
    's=-',
    `c=IN ${ip} ${p.address}`,
    't=0 0',
    `m=message ${p.port} TCP/MSRP *`,
    `a=${p.direction}`,
    `a=accept-types:${acceptTypes.join(' ')}`,
  ];
  if (p.acceptWrapped && p.acceptWrapped.length > 0) lines.push(`a=accept-wrapped-types:${p.acceptWrapped.join(' ')}`);
  if (p.maxSize !== undefined) lines.push(`a=max-size:${p.maxSize}`);
  lines.push(`a=path:${path.join(' ')}`, `a=setup:${p.setup}`);
  return `${lines.join('\r\n')}\r\n`;
}
