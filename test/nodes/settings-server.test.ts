// The settings server node as a server flow runs it: a SipEndpoint in the
// test plays the SIP/IP core (it sends the PUBLISH and SUBSCRIBE with
// P-Asserted-Identity and Record-Route, and takes the NOTIFYs), another one a
// stranger; the node's endpoint names that core, which is therefore trusted.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSettings } from '../../lib/settings/settings-reader';
import { writeSettings } from '../../lib/settings/settings-writer';
import { SipEndpoint, type IncomingRequest } from '../../lib/sip/endpoint';
import { headerText, type SipRequest } from '../../lib/sip/message';
import { collected, statusOf } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { allNodes } from '../support/nodes';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodes = allNodes;
const ALICE = 'sip:alice@lab.test';

describe('nodes: settings server', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();
  let core: SipEndpoint;
  let stranger: SipEndpoint;
  let userDir: string;
  let serverPort: number;
  const notifies: IncomingRequest[] = [];
  const waiting: Array<(r: IncomingRequest) => void> = [];

  beforeEach(async () => {
    core = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0 });
    stranger = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0 });
    await Promise.all([core.start(), stranger.start()]);
    core.addHandler((req) => {
      if (req.message.method !== 'NOTIFY') return false;
      req.respond(200);
      const w = waiting.shift();
      if (w) w(req);
      else notifies.push(req);
      return true;
    });
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-settings-'));
    helper.settings({ userDir });
    serverPort = await freePort();
  });

  afterEach(async () => {
    await helper.unload();
    helper.settings({});
    notifies.length = 0;
    waiting.length = 0;
    await Promise.all([core.close(), stranger.close()]);
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  const nextNotify = (): Promise<IncomingRequest> => {
    const r = notifies.shift();
    return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
  };

  function flow(persist = true): Record<string, unknown>[] {
    return [
      { id: 'ep-server', type: 'oma-sip-endpoint', transport: 'udp', address: '127.0.0.1', port: serverPort, coreHost: '127.0.0.1', corePort: core.port, domain: 'lab.test', t1: 500 },
      { id: 'ss', type: 'oma-settings-server', endpoint: 'ep-server', persist, minExpires: 60, maxExpires: 7200, wires: [['out']] },
      { id: 'out', type: 'collect' },
    ];
  }

  async function loaded(persist = true): Promise<void> {
    await helper.load(nodes, flow(persist), {});
    await statusOf(helper.getNode('ss'), (s) => s.fill === 'green', 10000, 'serving');
  }

  function request(from: SipEndpoint, method: 'PUBLISH' | 'SUBSCRIBE', headers: Record<string, unknown>, body?: string) {
    const req: SipRequest = {
      method,
      uri: ALICE,
      version: '2.0',
      headers: {
        via: [],
        to: { uri: ALICE, params: {} },
        from: { uri: ALICE, params: { tag: from.newTag() } },
        'call-id': from.newCallId(),
        cseq: { seq: 1, method },
        event: 'poc-settings',
        'p-asserted-identity': `<${ALICE}>`,
        ...headers,
      },
    };
    if (body !== undefined) {
      req.headers['content-type'] = 'application/poc-settings+xml';
      req.content = body;
    }
    return from.request(req, { target: { protocol: 'udp', address: '127.0.0.1', port: serverPort } });
  }

  const settingsBody = writeSettings({
    entities: [{ id: ALICE, poc: { answerMode: 'manual', incomingSessionBarring: false }, im: { offlineDelivery: true }, extensions: [] }],
  });

  const publish = (from = core) =>
    request(from, 'PUBLISH', { 'accept-contact': '*;+g.poc.talkburst;require;explicit', expires: '3600', 'user-agent': 'PoC-client/OMA2.0' }, settingsBody);

  const subscribe = () =>
    request(core, 'SUBSCRIBE', {
      contact: [{ uri: 'sip:alice@127.0.0.1:5999', params: {} }],
      'record-route': [{ uri: `sip:127.0.0.1:${core.port};lr`, params: {} }],
      expires: '600',
    });

  it('answers a PUBLISH from the trusted core with 200 and outputs the settings; a stranger gets 403 and no output', async () => {
    await loaded();
    const refused = await publish(stranger);
    assert.equal(refused.response.status, 403);

    const { response } = await publish();
    assert.equal(response.status, 200);
    assert.ok(headerText(response, 'sip-etag'));
    assert.equal(headerText(response, 'expires'), '3600');

    const out = collected('out');
    const msg = await out.next();
    assert.equal(msg.topic, ALICE);
    assert.deepEqual(msg.payload, {
      event: 'published',
      aor: ALICE,
      by: ALICE,
      settings: { entities: [{ id: ALICE, poc: { answerMode: 'manual', incomingSessionBarring: false }, im: { offlineDelivery: true }, extensions: [] }] },
      offlineDelivery: true,
    });
    assert.equal(msg.sip.method, 'PUBLISH');
    assert.match(msg.sip.raw, /^PUBLISH sip:alice@lab\.test SIP\/2\.0\r\n/);
    assert.equal(out.received.length, 0, 'the refused PUBLISH made no output');
    await statusOf(helper.getNode('ss'), (s) => s.text === '1 user, 0 watchers', 5000, '1 user, 0 watchers');

    const sub = await subscribe();
    assert.equal(sub.response.status, 200);
    const first = await nextNotify();
    const doc = readSettings(first.message.content ?? '');
    assert.ok(doc.ok);
    assert.equal(doc.document.entities[0]?.poc?.answerMode, 'manual');
    await statusOf(helper.getNode('ss'), (s) => s.text === '1 user, 1 watcher', 5000, '1 user, 1 watcher');
  });

  it('keeps the settings across a redeploy in the user directory, and ends watchers with deactivated', async () => {
    await loaded();
    assert.equal((await publish()).response.status, 200);
    await collected('out').next();
    assert.equal((await subscribe()).response.status, 200);
    await nextNotify();
    await helper.unload();
    const last = await nextNotify();
    assert.equal(headerText(last.message, 'subscription-state'), 'terminated;reason=deactivated');
    const journal = fs.readdirSync(path.join(userDir, 'oma-sip', 'ss')).filter((f) => f.startsWith('journal-'));
    assert.equal(journal.length, 1, 'one journal in the node\'s directory');
    assert.match(fs.readFileSync(path.join(userDir, 'oma-sip', 'ss', journal[0]!), 'utf8'), /sip:alice@lab\.test/, 'the publication is in the journal');

    await loaded();
    await statusOf(helper.getNode('ss'), (s) => s.text === '1 user, 0 watchers', 5000, '1 user after the restart');
    assert.equal((await subscribe()).response.status, 200);
    const after = readSettings((await nextNotify()).message.content ?? '');
    assert.ok(after.ok);
    assert.equal(after.document.entities[0]?.poc?.answerMode, 'manual', 'the settings came back from the files');
  });

  it('forgets the settings on redeploy when persistence is off', async () => {
    await loaded(false);
    assert.equal((await publish()).response.status, 200);
    await helper.unload();
    assert.equal(fs.existsSync(path.join(userDir, 'oma-sip', 'ss')), false, 'nothing written');
    await loaded(false);
    assert.equal((await subscribe()).response.status, 200);
    const doc = readSettings((await nextNotify()).message.content ?? '');
    assert.ok(doc.ok);
    assert.deepEqual(doc.document.entities, []);
  });
});
