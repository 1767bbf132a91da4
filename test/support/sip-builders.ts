// Small request builders for tests of the SIP layer.
import type { SipRequest } from '../../lib/sip/message';
import type { SipEndpoint } from '../../lib/sip/endpoint';

export function optionsTo(ep: SipEndpoint, targetUri: string, body?: string): SipRequest {
  const req: SipRequest = {
    method: 'OPTIONS',
    uri: targetUri,
    version: '2.0',
    headers: {
      via: [],
      to: { uri: targetUri, params: {} },
      from: { uri: `sip:tester@${ep.hostPort}`, params: { tag: ep.newTag() } },
      'call-id': ep.newCallId(),
      cseq: { seq: 1, method: 'OPTIONS' },
    },
  };
  if (body !== undefined) {
    req.headers['content-type'] = 'text/plain;charset=utf-8';
    req.content = body;
  }
  return req;
}

/** A third-party REGISTER as a core sends it to an application server (TS 24.229 5.4.1.7). */
export function thirdPartyRegister(from: SipEndpoint, serverUri: string, user: string, expires: string, body?: { type: string; text: string }): SipRequest {
  const req: SipRequest = {
    method: 'REGISTER',
    uri: serverUri,
    version: '2.0',
    headers: {
      via: [],
      to: { uri: `sip:${user}@lab.test`, params: {} },
      from: { uri: from.contactUri(), params: { tag: from.newTag() } },
      'call-id': from.newCallId(),
      cseq: { seq: 10, method: 'REGISTER' },
      contact: [{ uri: from.contactUri(), params: {} }],
      expires,
    },
  };
  if (body) {
    req.headers['content-type'] = body.type;
    req.content = body.text;
  }
  return req;
}

/** A pager-mode MESSAGE from alice (or `from`) to `to` (a fresh Call-ID and tag each call). */
export function aliceMessageTo(ep: SipEndpoint, to: string, body: string, from = 'sip:alice@lab.test'): SipRequest {
  return pagerMessage(ep, from, to, body);
}

/** A pager-mode MESSAGE (RFC 3428) of text from `from` to `to`, with a fresh Call-ID and tag. */
export function pagerMessage(ep: SipEndpoint, from: string, to: string, body: string): SipRequest {
  return {
    method: 'MESSAGE',
    uri: to,
    version: '2.0',
    headers: {
      via: [],
      to: { uri: to, params: {} },
      from: { uri: from, params: { tag: ep.newTag() } },
      'call-id': ep.newCallId(),
      cseq: { seq: 1, method: 'MESSAGE' },
      'content-type': 'text/plain',
    },
    content: body,
  };
}
