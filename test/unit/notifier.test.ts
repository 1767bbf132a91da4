// The generic RFC 6665 notifier alone: a user agent whose NOTIFYs wait for the
// test to answer them, SUBSCRIBEs handed in as the endpoint would, a fake clock.
import assert from 'node:assert/strict';
import type { IncomingRequest, RequestResult } from '../../lib/sip/endpoint';
import { DialogRouter } from '../../lib/sip/dialog-router';
import { headerText, type SipRequest, type SipResponse } from '../../lib/sip/message';
import { makeResponse, type ResponseOptions } from '../../lib/sip/responses';
import type { UserAgent } from '../../lib/sip/user-agent';
import { Notifier, type NotifierOptions, type NotifierSubscription, type SubscriptionReport } from '../../lib/subscription/notifier';
import { FakeScheduler } from '../support/fake-scheduler';

interface Sent {
  req: SipRequest;
  answer(status: number): void;
}

/** A user agent whose requests stay in flight until the test answers them. */
class HeldUa implements UserAgent {
  readonly sent: Sent[] = [];
  readonly protocol = 'udp' as const;
  readonly dialogs = new DialogRouter();

  request(req: SipRequest): Promise<RequestResult> {
    return new Promise((resolve) => {
      this.sent.push({
        req,
        answer: (status) =>
          resolve({ response: makeResponse(req, status, { toTag: 'w' }), requestWire: '', peer: { protocol: 'udp', address: '127.0.0.1', port: 5070 } }),
      });
    });
  }

  contactUri(): string {
    return 'sip:notifier@127.0.0.1:5099';
  }

  newCallId(): string {
    return 'c@x';
  }

  newTag(): string {
    return 't';
  }
}

interface Answered extends IncomingRequest {
  readonly answers: SipResponse[];
}

let tagSeq = 0;

/** An incoming request as the endpoint hands it to a handler. */
function incoming(message: SipRequest): Answered {
  const answers: SipResponse[] = [];
  const toTag = `n${++tagSeq}`;
  return {
    message,
    wire: '',
    peer: { protocol: 'udp', address: '127.0.0.1', port: 5070 },
    toTag,
    answers,
    get responded() {
      return answers.some((a) => a.status >= 200);
    },
    respond(status: number, opts: ResponseOptions = {}) {
      answers.push(makeResponse(message, status, { toTag, ...opts }));
    },
    respondUntilAck(status: number, opts: ResponseOptions) {
      answers.push(makeResponse(message, status, { toTag, ...opts }));
    },
    relay(res: SipResponse) {
      answers.push(res);
    },
  };
}

function subscribe(o: { callId?: string; from?: string; expires?: number; event?: string; seq?: number } = {}): SipRequest {
  const headers: SipRequest['headers'] = {
    via: [{ protocol: 'UDP', host: '127.0.0.1', port: 5070, params: { branch: `z9hG4bK${++tagSeq}` } }],
    to: { uri: 'sip:alice@lab.test', params: {} },
    from: { uri: o.from ?? 'sip:bob@lab.test', params: { tag: 'sub1' } },
    'call-id': o.callId ?? 'call-1',
    cseq: { seq: o.seq ?? 1, method: 'SUBSCRIBE' },
    contact: [{ uri: 'sip:bob@127.0.0.1:5070', params: {} }],
    'record-route': [{ uri: 'sip:core.lab.test;lr', params: {} }],
    event: o.event ?? 'test-package',
  };
  if (o.expires !== undefined) headers.expires = String(o.expires);
  return { method: 'SUBSCRIBE', uri: 'sip:alice@lab.test', version: '2.0', headers };
}

/** A SUBSCRIBE inside the dialog of `sub` (refresh or un-SUBSCRIBE). */
function inDialog(sub: NotifierSubscription<unknown>, expires: number, seq: number, method = 'SUBSCRIBE'): SipRequest {
  const r = subscribe({ callId: sub.dialog.callId, expires, seq });
  r.method = method;
  r.headers.cseq = { seq, method };
  r.headers.to = { uri: 'sip:alice@lab.test', params: { tag: sub.dialog.localTag } };
  return r;
}

const flush = () => new Promise((r) => setImmediate(r));

function setup(extra: Partial<NotifierOptions> = {}) {
  const clock = new FakeScheduler();
  const ua = new HeldUa();
  const bodies: { resource: string; full: boolean; n: number }[] = [];
  let version = 0;
  const notifier = new Notifier<{ watcherNote: string }>(
    ua,
    { event: 'test-package', contentType: 'application/test+xml', scheduler: clock, minExpires: 60, maxExpires: 600, ...extra },
    (sub, full) => {
      bodies.push({ resource: sub.resource, full, n: version });
      return `<doc v="${version++}" full="${full}"/>`;
    },
  );
  const reports: SubscriptionReport[] = [];
  notifier.onReport = (r) => reports.push(r);
  const take = (o: Parameters<typeof subscribe>[0] = {}, watcher = 'sip:bob@lab.test') => {
    const req = incoming(subscribe(o));
    const sub = notifier.subscribe(req, { resource: 'sip:alice@lab.test', watcher, state: { watcherNote: watcher } });
    return { req, sub };
  };
  /** Hands an in-dialog request to the dialog router as the endpoint does; false when no dialog took it. */
  const route = (r: SipRequest): Answered | undefined => {
    const req = incoming(r);
    return ua.dialogs.handle(req) ? req : undefined;
  };
  return { clock, ua, notifier, bodies, reports, take, route };
}

const state = (s: Sent | undefined) => (s ? headerText(s.req, 'subscription-state') : undefined);

describe('RFC 6665 notifier (generic)', () => {
  it('answers 200 with the granted Expires and sends full state through the route set to the Contact', async () => {
    const t = setup();
    const { req, sub } = t.take({ expires: 7200 });
    assert.ok(sub);
    assert.equal(req.answers[0]?.status, 200);
    assert.equal(headerText(req.answers[0]!, 'expires'), '600', 'clamped to maxExpires');
    assert.equal(t.ua.sent.length, 1);
    const n = t.ua.sent[0]!.req;
    assert.equal(n.method, 'NOTIFY');
    assert.equal(n.uri, 'sip:bob@127.0.0.1:5070');
    assert.deepEqual(n.headers.route?.map((r) => r.uri), ['sip:core.lab.test;lr']);
    assert.equal(n.headers.to.params.tag, 'sub1');
    assert.equal(n.headers.from.params.tag, req.toTag);
    assert.equal(headerText(n, 'event'), 'test-package');
    assert.equal(headerText(n, 'content-type'), 'application/test+xml');
    assert.equal(state(t.ua.sent[0]), 'active;expires=600');
    assert.equal(n.content, '<doc v="0" full="true"/>');
    assert.equal(t.notifier.size, 1);
    assert.deepEqual(t.reports.map((r) => r.event), ['subscribed']);
  });

  it('uses the default Expires when the SUBSCRIBE names none, and 423 with Min-Expires below the minimum', () => {
    const t = setup({ defaultExpires: 300 });
    const a = t.take();
    assert.equal(headerText(a.req.answers[0]!, 'expires'), '300');
    const b = t.take({ callId: 'call-2', expires: 10 });
    assert.equal(b.sub, undefined);
    assert.equal(b.req.answers[0]?.status, 423);
    assert.equal(headerText(b.req.answers[0]!, 'min-expires'), '60');
    assert.equal(t.notifier.size, 1);
  });

  it('echoes the id of the Event header in every NOTIFY (RFC 6665 8.2.1)', () => {
    const t = setup();
    t.take({ event: 'test-package;id=42', expires: 600 });
    assert.equal(headerText(t.ua.sent[0]!.req, 'event'), 'test-package;id=42');
  });

  it('keeps one NOTIFY in flight per dialog and coalesces the changes behind it into one', async () => {
    const t = setup();
    t.take({ expires: 600 });
    t.notifier.changed('sip:alice@lab.test');
    t.notifier.changed('sip:alice@lab.test');
    t.notifier.changed('sip:alice@lab.test');
    assert.equal(t.ua.sent.length, 1, 'nothing else leaves while the first NOTIFY is unanswered');
    t.ua.sent[0]!.answer(200);
    await flush();
    assert.equal(t.ua.sent.length, 2);
    assert.equal(t.ua.sent[1]!.req.content, '<doc v="1" full="false"/>');
    assert.ok(t.ua.sent[1]!.req.headers.cseq.seq > t.ua.sent[0]!.req.headers.cseq.seq);
    t.ua.sent[1]!.answer(200);
    await flush();
    assert.equal(t.ua.sent.length, 2, 'three changes made one NOTIFY');
    assert.equal(t.bodies.length, 2);
    t.notifier.changed('sip:bob@lab.test');
    assert.equal(t.ua.sent.length, 2, 'other resources do not concern this watcher');
  });

  it('refreshes inside the dialog with full state and a new expiry, then ends on expiry with reason timeout', async () => {
    const t = setup();
    const { sub } = t.take({ expires: 120 });
    t.ua.sent[0]!.answer(200);
    t.clock.advance(100_000);
    const refresh = t.route(inDialog(sub!, 300, 2));
    assert.ok(refresh);
    assert.equal(refresh.answers[0]?.status, 200);
    assert.equal(headerText(refresh.answers[0]!, 'expires'), '300');
    await flush();
    assert.equal(t.ua.sent.length, 2);
    assert.equal(state(t.ua.sent[1]), 'active;expires=300');
    assert.equal(t.ua.sent[1]!.req.content, '<doc v="1" full="true"/>');
    t.ua.sent[1]!.answer(200);
    await flush();
    t.clock.advance(299_000);
    assert.equal(t.notifier.size, 1, 'the refresh moved the expiry');
    t.clock.advance(1_000);
    assert.equal(t.notifier.size, 0);
    assert.equal(state(t.ua.sent[2]), 'terminated;reason=timeout');
    assert.equal(t.ua.sent[2]!.req.content, '<doc v="2" full="true"/>');
    assert.deepEqual(t.reports.map((r) => `${r.event}${r.reason ? ':' + r.reason : ''}`), ['subscribed', 'refreshed', 'terminated:timeout']);
    assert.equal(t.route(inDialog(sub!, 300, 3)), undefined, 'the dialog is gone: the endpoint answers 481');
  });

  it('answers an un-SUBSCRIBE with 200 and a final NOTIFY that waits for the one in flight', async () => {
    const t = setup();
    const { sub } = t.take({ expires: 600 });
    const un = t.route(inDialog(sub!, 0, 2));
    assert.equal(un?.answers[0]?.status, 200);
    assert.equal(t.notifier.size, 0);
    assert.equal(t.ua.sent.length, 1, 'the final NOTIFY waits');
    t.notifier.changed('sip:alice@lab.test');
    t.ua.sent[0]!.answer(200);
    await flush();
    assert.equal(t.ua.sent.length, 2);
    assert.equal(state(t.ua.sent[1]), 'terminated;reason=timeout');
    t.ua.sent[1]!.answer(200);
    await flush();
    assert.equal(t.ua.sent.length, 2, 'nothing after the final NOTIFY');
    assert.equal(t.clock.pending, 0, 'no timer left behind');
  });

  it('refuses out-of-order CSeq with 500 and other methods in the dialog with 405', () => {
    const t = setup();
    const { sub } = t.take({ expires: 600, seq: 5 });
    assert.equal(t.route(inDialog(sub!, 600, 5))?.answers[0]?.status, 500);
    const other = t.route(inDialog(sub!, 600, 6, 'INFO'));
    assert.equal(other?.answers[0]?.status, 405);
    assert.equal(headerText(other!.answers[0]!, 'allow'), 'SUBSCRIBE');
    assert.equal(t.notifier.size, 1);
  });

  for (const status of [481, 408]) {
    it(`ends the subscription when a NOTIFY gets ${status}`, async () => {
      const t = setup();
      t.take({ expires: 600 });
      t.ua.sent[0]!.answer(status);
      await flush();
      assert.equal(t.notifier.size, 0);
      assert.equal(t.clock.pending, 0);
      assert.deepEqual(t.reports.at(-1), {
        resource: 'sip:alice@lab.test',
        watcher: 'sip:bob@lab.test',
        subscriber: 'sip:bob@lab.test',
        event: 'terminated',
        reason: `NOTIFY got ${status}`,
      });
      t.notifier.changed('sip:alice@lab.test');
      assert.equal(t.ua.sent.length, 1, 'no NOTIFY to a gone subscriber');
    });
  }

  it('drops a change that was waiting when the subscriber answers 481', async () => {
    const t = setup();
    t.take({ expires: 600 });
    t.notifier.changed('sip:alice@lab.test');
    t.ua.sent[0]!.answer(481);
    await flush();
    assert.equal(t.ua.sent.length, 1);
  });

  it('answers a fetch (Expires 0) with one terminated NOTIFY and keeps no subscription', () => {
    const t = setup();
    const { req, sub } = t.take({ expires: 0 });
    assert.equal(sub, undefined);
    assert.equal(req.answers[0]?.status, 200);
    assert.equal(state(t.ua.sent[0]), 'terminated;reason=timeout');
    assert.equal(t.notifier.size, 0);
    assert.equal(t.clock.pending, 0);
  });

  it('caps subscriptions per watcher with 403 and in total with 503 and Retry-After', async () => {
    const t = setup({ maxPerWatcher: 2, maxTotal: 3, retryAfter: 120 });
    assert.ok(t.take({ callId: 'a', expires: 600 }).sub);
    const second = t.take({ callId: 'b', expires: 600 }).sub;
    assert.ok(second);
    const third = t.take({ callId: 'c', expires: 600 });
    assert.equal(third.req.answers[0]?.status, 403);
    assert.equal(t.notifier.size, 2);
    assert.equal(t.ua.sent.length, 2, 'no NOTIFY for a refused SUBSCRIBE');
    assert.ok(t.take({ callId: 'd', expires: 600 }, 'sip:carol@lab.test').sub, 'another watcher is still welcome');
    const full = t.take({ callId: 'e', expires: 600 }, 'sip:dave@lab.test');
    assert.equal(full.req.answers[0]?.status, 503);
    assert.equal(headerText(full.req.answers[0]!, 'retry-after'), '120');
    assert.equal(t.take({ callId: 'f', expires: 0 }, 'sip:dave@lab.test').req.answers[0]?.status, 200, 'a fetch holds nothing');
    t.notifier.end(second, 'noresource');
    assert.equal(t.notifier.size, 2);
    assert.ok(t.take({ callId: 'g', expires: 600 }).sub, 'room again once one of bob’s ended');
  });

  it('ends every subscription with reason deactivated on close', async () => {
    const t = setup();
    t.take({ callId: 'a', expires: 600 });
    t.take({ callId: 'b', expires: 600 }, 'sip:carol@lab.test');
    for (const s of t.ua.sent) s.answer(200);
    await flush();
    t.notifier.close();
    assert.equal(t.notifier.size, 0);
    assert.deepEqual(t.ua.sent.slice(2).map(state), ['terminated;reason=deactivated', 'terminated;reason=deactivated']);
    assert.equal(t.clock.pending, 0);
  });

  it('drops a subscription whose body cannot be built, without throwing', () => {
    const clock = new FakeScheduler();
    const ua = new HeldUa();
    const n = new Notifier<null>(ua, { event: 'x', contentType: 'text/plain', scheduler: clock }, () => {
      throw new Error('broken package');
    });
    const reports: SubscriptionReport[] = [];
    n.onReport = (r) => reports.push(r);
    n.subscribe(incoming(subscribe({ expires: 600, event: 'x' })), { resource: 'r', watcher: 'w', state: null });
    assert.equal(n.size, 0);
    assert.equal(ua.sent.length, 0);
    assert.equal(reports.at(-1)?.reason, 'body failed');
  });
});
