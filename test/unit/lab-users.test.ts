// The lab core's users from the SIP user config nodes: read afresh while the
// flow runs, and kept as last read once the core is stopping, because
// Node-RED swaps in the new flow's config nodes before the old flow closes.
import assert from 'node:assert/strict';
import { labUsers } from '../../nodes/common/lab-users';
import type { NodeDef, RedApi } from '../../nodes/common/red';

function redWith(config: { current: NodeDef[] }, passwords: Record<string, string>): RedApi {
  return {
    nodes: {
      eachNode: (cb: (def: NodeDef) => void) => config.current.forEach(cb),
      getCredentials: (id: string) => (passwords[id] ? { password: passwords[id] } : undefined),
    },
  } as unknown as RedApi;
}

const alice = { id: 'u-alice', type: 'oma-sip-user', identity: 'sip:alice@lab.test' } as unknown as NodeDef;
const bob = { id: 'u-bob', type: 'oma-sip-user', identity: 'bob' } as unknown as NodeDef;

describe('lab core users from the SIP user config nodes', () => {
  it('knows the users of its domain with a password, and the typed list first', () => {
    const config = { current: [alice, bob] };
    const users = labUsers(redWith(config, { 'u-alice': 'a-pw', 'u-bob': 'b-pw' }), 'lab.test', new Map([['carol', 'c-pw']]), true);
    assert.equal(users.get('alice'), 'a-pw');
    assert.equal(users.get('bob'), 'b-pw', 'a bare user name is in the core’s domain');
    assert.equal(users.get('carol'), 'c-pw');
    assert.equal(users.has('mallory'), false);
  });

  it('a stopping core keeps the users it last read, so their de-REGISTERs are answered', async () => {
    const config = { current: [alice] };
    const users = labUsers(redWith(config, { 'u-alice': 'a-pw' }), 'lab.test', new Map(), true);
    assert.equal(users.get('alice'), 'a-pw');
    // A full deploy of a flow without alice: Node-RED's config is the new one before the old flow closes.
    config.current = [];
    users.freeze();
    await new Promise((r) => setTimeout(r, 1100)); // past the snapshot's reuse time
    assert.equal(users.get('alice'), 'a-pw');
  });

  it('while running, a user removed from the config is gone once the snapshot is re-read', async () => {
    const config = { current: [alice] };
    const users = labUsers(redWith(config, { 'u-alice': 'a-pw' }), 'lab.test', new Map(), true);
    assert.equal(users.get('alice'), 'a-pw');
    config.current = [];
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(users.get('alice'), undefined);
  });
});
