// The client side of the settings proxy tests, shared by the lab core's unit
// test and the Kamailio integration test: endpoints on loopback, alice's
// PUBLISH (with a forged identity) and her settings subscription, and the
// checks that a PUBLISH went through one proxy hop that asserted alice.
import assert from 'node:assert/strict';
import { requestWithAuth, type AuthLoopResult } from '../../lib/auth/authenticated-request';
import { DigestClient } from '../../lib/auth/digest-client';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { Subscriber, type NotifyEvent } from '../../lib/subscription/subscriber';
import { Queue } from './settings-server-fake';

export type Closers = Array<() => Promise<void> | void>;

/** A started endpoint (UDP unless told) on a free loopback port, closed by `closers`. */
export async function loopbackEndpoint(closers: Closers, outboundProxyPort?: number, transport: 'udp' | 'tcp' = 'udp'): Promise<SipEndpoint> {
  const outboundProxy = outboundProxyPort ? { host: '127.0.0.1', port: outboundProxyPort, transport } : undefined;
  const e = new SipEndpoint({ transport, address: '127.0.0.1', port: 0, outboundProxy });
  await e.start();
  closers.push(() => e.close());
  return e;
}

/** Builds one PUBLISH of poc-settings after another (same Call-ID, next CSeq). */
export function publishFrom(ep: SipEndpoint, user: string, extra: Record<string, string> = {}): () => SipRequest {
  const callId = ep.newCallId();
  const tag = ep.newTag();
  let seq = 0;
  return () => ({
    method: 'PUBLISH',
    uri: `sip:${user}@lab.test`,
    version: '2.0',
    headers: {
      via: [],
      to: { uri: `sip:${user}@lab.test`, params: {} },
      from: { uri: `sip:${user}@lab.test`, params: { tag } },
      'call-id': callId,
      cseq: { seq: ++seq, method: 'PUBLISH' },
      event: 'poc-settings',
      expires: '3600',
      'content-type': 'application/poc-settings+xml',
      ...extra,
    },
    content: '<poc-settings/>',
  });
}

/** alice publishes claiming to be bob; the core must challenge her and assert alice. */
export function forgedPublish(client: SipEndpoint): Promise<AuthLoopResult> {
  const build = publishFrom(client, 'alice', { 'p-asserted-identity': '<sip:bob@lab.test>', 'p-preferred-identity': '<sip:bob@lab.test>' });
  return requestWithAuth({ ua: client, digest: new DigestClient({ username: 'alice', password: 'alice-pw' }), build });
}

/** What the server must see of `forgedPublish`: one Via more (the core's), alice asserted, no client identity or credentials. */
export function assertProxiedPublish(got: SipRequest, out: AuthLoopResult, corePort: number): void {
  const sent = out.exchanges[out.exchanges.length - 1]!.request!;
  assert.equal(got.headers.via.length, sent.headers.via.length + 1, 'exactly one Via more than the client sent');
  assert.equal(got.headers.via[0]!.port, corePort, "the core's Via on top");
  assert.equal(got.headers.via[1]!.params.branch, sent.headers.via[0]!.params.branch, "the client's Via kept below");
  assert.equal(headerText(got, 'p-asserted-identity'), '<sip:alice@lab.test>', 'the authenticated user, not the forged bob');
  assert.equal(got.headers['p-preferred-identity'], undefined);
  assert.equal(got.headers['proxy-authorization'], undefined, "the core's credentials end at the core");
  assert.equal(got.uri, 'sip:alice@lab.test', 'the Request-URI stays the user identity');
}

/** alice's subscription to her own poc-settings, with the NOTIFYs it receives. */
export function aliceSettingsSubscriber(client: SipEndpoint, closers: Closers): { sub: Subscriber; notifies: Queue<NotifyEvent> } {
  const sub = new Subscriber(client, {
    target: 'sip:alice@lab.test',
    from: 'sip:alice@lab.test',
    event: 'poc-settings',
    accept: ['application/poc-settings+xml'],
    expires: 600,
    username: 'alice',
    password: 'alice-pw',
  });
  closers.push(() => sub.stop());
  const notifies = new Queue<NotifyEvent>();
  sub.on('notify', notifies.push);
  return { sub, notifies };
}
