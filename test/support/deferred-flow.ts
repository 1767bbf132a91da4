// The deferred-message nodes as a user wires them, shared by the lab core run
// (test/nodes) and the Kamailio run (test/integration): alice (registered only
// when told) with her IM settings publisher and inbox on the client endpoint,
// the settings server feeding the deliver node on the server endpoint; and
// bob, a plain client of the core, who writes pager MESSAGEs. The two stories
// a user lives through, with what they check, run on either core.
import assert from 'node:assert/strict';
import { requestWithAuth } from '../../lib/auth/authenticated-request';
import { DigestClient } from '../../lib/auth/digest-client';
import type { SipEndpoint } from '../../lib/sip/endpoint';
import { collected, statusOf, type Collector } from './collect';
import { labFlow, type BuiltFlow } from './lab-flow';
import type { TestNode } from './test-helper-types';
import { pagerMessage } from './sip-builders';

export const ALICE = 'sip:alice@lab.test';
export const BOB = 'sip:bob@lab.test';
/** The event package of deferred-message info, the same name in the nodes, the lab core and kamailio.cfg. */
export const INFO_EVENT = 'deferred-messages';

export interface DeferredFlowOptions {
  corePort: number;
  serverPort: number;
  /** A lab core on corePort; otherwise corePort is an external core's (Kamailio). */
  withLabCore: boolean;
  offlineDelivery: 'true' | 'false';
  transport?: 'udp' | 'tcp';
  /** The deliver node on an endpoint of its own on this port (an IM server apart from the settings server). */
  imServerPort?: number;
  /** Leave alice's inbox out (her endpoint then answers the delivery INVITE 405). */
  inbox?: boolean;
  /** Wire alice's register node to her inbox, which then fetches what waits after each registration. */
  inboxAfterRegistration?: boolean;
  /** The settings server and the deliver node keep their state in the user directory. */
  persist?: boolean;
}

/** Collect nodes: `deliver-out`, `inbox-out`, `settings-out`, `pub-out`, `out-alice`, `tpr-out`. */
export function deferredFlow(o: DeferredFlowOptions): BuiltFlow {
  const built = labFlow({
    corePort: o.corePort,
    serverPort: o.serverPort,
    withLabCore: o.withLabCore,
    transport: o.transport,
    users: [{ id: 'alice', identity: ALICE, password: 'alice-pw', enabler: 'im', registerOnStart: false }],
  });
  const { flow } = built;
  // The lab core hands the deferred-message info SUBSCRIBEs to the server too (Kamailio does by default).
  const core = flow.find((n) => n.id === 'core');
  if (core) core.settingsEvents = `poc-settings ${INFO_EVENT}`;
  const reg = flow.find((n) => n.id === 'reg-alice')!;
  (reg.wires as string[][])[0]!.push('pub');
  if (o.inboxAfterRegistration) (reg.wires as string[][])[0]!.push('inbox');
  flow.push(
    { id: 'pub', type: 'oma-publish-settings', endpoint: 'ep-client', user: 'user-alice', imOfflineDelivery: o.offlineDelivery, imIsb: 'false', wires: [['pub-out']] },
    { id: 'pub-out', type: 'collect' },
    { id: 'inbox-out', type: 'collect' },
    { id: 'settings', type: 'oma-settings-server', endpoint: 'ep-server', persist: !!o.persist, wires: [['settings-out', 'deliver']] },
    { id: 'settings-out', type: 'collect' },
    { id: 'deliver', type: 'oma-deliver-deferred', endpoint: 'ep-server', persist: !!o.persist, infoEvent: INFO_EVENT, wires: [['deliver-out']] },
    { id: 'deliver-out', type: 'collect' },
  );
  if (o.inbox !== false) flow.push({ id: 'inbox', type: 'oma-inbox', endpoint: 'ep-client', user: 'user-alice', infoEvent: INFO_EVENT, wires: [['inbox-out']] });
  if (o.imServerPort !== undefined) {
    const server = flow.find((n) => n.id === 'ep-server')!;
    flow.push({ ...server, id: 'ep-im', port: o.imServerPort });
    flow.find((n) => n.id === 'deliver')!.endpoint = 'ep-im';
  }
  return built;
}

/** bob sends alice a pager MESSAGE through his core, answering its challenge; the final status. */
export async function bobWrites(bob: SipEndpoint, body: string, displayName?: string): Promise<number> {
  const build = () => {
    const m = pagerMessage(bob, BOB, ALICE, body);
    if (displayName !== undefined) m.headers.from.name = displayName;
    return m;
  };
  const out = await requestWithAuth({ ua: bob, digest: new DigestClient({ username: 'bob', password: 'bob-pw' }), build });
  return out.result.response.status;
}

/** A loaded deferredFlow and bob on the same core. */
export interface DeferredLab {
  node(id: string): TestNode;
  bob: SipEndpoint;
  deliverOut: Collector;
  inboxOut: Collector;
  settingsOut: Collector;
}

/**
 * Offline delivery active: bob's MESSAGE for the unregistered alice is kept
 * (202); alice registers and publishes, the message reaches her inbox over
 * MSRP with bob as sender and the original time, nothing waits afterwards,
 * and bob's next MESSAGE goes straight to her. Returns the session report.
 */
export async function deliveredOnReturn(lab: DeferredLab): Promise<any> {
  const { bob, deliverOut, inboxOut } = lab;
  assert.equal(await bobWrites(bob, 'while you were away'), 202);
  const stored = await deliverOut.event('stored');
  assert.equal(stored.payload.to, ALICE);
  assert.equal(stored.payload.from, BOB, 'the sender the core asserted');
  assert.equal(stored.sip.method, 'MESSAGE');
  await statusOf(lab.node('deliver'), (s) => s.fill === 'green' && s.text === '1 waiting for 1 user', 5000, '1 waiting for 1 user');

  lab.node('reg-alice').receive({ payload: 'register' });
  const got = await inboxOut.event('message', 30000);
  assert.equal(got.payload.from, BOB, 'bob is the sender');
  assert.equal(got.payload.body, 'while you were away');
  assert.equal(got.payload.time, stored.payload.time, 'the time bob wrote it');
  assert.deepEqual(got.payload.to, [ALICE]);
  assert.equal(got.payload.via, 'msrp');

  const delivered = await deliverOut.event('delivered', 30000);
  assert.equal(delivered.payload.id, stored.payload.id);
  const session = await deliverOut.event('session', 30000);
  assert.equal(session.payload.outcome, 'delivered', JSON.stringify(session.payload));
  assert.deepEqual(session.payload.delivered, [stored.payload.id]);
  assert.equal(session.payload.remaining, 0);
  await statusOf(lab.node('deliver'), (s) => s.fill === 'green' && s.text === '0 waiting for 0 users', 5000, 'nothing waits');
  await statusOf(lab.node('inbox'), (s) => s.text === '1 message received', 5000, '1 message received');

  // Now that alice is registered, the core routes bob's next MESSAGE straight to her inbox.
  assert.equal(await bobWrites(bob, 'welcome back'), 200);
  const direct = await inboxOut.event('message', 30000);
  assert.equal(direct.payload.via, 'pager');
  assert.equal(direct.payload.from, BOB);
  assert.equal(direct.payload.body, 'welcome back');
  assert.ok(!deliverOut.received.some((m) => m.payload.event === 'stored'), 'the server keeps nothing more');
  return session;
}

/**
 * Offline delivery off: bob's MESSAGE is kept, alice registers and publishes,
 * nothing is pushed, and her inbox's fetch (SUBSCRIBE, Expires 0) lists the
 * waiting message with its sender and time, keeping the input's properties.
 * Returns the inbox's output with the list.
 */
export async function fetchedWhileOff(lab: DeferredLab): Promise<any> {
  const { bob, deliverOut, inboxOut, settingsOut } = lab;
  assert.equal(await bobWrites(bob, 'call me'), 202);
  const stored = await deliverOut.event('stored');
  lab.node('reg-alice').receive({ payload: 'register' });
  const published = await settingsOut.next((m) => m.payload.event === 'published' && m.payload.aor === ALICE, 30000, 'alice’s settings');
  assert.equal(published.payload.offlineDelivery, false);

  lab.node('inbox').receive({ payload: 'fetch', topic: 'what waits', correlation: 7 });
  const list = await inboxOut.event('waiting', 30000);
  assert.equal(list.topic, 'what waits', 'the input’s properties are kept');
  assert.equal(list.correlation, 7);
  assert.equal(list.payload.aor, ALICE);
  assert.deepEqual(
    list.payload.messages.map((m: any) => ({ id: m.id, from: m.from, time: m.time })),
    [{ id: stored.payload.id, from: BOB, time: stored.payload.time }],
  );
  assert.match(list.sip.raw, /^NOTIFY /);
  assert.ok(!deliverOut.received.some((m) => m.payload.event === 'session' || m.payload.event === 'delivered'), 'no delivery');
  assert.ok(!inboxOut.received.some((m) => m.payload.event === 'message'), 'nothing in the inbox');
  await statusOf(lab.node('deliver'), (s) => s.text === '1 waiting for 1 user', 5000, 'still waiting');
  return list;
}

/** The collectors of a loaded deferredFlow, and bob. */
export function deferredLab(helper: { getNode(id: string): TestNode }, bob: SipEndpoint): DeferredLab {
  return {
    node: (id) => helper.getNode(id),
    bob,
    deliverOut: collected('deliver-out'),
    inboxOut: collected('inbox-out'),
    settingsOut: collected('settings-out'),
  };
}
