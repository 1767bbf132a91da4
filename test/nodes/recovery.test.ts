// Recovery after the core restarts and forgets every binding: the client's
// own reg event reports the binding gone, and the register node it is wired
// back to registers again.
import assert from 'node:assert/strict';
import { LabCore } from '../../lib/labcore/lab-core';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { collected } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { labFlow } from '../support/lab-flow';
import { allNodes } from '../support/nodes';

const USERS = new Map([['alice', 'alice-pw']]);

async function startCore(port: number) {
  const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port });
  await ep.start();
  const core = new LabCore(ep, { domain: 'lab.test', users: USERS, minExpires: 2 });
  core.start();
  return {
    core,
    stop: async () => {
      await core.stop();
      await ep.close();
    },
  };
}

describe('nodes: recovery after a core restart', function () {
  this.timeout(40000);
  const helper = useNodeRedHelper();
  let running: Awaited<ReturnType<typeof startCore>> | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  async function load(corePort: number) {
    const { flow, credentials } = labFlow({
      corePort,
      serverPort: await freePort(),
      withLabCore: false,
      users: [{ id: 'alice', identity: 'alice', password: 'alice-pw', enabler: 'poc' }],
    });
    // register -> reg event (subscribes once registered) -> register (registers again when the binding is gone)
    (flow.find((n) => n.id === 'reg-alice')!.wires as string[][])[0]!.push('re-alice');
    flow.push(
      { id: 're-alice', type: 'oma-reg-event', endpoint: 'ep-client', user: 'user-alice', expires: 4, subscribeOnStart: false, wires: [['re-out', 'reg-alice']] },
      { id: 're-out', type: 'collect' },
    );
    await helper.load(allNodes, flow, credentials);
    return { out: collected('out-alice'), re: collected('re-out') };
  }

  it('registers again when its own reg event says the restarted core lost the binding', async () => {
    const port = await freePort();
    running = await startCore(port);
    const { out, re } = await load(port);
    const first = await out.event('registered');
    await re.next((m) => m.payload.event === 'update' && m.payload.registrations.some((r: any) => r.contacts.some((c: any) => c.state === 'active')));

    // The core restarts on the same port and knows no binding and no subscription.
    await running.stop();
    running = await startCore(port);
    assert.equal(running.core.location.lookup('sip:alice@lab.test').length, 0);

    const lost = await re.next(
      (m) => m.payload.event === 'update' && m.payload.changes.some((c: any) => c.kind === 'contact' && c.state === 'terminated' && c.uri === first.payload.contact),
      20000,
      'the reg event reporting the binding gone',
    );
    assert.ok(lost.payload.changes.some((c: any) => c.inferred === true), 'inferred from full state');
    const again = await out.next((m) => m.payload.event === 'registered' || m.payload.event === 'refreshed', 20000, 'registered again');
    assert.equal(again.payload.contact, first.payload.contact);
    assert.equal(running.core.location.lookup('sip:alice@lab.test').length, 1, 'the restarted core has the binding');
  });

  it('does not register again after its own de-registration, nor for a rejected binding', async () => {
    const port = await freePort();
    running = await startCore(port);
    const { out, re } = await load(port);
    const first = await out.event('registered');
    await re.next((m) => m.payload.event === 'update');
    const reg = helper.getNode('reg-alice');
    const rejected = { kind: 'contact', aor: 'sip:alice@lab.test', uri: first.payload.contact, state: 'terminated', event: 'rejected', inferred: false };
    reg.receive({ payload: { event: 'update', aor: 'sip:alice@lab.test', full: false, changes: [rejected], registrations: [] } });
    reg.receive({ payload: 'deregister' });
    await out.event('deregistered');
    await re.next((m) => m.payload.event === 'update' && m.payload.changes.some((c: any) => c.state === 'terminated'));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(out.received.filter((m) => m.payload.event === 'registered' || m.payload.event === 'refreshed').length, 0);
    assert.equal(running.core.location.lookup('sip:alice@lab.test').length, 0);
  });
});
