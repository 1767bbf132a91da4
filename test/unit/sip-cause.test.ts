// msg.sip is never missing: a subscription change caused by a NOTIFY (one may come
// before the 200 to SUBSCRIBE) carries that NOTIFY; one no message caused says it is local.
import assert from 'node:assert/strict';
import { decode } from '../../lib/sip/codec';
import type { SipRequest } from '../../lib/sip/message';
import type { IncomingRequest } from '../../lib/sip/endpoint';
import type { NotifyEvent, SubscriptionChange } from '../../lib/subscription/subscriber';
import { changeCause, requestCause } from '../../nodes/common/sip-cause';

const NOTIFY_WIRE = [
  'NOTIFY sip:alice@127.0.0.1:5062 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1',
  'From: <sip:alice@lab.test>;tag=core1',
  'To: <sip:alice@lab.test>;tag=ua1',
  'Call-ID: sub-1@127.0.0.1',
  'CSeq: 1 NOTIFY',
  'Event: reg',
  'Subscription-State: active;expires=600',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

function incoming(): IncomingRequest {
  const message = decode(NOTIFY_WIRE) as SipRequest;
  assert.ok(message);
  return { message, wire: NOTIFY_WIRE } as unknown as IncomingRequest;
}

describe('msg.sip for events no exchange of ours caused', () => {
  it('a subscription made active by a NOTIFY before the 200 carries that NOTIFY', () => {
    const notify = { request: incoming(), state: 'active', body: '', first: true } as NotifyEvent;
    const sip = changeCause({ state: 'active', previous: 'subscribing', exchanges: [], notify } satisfies SubscriptionChange) as { method: string; raw: string };
    assert.equal(sip.method, 'NOTIFY');
    assert.equal(sip.raw, NOTIFY_WIRE);
  });

  it('a change no message caused says so, with the reason', () => {
    assert.deepEqual(changeCause({ state: 'terminated', previous: 'subscribing', reason: 'unsubscribed', exchanges: [] }), { local: true, reason: 'unsubscribed' });
    assert.deepEqual(requestCause(undefined, 'expired'), { local: true, reason: 'expired' });
    assert.equal((requestCause(incoming(), 'expired') as { raw: string }).raw, NOTIFY_WIRE);
  });
});
