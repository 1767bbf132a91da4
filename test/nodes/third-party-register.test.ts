// The third-party register node as its flow sees it: a REGISTER from the
// endpoint's core (or an address typed in the node) is reported with the
// client's Contact when the core includes it; anyone else gets 403 and the
// flow hears nothing.
import assert from 'node:assert/strict';
import { collected } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { labFlow } from '../support/lab-flow';
import { allNodes } from '../support/nodes';
import { SipEndpoint } from '../../lib/sip/endpoint';
import { thirdPartyRegister } from '../support/sip-builders';

const CLIENT_REGISTER =
  'REGISTER sip:lab.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bK1\r\nFrom: <sip:alice@lab.test>;tag=a\r\n' +
  'To: <sip:alice@lab.test>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@10.0.0.7:5062>;+g.oma.sip-im;expires=600\r\n\r\n';

describe('nodes: third-party register', function () {
  this.timeout(30000);
  const helper = useNodeRedHelper();
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  async function peer(port: number): Promise<SipEndpoint> {
    const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port });
    await ep.start();
    closers.push(() => ep.close());
    return ep;
  }

  const register = (from: SipEndpoint, serverPort: number, user: string, body?: string) =>
    from.request(thirdPartyRegister(from, `sip:127.0.0.1:${serverPort}`, user, '600', body ? { type: 'message/sip', text: body } : undefined)).then((r) => r.response);

  it("answers the endpoint's core and a core typed in the node, 403 to anyone else, and carries the client's Contact", async () => {
    const corePort = await freePort();
    const serverPort = await freePort();
    const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: false, users: [] });
    const secondCore = await peer(0);
    const tpr = flow.find((n) => n.id === 'tpr')!;
    tpr.trustedCores = `127.0.0.1:${secondCore.port}`;
    await helper.load(allNodes, flow, credentials);
    const out = collected('tpr-out');
    const core = await peer(corePort);
    const stranger = await peer(0);

    assert.equal((await register(stranger, serverPort, 'mallory')).status, 403);
    assert.equal((await register(core, serverPort, 'alice', CLIENT_REGISTER)).status, 200);
    const m = await out.event('registered');
    assert.equal(m.topic, 'sip:alice@lab.test');
    assert.equal(m.payload.contact, 'sip:alice@10.0.0.7:5062');
    assert.deepEqual(m.payload.featureTags, ['+g.oma.sip-im']);
    assert.equal((await register(secondCore, serverPort, 'bob')).status, 200);
    const b = await out.event('registered');
    assert.equal(b.payload.user, 'sip:bob@lab.test');
    assert.ok(out.received.every((x) => x.payload.user !== 'sip:mallory@lab.test'), 'the stranger reached no output');
  });
});
