// Seed 003 12.2.2.2 "Delivering of offline messages": what the IM server does
// for a user once the user has registered the IM feature tag and published
// settings, as a pure decision; and the INVITE of step 2 that opens the
// delivery session, built for the INVITE layer to send.
import { quote, type NameAddr, type SipHeaders, type SipRequest } from '../sip/message';
import { buildMsrpOffer, type MsrpSetup } from '../sdp/msrp-sdp';
import { CPIM_CONTENT_TYPE } from '../cpim/cpim';
import { offlineDeliveryActive } from '../settings/settings-input';
import type { SettingsDocument } from '../settings/settings-types';
import { IM_FEATURE_TAG } from '../server/settings-server';

export interface DeliveryContext {
  /** Whether the user is registered with `+g.oma.sip-im` now (third-party REGISTER). */
  registered: boolean;
  /** The user's settings as composed from their live publications; undefined when none was published. */
  settings: SettingsDocument | undefined;
  /** The messages waiting for the user, or how many. */
  waiting: readonly unknown[] | number;
}

export type DeliveryAction = 'deliver' | 'notify-metadata' | 'wait';

export type DeliveryReason =
  /** deliver: offline delivery is active and messages wait. */
  | 'offline-delivery-active'
  /** notify-metadata: a publication says offline delivery is not active. */
  | 'offline-delivery-inactive'
  /** notify-metadata: the publications say nothing of offline delivery, so it is not "set to true". */
  | 'offline-delivery-unset'
  | 'not-registered'
  | 'settings-not-published'
  | 'nothing-waiting';

export interface DeliveryPlan {
  action: DeliveryAction;
  reason: DeliveryReason;
  waiting: number;
}

/**
 * The decision of 12.2.2.2 step 1: push the messages over INVITE and MSRP
 * (`deliver`) only when the `active` attribute of `offline-delivery` is true
 * and messages wait; otherwise a registered user who published settings is
 * told what waits (`notify-metadata`: seed 004 7.2.6, the client fetches the
 * history-list); `wait` while the user is not registered, has not published
 * since (the seed's trigger is registration and PUBLISH), or nothing waits.
 */
export function planDelivery(ctx: DeliveryContext): DeliveryPlan {
  const waiting = typeof ctx.waiting === 'number' ? ctx.waiting : ctx.waiting.length;
  const plan = (action: DeliveryAction, reason: DeliveryReason): DeliveryPlan => ({ action, reason, waiting });
  if (!ctx.registered) return plan('wait', 'not-registered');
  if (!ctx.settings) return plan('wait', 'settings-not-published');
  if (waiting <= 0) return plan('wait', 'nothing-waiting');
  const active = offlineDeliveryActive(ctx.settings);
  if (active === true) return plan('deliver', 'offline-delivery-active');
  return plan('notify-metadata', active === false ? 'offline-delivery-inactive' : 'offline-delivery-unset');
}

/** The release token of the IM server (OMA IM Appendix F): what User-Agent says by default. */
export const IM_SERVER_USER_AGENT = 'IM-serv/OMA1.0';
/** Methods of an INVITE dialog that the delivering server supports (RFC 3261 20.5; UPDATE for RFC 4028 refreshes). */
export const DELIVERY_ALLOW = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'UPDATE', 'OPTIONS'];
export const DEFAULT_DELIVERY_SESSION_EXPIRES = 1800;
/** RFC 4028 4: no session interval below 90 seconds. */
export const MIN_SESSION_EXPIRES = 90;

export interface DeliveryInviteParams {
  /** The served user's public user identity: Request-URI and To (step 2a). */
  user: string;
  /** The server's identity: From. */
  server: string;
  serverName?: string;
  /** The server's Contact URI; the IM feature tag and `automata` are added (steps 2e, 2f). */
  contact: string;
  /** Default IM_SERVER_USER_AGENT (step 2c). */
  userAgent?: string;
  /** Default DELIVERY_ALLOW (step 2d). */
  allow?: string[];
  /** Session interval asked for, seconds (step 2g; refresher=uac: the server refreshes). Default 1800. */
  sessionExpires?: number;
  /** Min-SE, seconds; default 90. */
  minSE?: number;
  /** The MSRP media of the offer (step 2h). */
  media: {
    /** c= and o= address. */
    address: string;
    /** m= port: our listener's when we may be passive; 9 when only active (RFC 4145). */
    port: number;
    /** Our MSRP URI(s): a=path. */
    path: string | string[];
    /** a=setup; default `actpass` (RFC 6135 4.1 lets the answerer choose). */
    setup?: MsrpSetup;
    maxSize?: number;
  };
  callId: string;
  fromTag: string;
  /** Default 1. */
  cseq?: number;
  /** Further headers (e.g. P-Asserted-Identity of the server, Route); they win over the built ones. */
  headers?: SipHeaders;
}

/**
 * The initial INVITE of 12.2.2.2 step 2: Request-URI and To the user,
 * `Accept-Contact: *;+g.oma.sip-im` (RFC 3841), User-Agent, Allow, Contact
 * with `+g.oma.sip-im` and `automata` (RFC 3840), `Session-Expires` with
 * `refresher=uac`, `Supported: timer` and Min-SE (RFC 4028), and an SDP offer
 * (RFC 3264) of `m=message <port> TCP/MSRP *` with `a=sendonly` on the media,
 * `a=accept-types:message/cpim` (each message keeps its original sender and
 * time inside), `a=path` and `a=setup`. Via is left empty for the endpoint.
 * Throws an Error for parameters that cannot make such a request.
 */
export function buildDeliveryInvite(p: DeliveryInviteParams): SipRequest {
  for (const [name, value] of [['user', p.user], ['server', p.server], ['contact', p.contact]] as const) {
    if (!/^(sips?|tel):[^\s<>"]+$/i.test(value ?? '')) throw new Error(`delivery INVITE: ${name} ${JSON.stringify(value)} is not a SIP or tel URI`);
  }
  if (!p.callId || /[\s]/.test(p.callId)) throw new Error('delivery INVITE: a Call-ID is needed');
  if (!p.fromTag || /[\s;]/.test(p.fromTag)) throw new Error('delivery INVITE: a From tag is needed');
  const minSE = Math.max(MIN_SESSION_EXPIRES, p.minSE ?? MIN_SESSION_EXPIRES);
  const interval = p.sessionExpires ?? DEFAULT_DELIVERY_SESSION_EXPIRES;
  if (!Number.isInteger(interval) || interval < minSE) throw new Error(`delivery INVITE: Session-Expires ${interval} is below Min-SE ${minSE} (RFC 4028 4)`);
  const sdp = buildMsrpOffer({
    address: p.media.address,
    port: p.media.port,
    path: p.media.path,
    setup: p.media.setup ?? 'actpass',
    acceptTypes: [CPIM_CONTENT_TYPE],
    direction: 'sendonly',
    maxSize: p.media.maxSize,
  });
  const from: NameAddr = { uri: p.server, params: { tag: p.fromTag } };
  if (p.serverName) from.name = quote(p.serverName.replace(/[\r\n]/g, ' '));
  const headers: SipRequest['headers'] = {
    via: [],
    to: { uri: p.user, params: {} },
    from,
    'call-id': p.callId,
    cseq: { seq: p.cseq ?? 1, method: 'INVITE' },
    contact: [{ uri: p.contact, params: { [IM_FEATURE_TAG]: null, automata: null } }],
    'accept-contact': `*;${IM_FEATURE_TAG}`,
    'user-agent': p.userAgent ?? IM_SERVER_USER_AGENT,
    allow: (p.allow ?? DELIVERY_ALLOW).join(', '),
    supported: 'timer',
    'session-expires': `${interval};refresher=uac`,
    'min-se': String(minSE),
    'content-type': 'application/sdp',
    ...p.headers,
  };
  return { method: 'INVITE', uri: p.user, version: '2.0', headers, content: sdp };
}
