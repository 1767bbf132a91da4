// The lab core's user list through the editor's admin API: only "it is set",
// never the passwords; a flow saved when the list was a text credential still
// runs with the same value.
import assert from 'node:assert/strict';
import { collected } from '../support/collect';
import { mountCredentialsApi } from '../support/credentials-api';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { labFlow } from '../support/lab-flow';
import { allNodes } from '../support/nodes';
import { requestWithAuth } from '../../lib/auth/authenticated-request';
import { DigestClient } from '../../lib/auth/digest-client';
import { SipEndpoint } from '../../lib/sip/endpoint';

describe('nodes: lab core credentials', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();

  /** A lab core with `coreUsers` typed in, and alice's register node using `password`. */
  async function lab(coreUsers: string, password: string) {
    const corePort = await freePort();
    const serverPort = await freePort();
    const built = labFlow({ corePort, serverPort, withLabCore: true, users: [{ id: 'alice', identity: 'alice', password, enabler: 'poc' }], coreUsers });
    return { corePort, ...built };
  }

  it('GET /credentials/oma-lab-core/<id> says the user list is set and shows no password; the old list still logs users in', async () => {
    // The credentials as an older version saved them (`users` was a text credential then).
    const { flow, credentials } = await lab('alice:alice-secret-1\nbob:bob-secret-2', 'alice-secret-1');
    await helper.load(allNodes, flow, credentials);
    mountCredentialsApi();

    const res = await helper.request().get('/credentials/oma-lab-core/core').expect(200);
    assert.deepEqual(res.body, { has_users: true });
    assert.doesNotMatch(res.text, /secret|alice|bob/);

    const registered = await collected('out-alice').event('registered');
    assert.equal(registered.payload.state, 'registered');
  });

  it('takes its users from the SIP user config nodes of its domain, each with a password credential of its own', async () => {
    const { corePort, flow, credentials } = await lab('', 'alice-own-pw');
    // A user of another domain is not a user of this core.
    flow.push({ id: 'user-dave', type: 'oma-sip-user', identity: 'sip:dave@other.test', enabler: 'poc' });
    credentials['user-dave'] = { password: 'dave-pw' };
    await helper.load(allNodes, flow, credentials);
    mountCredentialsApi();

    const registered = await collected('out-alice').event('registered');
    assert.equal(registered.payload.aor, 'sip:alice@lab.test');
    const res = await helper.request().get('/credentials/oma-sip-user/user-alice').expect(200);
    assert.deepEqual(res.body, { has_password: true });

    const client = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, outboundProxy: { host: '127.0.0.1', port: corePort } });
    await client.start();
    try {
      const dave = await requestWithAuth({
        ua: client,
        digest: new DigestClient({ username: 'dave', password: 'dave-pw' }),
        build: () => ({
          method: 'REGISTER',
          uri: 'sip:lab.test',
          version: '2.0',
          headers: {
            via: [],
            to: { uri: 'sip:dave@lab.test', params: {} },
            from: { uri: 'sip:dave@lab.test', params: { tag: client.newTag() } },
            'call-id': 'dave-call',
            cseq: { seq: 1, method: 'REGISTER' },
            contact: [{ uri: client.contactUri('dave'), params: {} }],
          },
        }),
      });
      assert.equal(dave.result.response.status, 401);
    } finally {
      await client.close();
    }
  });

  it('ignores the SIP user config nodes when told to', async () => {
    const { flow, credentials } = await lab('', 'alice-own-pw');
    flow.find((n) => n.id === 'core')!.sipUsers = false;
    await helper.load(allNodes, flow, credentials);
    const failed = await collected('out-alice').event('failed');
    assert.match(failed.payload.error, /wrong password/);
  });
});
