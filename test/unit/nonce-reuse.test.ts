// Refresh and de-REGISTER sign with the last nonce and a growing nonce count
// (RFC 7616 3.4), against the lab core's real registrar over UDP, until the
// core says the nonce is stale.
import assert from 'node:assert/strict';
import { LabCore } from '../../lib/labcore/lab-core';
import { profileFor } from '../../lib/registration/enablers';
import { Registration, type RegistrationChange } from '../../lib/registration/registration';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { FakeScheduler } from '../support/fake-scheduler';
import { freePort } from '../support/free-port';

const auth = (x: { request?: { headers: Record<string, unknown> } }) =>
  (x.request?.headers.authorization as Record<string, string>[] | undefined)?.[0];

describe('digest nonce reuse against the lab core registrar', function () {
  this.timeout(20000);
  let coreEp: SipEndpoint;
  let clientEp: SipEndpoint;
  let core: LabCore;
  const coreClock = new FakeScheduler();

  beforeEach(async () => {
    const port = await freePort();
    coreEp = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port });
    await coreEp.start();
    core = new LabCore(coreEp, { domain: 'lab.test', users: new Map([['alice', 'alice-pw']]), scheduler: coreClock });
    core.start();
    clientEp = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, outboundProxy: { host: '127.0.0.1', port, transport: 'udp' } });
    await clientEp.start();
  });

  afterEach(async () => {
    await core.stop();
    await clientEp.close();
    await coreEp.close();
  });

  function registration() {
    const reg = new Registration(clientEp, {
      aor: 'sip:alice@lab.test',
      registrar: 'sip:lab.test',
      username: 'alice',
      password: 'alice-pw',
      contactUser: 'alice',
      profile: profileFor({ enabler: 'poc' }),
      expires: 600,
      scheduler: new FakeScheduler(),
    });
    const changes: RegistrationChange[] = [];
    reg.on('change', (c: RegistrationChange) => changes.push(c));
    return { reg, last: () => changes.at(-1)! };
  }

  it('refreshes and de-registers without a 401, counting up on the same nonce', async () => {
    const { reg, last } = registration();
    await reg.register();
    assert.equal(reg.current.state, 'registered');
    assert.deepEqual(last().exchanges.map((x) => x.response.status), [401, 200]);
    const nonce = auth(last().exchanges[1]!)!.nonce;

    await reg.register();
    assert.equal(reg.current.state, 'registered');
    assert.deepEqual(last().exchanges.map((x) => x.response.status), [200], 'one round trip for the refresh');
    assert.equal(auth(last().exchanges[0]!)!.nonce, nonce);
    assert.equal(auth(last().exchanges[0]!)!.nc, '00000002');

    await reg.deregister('all');
    assert.equal(reg.current.state, 'unregistered');
    assert.deepEqual(last().exchanges.map((x) => x.response.status), [200], 'one round trip for the de-REGISTER');
    assert.equal(auth(last().exchanges[0]!)!.nc, '00000003');
    assert.equal(core.location.lookup('sip:alice@lab.test').length, 0);
  });

  it('answers the stale challenge once the nonce has aged out, and counts from 1 on the new nonce', async () => {
    const { reg, last } = registration();
    await reg.register();
    const first = auth(last().exchanges[1]!)!.nonce;
    coreClock.advance(301_000); // past the registrar's 300 s nonce lifetime
    await reg.register();
    assert.equal(reg.current.state, 'registered', reg.current.error);
    const x = last().exchanges;
    assert.deepEqual(x.map((e) => e.response.status), [401, 200]);
    assert.match(String((x[0]!.response.headers['www-authenticate'] as Record<string, string>[])[0]!.stale), /true/i);
    assert.notEqual(auth(x[1]!)!.nonce, first);
    assert.equal(auth(x[1]!)!.nc, '00000001');
  });
});
