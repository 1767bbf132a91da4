// The dialog layer alone (RFC 3261 12).
import assert from 'node:assert/strict';
import { acceptRemoteSeq, dialogAsUac, dialogAsUas, inDialogRequest, refreshTarget } from '../../lib/sip/dialog';
import { DialogRouter } from '../../lib/sip/dialog-router';
import type { IncomingRequest } from '../../lib/sip/endpoint';
import type { SipRequest, SipResponse } from '../../lib/sip/message';

function subscribe(): SipRequest {
  return {
    method: 'SUBSCRIBE',
    uri: 'sip:alice@lab.test',
    version: '2.0',
    headers: {
      via: [{ protocol: 'UDP', host: '10.0.0.1', port: 5060, params: { branch: 'z9hG4bK1' } }],
      to: { uri: 'sip:alice@lab.test', params: {} },
      from: { uri: 'sip:server@lab.test', params: { tag: 'ours' } },
      'call-id': 'c1',
      cseq: { seq: 7, method: 'SUBSCRIBE' },
      contact: [{ uri: 'sip:server@10.0.0.1:5070', params: {} }],
    },
  };
}

function ok(req: SipRequest, recordRoute: string[]): SipResponse {
  return {
    status: 200,
    reason: 'OK',
    headers: {
      via: req.headers.via,
      to: { ...req.headers.to, params: { tag: 'theirs' } },
      from: req.headers.from,
      'call-id': req.headers['call-id'],
      cseq: req.headers.cseq,
      contact: [{ uri: 'sip:notifier@10.0.0.9:5060', params: {} }],
      'record-route': recordRoute.map((uri) => ({ uri, params: {} })),
    },
  };
}

describe('dialog layer (RFC 3261 12)', () => {
  it('as UAC takes the route set from Record-Route in reverse and the target from Contact', () => {
    const req = subscribe();
    const d = dialogAsUac(req, ok(req, ['sip:p2.lab.test;lr', 'sip:p1.lab.test;lr']))!;
    assert.equal(d.remoteTag, 'theirs');
    assert.equal(d.localTag, 'ours');
    assert.deepEqual(d.routeSet.map((r) => r.uri), ['sip:p1.lab.test;lr', 'sip:p2.lab.test;lr']);
    const next = inDialogRequest(d, 'SUBSCRIBE');
    assert.equal(next.uri, 'sip:notifier@10.0.0.9:5060');
    assert.equal(next.headers.cseq.seq, 8, 'CSeq grows by one');
    assert.equal(next.headers.to.params.tag, 'theirs');
    assert.equal(next.headers.from.params.tag, 'ours');
    assert.deepEqual(next.headers.route!.map((r) => r.uri), ['sip:p1.lab.test;lr', 'sip:p2.lab.test;lr']);
  });

  it('as UAS (or for a NOTIFY before the 200) keeps Record-Route in order', () => {
    const notify: SipRequest = {
      ...subscribe(),
      method: 'NOTIFY',
      uri: 'sip:server@10.0.0.1:5070',
      headers: {
        ...subscribe().headers,
        from: { uri: 'sip:alice@lab.test', params: { tag: 'theirs' } },
        to: { uri: 'sip:server@lab.test', params: { tag: 'ours' } },
        cseq: { seq: 1, method: 'NOTIFY' },
        contact: [{ uri: 'sip:notifier@10.0.0.9:5060', params: {} }],
        'record-route': [{ uri: 'sip:p1.lab.test;lr', params: {} }, { uri: 'sip:p2.lab.test;lr', params: {} }],
      },
    };
    const d = dialogAsUas(notify, 'ours', 7)!;
    assert.deepEqual(d.routeSet.map((r) => r.uri), ['sip:p1.lab.test;lr', 'sip:p2.lab.test;lr']);
    assert.equal(d.remoteSeq, 1);
    assert.equal(inDialogRequest(d, 'SUBSCRIBE').headers.cseq.seq, 8);
  });

  it('sends to a strict router with our target moved to the end of Route', () => {
    const req = subscribe();
    const d = dialogAsUac(req, ok(req, ['sip:strict.lab.test']))!;
    const next = inDialogRequest(d, 'SUBSCRIBE');
    assert.equal(next.uri, 'sip:strict.lab.test');
    assert.deepEqual(next.headers.route!.map((r) => r.uri), ['sip:notifier@10.0.0.9:5060']);
  });

  it('refuses a request with a CSeq not above the last one, and follows a target refresh', () => {
    const req = subscribe();
    const d = dialogAsUac(req, ok(req, []))!;
    const n = (seq: number): SipRequest => ({ ...req, method: 'NOTIFY', headers: { ...req.headers, cseq: { seq, method: 'NOTIFY' }, contact: [{ uri: `sip:n@10.0.0.${seq}`, params: {} }] } });
    assert.equal(acceptRemoteSeq(d, n(5)), true);
    assert.equal(acceptRemoteSeq(d, n(5)), false, 'a repeat');
    assert.equal(acceptRemoteSeq(d, n(4)), false, 'older');
    assert.equal(acceptRemoteSeq(d, n(6)), true);
    refreshTarget(d, n(6));
    assert.equal(d.remoteTarget, 'sip:n@10.0.0.6');
  });

  it('routes in-dialog requests by Call-ID and our tag only, whatever the To URI says', () => {
    const router = new DialogRouter();
    const got: string[] = [];
    const off = router.register('c1', 'ours', (r) => got.push(r.message.method));
    const incoming = (callId: string, tag: string | undefined, toUri: string) =>
      ({ message: { method: 'NOTIFY', headers: { 'call-id': callId, to: { uri: toUri, params: tag ? { tag } : {} } } } }) as unknown as IncomingRequest;
    assert.equal(router.handle(incoming('c1', 'ours', 'sip:server@10.0.0.1')), true, 'Kamailio drops the port from To');
    assert.equal(router.handle(incoming('c1', 'other', 'sip:server@10.0.0.1:5070')), false);
    assert.equal(router.handle(incoming('c2', 'ours', 'sip:server@10.0.0.1:5070')), false);
    assert.equal(router.handle(incoming('c1', undefined, 'sip:server@10.0.0.1:5070')), false, 'no To tag: not in a dialog');
    off();
    assert.equal(router.handle(incoming('c1', 'ours', 'sip:server@10.0.0.1')), false);
    assert.deepEqual(got, ['NOTIFY']);
  });
});
