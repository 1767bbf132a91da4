// Dialog state (RFC 3261 12) shared by every dialog-forming procedure:
// SUBSCRIBE (with RFC 6665's NOTIFY-before-200), INVITE later.
import { contactOf } from './contact';
import type { NameAddr, SipRequest, SipResponse } from './message';
import { parseUri } from './uri';

export interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** URI of the From header of our requests. */
  localUri: string;
  /** URI of the To header of our requests. */
  remoteUri: string;
  localSeq: number;
  /** Highest CSeq seen from the peer; undefined until its first request. */
  remoteSeq?: number;
  /** Contact of the peer: where in-dialog requests go. */
  remoteTarget: string;
  /** Route set, in the order the Route header will list it. */
  routeSet: NameAddr[];
}

function copyRoutes(list: NameAddr[] | undefined): NameAddr[] {
  return (list ?? []).map((r) => ({ name: r.name, uri: r.uri, params: { ...r.params } }));
}

/** UAC side from a 2xx (or 1xx with tag) to our request (12.1.2): route set is Record-Route reversed. */
export function dialogAsUac(req: SipRequest, res: SipResponse): Dialog | undefined {
  const remoteTag = res.headers.to.params.tag;
  const localTag = req.headers.from.params.tag;
  const target = contactOf(res);
  if (!remoteTag || !localTag || !target) return undefined;
  return {
    callId: req.headers['call-id'],
    localTag: String(localTag),
    remoteTag: String(remoteTag),
    localUri: req.headers.from.uri,
    remoteUri: req.headers.to.uri,
    localSeq: req.headers.cseq.seq,
    remoteTarget: target,
    routeSet: copyRoutes(res.headers['record-route']).reverse(),
  };
}

/**
 * UAS side from a request that creates the dialog (12.1.1), also the
 * subscriber's view of a NOTIFY that arrives before the 200 to SUBSCRIBE
 * (RFC 6665 4.1.2.4): route set is Record-Route in order.
 */
export function dialogAsUas(req: SipRequest, localTag: string, localSeq = 0): Dialog | undefined {
  const remoteTag = req.headers.from.params.tag;
  const target = contactOf(req);
  if (!remoteTag || !target) return undefined;
  return {
    callId: req.headers['call-id'],
    localTag,
    remoteTag: String(remoteTag),
    localUri: req.headers.to.uri,
    remoteUri: req.headers.from.uri,
    localSeq,
    remoteSeq: req.headers.cseq.seq,
    remoteTarget: target,
    routeSet: copyRoutes(req.headers['record-route']),
  };
}

/** A request within the dialog (12.2.1.1), with loose or strict routing as the route set says. */
export function inDialogRequest(d: Dialog, method: string): SipRequest {
  d.localSeq += 1;
  let uri = d.remoteTarget;
  let route = d.routeSet.map((r) => ({ ...r, params: { ...r.params } }));
  const first = route[0];
  if (first && !('lr' in (parseUri(first.uri)?.params ?? {}))) {
    // Strict router: it takes the Request-URI, our target goes last (12.2.1.1).
    uri = first.uri;
    route = [...route.slice(1), { uri: d.remoteTarget, params: {} }];
  }
  const req: SipRequest = {
    method,
    uri,
    version: '2.0',
    headers: {
      via: [],
      to: { uri: d.remoteUri, params: { tag: d.remoteTag } },
      from: { uri: d.localUri, params: { tag: d.localTag } },
      'call-id': d.callId,
      cseq: { seq: d.localSeq, method },
    },
  };
  if (route.length) req.headers.route = route;
  return req;
}

/**
 * RFC 3261 12.2.2: a request with a CSeq lower than the last one from the peer
 * is out of order (answer 500). Updates the remembered CSeq otherwise.
 */
export function acceptRemoteSeq(d: Dialog, req: SipRequest): boolean {
  const seq = req.headers.cseq.seq;
  if (d.remoteSeq !== undefined && seq <= d.remoteSeq) return false;
  d.remoteSeq = seq;
  return true;
}

/** Target refresh (12.2): a new Contact in a request or response moves the remote target. */
export function refreshTarget(d: Dialog, m: SipRequest | SipResponse): void {
  const c = contactOf(m);
  if (c) d.remoteTarget = c;
}
