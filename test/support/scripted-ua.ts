// A UserAgent whose peer is a function: unit tests of procedures script the
// core's answers and look at every request the procedure sent.
import { decode, encode } from '../../lib/sip/codec';
import type { RequestResult } from '../../lib/sip/endpoint';
import type { SipRequest, SipResponse } from '../../lib/sip/message';
import { makeResponse, type ResponseOptions } from '../../lib/sip/responses';
import type { UserAgent } from '../../lib/sip/user-agent';
import { DialogRouter } from '../../lib/sip/dialog-router';

export interface ScriptedAnswer extends ResponseOptions {
  status: number;
}

export class ScriptedUa implements UserAgent {
  readonly sent: SipRequest[] = [];
  readonly protocol = 'udp' as const;
  readonly dialogs = new DialogRouter();
  private n = 0;

  constructor(public peer: (req: SipRequest, index: number) => ScriptedAnswer) {}

  async request(req: SipRequest): Promise<RequestResult> {
    // Through the codec and back, so the test sees what a real peer would parse.
    req.headers.via = [{ protocol: 'UDP', host: '127.0.0.1', port: 5099, params: { branch: 'z9hG4bKtest' + this.n } }];
    const requestWire = encode(req);
    const copy = decode(requestWire) as SipRequest;
    this.sent.push(copy);
    const a = this.peer(copy, this.n++);
    const local = a.status === 408 && a.reason === 'Request Timeout';
    const responseWire = encode(makeResponse(copy, a.status, { toTag: 'core', ...a }));
    const response = decode(responseWire) as SipResponse;
    return { response, responseWire: local ? undefined : responseWire, requestWire, peer: { protocol: 'udp', address: '127.0.0.1', port: 5060 } };
  }

  contactUri(user?: string): string {
    return `sip:${user ? user + '@' : ''}127.0.0.1:5099`;
  }

  newCallId(): string {
    return 'call-1@127.0.0.1';
  }

  newTag(): string {
    return 'tag1';
  }
}
