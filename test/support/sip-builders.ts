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
