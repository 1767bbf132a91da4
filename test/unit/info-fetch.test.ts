// The client's fetch of deferred-message info (seed 004 7.2.6.1) against a
// scripted server over loopback: one SUBSCRIBE with Expires 0 and its one
// NOTIFY; a server that is not ready yet (503 with Retry-After, as the deliver
// node answers while it reads its store) is asked again; a final refusal ends
// the fetch at once.
import assert from 'node:assert/strict';
import { InfoFetch } from '../../lib/deferred/info-fetch';
import { DEFERRED_LIST_CONTENT_TYPE } from '../../lib/deferred/history-list';
import { dialogAsUas } from '../../lib/sip/dialog';
import type { IncomingRequest, SipEndpoint } from '../../lib/sip/endpoint';
import { headerText } from '../../lib/sip/message';
import { sendNotify, useClosers } from '../support/loopback';

const AOR = 'sip:alice@lab.test';
const EVENT = 'deferred-messages';
const LIST = '<?xml version="1.0"?><history-list xmlns="urn:oma:xml:im:history-list"/>';

describe('InfoFetch (deferred-message info, Expires 0)', function () {
  this.timeout(20000);
  const { endpoint } = useClosers();

  /** A server that answers each SUBSCRIBE as `answer` says: a status (and Retry-After), or 200 and the list. */
  async function server(answer: (n: number) => { status: number; retryAfter?: number; notify?: boolean }) {
    const ep = await endpoint();
    const subscribes: IncomingRequest[] = [];
    ep.addHandler((req) => {
      if (req.message.method !== 'SUBSCRIBE') return false;
      const a = answer(subscribes.length);
      subscribes.push(req);
      if (a.status !== 200) {
        req.respond(a.status, a.retryAfter === undefined ? {} : { headers: { 'retry-after': String(a.retryAfter) } });
        return true;
      }
      req.respond(200, { headers: { expires: '0' } });
      if (a.notify !== false) void sendNotify(ep, dialogAsUas(req.message, req.toTag)!, { event: EVENT, state: 'terminated;reason=timeout', body: LIST, type: DEFERRED_LIST_CONTENT_TYPE });
      return true;
    });
    return { ep, subscribes };
  }

  async function fetcher(s: { ep: SipEndpoint }) {
    const ep = await endpoint();
    return new InfoFetch(ep, { target: AOR, from: AOR, event: EVENT, accept: [DEFERRED_LIST_CONTENT_TYPE], routeSet: [`<sip:127.0.0.1:${s.ep.port};lr>`] });
  }

  it('subscribes once with Expires 0 and resolves with the NOTIFY that ends it', async () => {
    const s = await server(() => ({ status: 200 }));
    const got = await (await fetcher(s)).run();
    assert.equal(got.notify.state, 'terminated');
    assert.equal(got.notify.body, LIST);
    assert.equal(s.subscribes.length, 1);
    const sub = s.subscribes[0]!.message;
    assert.equal(headerText(sub, 'expires'), '0');
    assert.equal(headerText(sub, 'event'), EVENT);
    assert.equal(headerText(sub, 'accept'), DEFERRED_LIST_CONTENT_TYPE);
  });

  it('asks again after a 503 with Retry-After (a server still reading its store) and gets the list', async () => {
    const s = await server((n) => (n === 0 ? { status: 503, retryAfter: 1 } : { status: 200 }));
    const got = await (await fetcher(s)).run();
    assert.equal(got.notify.body, LIST);
    assert.equal(s.subscribes.length, 2, 'the refused SUBSCRIBE and the one that worked');
  });

  it('ends at once on a final refusal, saying which', async () => {
    const s = await server(() => ({ status: 489 }));
    await assert.rejects((await fetcher(s)).run(), /489/);
    assert.equal(s.subscribes.length, 1, 'not asked again');
  });

  it('gives up at its deadline, with the last refusal, and when aborted', async () => {
    const busy = await server(() => ({ status: 503, retryAfter: 60 }));
    await assert.rejects((await fetcher(busy)).run(300), /no NOTIFY \(last answer: 503/);
    const silent = await server(() => ({ status: 200, notify: false }));
    const f = await fetcher(silent);
    const pending = f.run();
    while (silent.subscribes.length === 0) await new Promise((r) => setTimeout(r, 10));
    f.abort();
    await assert.rejects(pending, /aborted/);
  });
});
