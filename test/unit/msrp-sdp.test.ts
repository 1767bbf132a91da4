import assert from 'node:assert/strict';
import { buildMsrpAnswer, buildMsrpOffer, offererConnectionRole, parseMsrpMedia } from '../../lib/sdp/msrp-sdp';
import { SdpError } from '../../lib/sdp/sdp';

const SERVER_PATH = 'msrp://192.0.2.10:40000/srv8ahd2;tcp';
const CLIENT_PATH = 'msrp://192.0.2.20:9/cli3kd8;tcp';

function offer(): string {
  return buildMsrpOffer({
    address: '192.0.2.10',
    port: 40000,
    path: SERVER_PATH,
    setup: 'actpass',
    acceptTypes: ['message/cpim'],
    acceptWrapped: ['text/plain', 'application/im-iscomposing+xml'],
    direction: 'sendonly',
    maxSize: 65536,
    sessionId: '1234',
  });
}

function refusal(fn: () => unknown): SdpError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SdpError) return e;
    throw e;
  }
  assert.fail('expected an SdpError');
}

describe('SDP for MSRP (RFC 4975 8, RFC 6135)', () => {
  it('writes the offer of seed 003 12.2.2.2: m=message TCP/MSRP, sendonly, path, accept-types, setup', () => {
    assert.equal(
      offer(),
      [
        'v=0',
        'o=- 1234 1 IN IP4 192.0.2.10',
        's=-',
        'c=IN IP4 192.0.2.10',
        't=0 0',
        'm=message 40000 TCP/MSRP *',
        'a=sendonly',
        'a=accept-types:message/cpim',
        'a=accept-wrapped-types:text/plain application/im-iscomposing+xml',
        'a=max-size:65536',
        `a=path:${SERVER_PATH}`,
        'a=setup:actpass',
        '',
      ].join('\r\n'),
    );
  });

  it('reads its own offer back', () => {
    assert.deepEqual(parseMsrpMedia(offer()), {
      port: 40000,
      proto: 'TCP/MSRP',
      address: '192.0.2.10',
      path: [SERVER_PATH],
      setup: 'actpass',
      direction: 'sendonly',
      acceptTypes: ['message/cpim'],
      acceptWrappedTypes: ['text/plain', 'application/im-iscomposing+xml'],
      maxSize: 65536,
    });
  });

  it('answers a sendonly offer with recvonly, its own path, and the role that complements a=setup', () => {
    const a = buildMsrpAnswer(offer(), { address: '192.0.2.20', port: 9, path: CLIENT_PATH, acceptWrapped: ['text/plain'] });
    assert.equal(a.direction, 'recvonly');
    assert.equal(a.setup, 'active', 'actpass lets the answerer pick; it connects by default');
    const read = parseMsrpMedia(a.sdp);
    assert.deepEqual(read.path, [CLIENT_PATH]);
    assert.equal(read.direction, 'recvonly');
    assert.equal(read.setup, 'active');
    assert.deepEqual(read.acceptTypes, ['message/cpim']);
    assert.equal(offererConnectionRole(read), 'passive', 'so the server waits on its listener');

    const passive = buildMsrpAnswer(offer(), { address: '192.0.2.20', port: 5000, path: CLIENT_PATH, setup: 'passive' });
    assert.equal(passive.setup, 'passive');
    assert.equal(offererConnectionRole(parseMsrpMedia(passive.sdp)), 'active');
  });

  it('follows RFC 4145 when a=setup is missing or fixed: the offerer connects unless it said passive', () => {
    const noSetup = offer().replace('a=setup:actpass\r\n', '');
    assert.equal(parseMsrpMedia(noSetup).setup, undefined);
    assert.equal(buildMsrpAnswer(noSetup, { address: '192.0.2.20', port: 5000, path: CLIENT_PATH }).setup, 'passive');
    assert.equal(buildMsrpAnswer(offer().replace('actpass', 'passive'), { address: '192.0.2.20', port: 9, path: CLIENT_PATH }).setup, 'active');
    assert.equal(buildMsrpAnswer(offer().replace('actpass', 'active'), { address: '192.0.2.20', port: 5000, path: CLIENT_PATH }).setup, 'passive');
    assert.equal(offererConnectionRole({ ...parseMsrpMedia(noSetup), setup: undefined }), 'active');
    assert.equal(refusal(() => buildMsrpAnswer(offer().replace('actpass', 'holdconn'), { address: '192.0.2.20', port: 9, path: CLIENT_PATH })).status, 488);
  });

  it('takes session-level attributes and c=, and the first usable m=message among other media', () => {
    const sdp = [
      'v=0',
      'o=bob 1 1 IN IP4 198.51.100.1',
      's=-',
      'c=IN IP4 198.51.100.1',
      'a=recvonly',
      'a=accept-types:text/plain message/*',
      't=0 0',
      'm=audio 4000 RTP/AVP 0',
      'm=message 0 TCP/MSRP *',
      'm=message 7654 TCP/MSRP *',
      'a=path:msrp://198.51.100.1:7654/abc;tcp',
      '',
    ].join('\n');
    const m = parseMsrpMedia(sdp);
    assert.equal(m.port, 7654);
    assert.equal(m.direction, 'recvonly');
    assert.equal(m.address, '198.51.100.1');
    assert.deepEqual(m.acceptTypes, ['text/plain', 'message/*']);
    assert.equal(buildMsrpAnswer(m, { address: '192.0.2.20', port: 9, path: CLIENT_PATH }).direction, 'sendonly');
  });

  it('refuses what it cannot use with 488 and what is not SDP with 400, saying why', () => {
    const cases: Array<[string, 400 | 488, RegExp]> = [
      ['v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n', 488, /no m=message/],
      [offer().replace(/a=path:.*\r\n/, ''), 488, /without a=path/],
      [offer().replace(/a=accept-types:.*\r\n/, ''), 488, /without a=accept-types/],
      [offer().replace('TCP/MSRP', 'TCP/TLS/MSRP'), 488, /TLS/],
      [offer().replace('m=message 40000', 'm=message 0'), 488, /port 0/],
      [offer().replace(SERVER_PATH, 'http://example.com/'), 488, /a=path/],
      [offer().replace('a=setup:actpass', 'a=setup:sideways'), 488, /a=setup:sideways/],
      [offer().replace('a=max-size:65536', 'a=max-size:lots'), 488, /max-size/],
      ['hello', 400, /v=0/],
      ['v=0\r\nthis is not sdp\r\n', 400, /malformed SDP line/],
    ];
    for (const [sdp, status, why] of cases) {
      const e = refusal(() => parseMsrpMedia(sdp));
      assert.equal(e.status, status, sdp);
      assert.match(e.message, why);
    }
    const noCommon = refusal(() => buildMsrpAnswer(offer(), { address: '192.0.2.20', port: 9, path: CLIENT_PATH, acceptTypes: ['text/html'] }));
    assert.equal(noCommon.status, 488);
    assert.match(noCommon.message, /no common content type/);
  });

  it('will not write an offer with a bad path or address', () => {
    assert.throws(() => buildMsrpOffer({ address: '192.0.2.10', port: 1, path: 'nonsense', setup: 'passive' }), /MSRP URI/);
    assert.throws(() => buildMsrpOffer({ address: '1.2.3.4\r\na=evil', port: 1, path: SERVER_PATH, setup: 'passive' }), /bad address/);
  });
});
