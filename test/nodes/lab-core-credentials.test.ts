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

describe('nodes: lab core credentials', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();

  it('GET /credentials/oma-lab-core/<id> says the user list is set and shows no password; the old list still logs users in', async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    // The credentials as an older version saved them (`users` was a text credential then).
    const { flow, credentials } = labFlow({
      corePort,
      serverPort,
      withLabCore: true,
      users: [{ id: 'alice', identity: 'alice', password: 'alice-secret-1', enabler: 'poc' }],
      coreUsers: 'alice:alice-secret-1\nbob:bob-secret-2',
    });
    await helper.load(allNodes, flow, credentials);
    mountCredentialsApi();

    const res = await helper.request().get('/credentials/oma-lab-core/core').expect(200);
    assert.deepEqual(res.body, { has_users: true });
    assert.doesNotMatch(res.text, /secret|alice|bob/);

    const registered = await collected('out-alice').event('registered');
    assert.equal(registered.payload.state, 'registered');
  });
});
