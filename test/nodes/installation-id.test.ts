// The CPM +sip.instance is unique per installation and stable across restarts.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { forgetInstallationIds, INSTALLATION_FILE, installationId, instanceUuid } from '../../nodes/common/installation-id';
import { collected } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { labFlow } from '../support/lab-flow';
import { allNodes } from '../support/nodes';

const instanceOf = (m: any): string =>
  /\+sip\.instance="<urn:uuid:([0-9a-f-]{36})>"/.exec(m.sip.exchange.filter((x: any) => x.direction === 'out').at(-1).headers.contact)![1]!;

describe('nodes: CPM instance id per installation', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();
  const dirs: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-sip-install-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  afterEach(() => helper.settings({ userDir: undefined }));

  it('is made once per user directory, kept in it, and read back after a restart', () => {
    const a = tmp();
    const b = tmp();
    const idA = installationId(a);
    assert.match(idA, /^[0-9a-f-]{36}$/);
    assert.notEqual(installationId(b), idA, 'two installations differ');
    assert.equal(fs.readFileSync(path.join(a, INSTALLATION_FILE), 'utf8').trim(), idA);
    forgetInstallationIds(); // a new process
    assert.equal(installationId(a), idA);
    assert.notEqual(instanceUuid(idA, 'node-1'), instanceUuid(idA, 'node-2'), 'two users of one installation differ');
  });

  /** Registers the same imported flow (same node ids) as carol (CPM) in the installation at `userDir`. */
  async function instanceIn(userDir: string): Promise<string> {
    helper.settings({ userDir });
    const { flow, credentials } = labFlow({
      corePort: await freePort(),
      serverPort: await freePort(),
      withLabCore: true,
      users: [{ id: 'carol', identity: 'carol', password: 'carol-pw', enabler: 'cpm' }],
    });
    await helper.load(allNodes, flow, credentials);
    const m = await collected('out-carol').event('registered');
    await helper.unload();
    return instanceOf(m);
  }

  it('two labs that import the same flow send different instances; a restart keeps each', async () => {
    const labA = tmp();
    const labB = tmp();
    const a = await instanceIn(labA);
    const b = await instanceIn(labB);
    assert.notEqual(a, b);
    forgetInstallationIds();
    assert.equal(await instanceIn(labA), a, 'the same after a restart');
  });
});
