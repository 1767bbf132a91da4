// Seed 003 12.2.2.2: the decision (deliver, tell what waits, or wait) and the
// delivery INVITE with every header the seed lists, checked on the wire text
// that the codec makes of it and reads back.
import assert from 'node:assert/strict';
import {
  buildDeliveryInvite,
  DELIVERY_ALLOW,
  IM_SERVER_USER_AGENT,
  planDelivery,
  type DeliveryInviteParams,
} from '../../lib/deferred/delivery-plan';
import { parseMsrpMedia } from '../../lib/sdp/msrp-sdp';
import { parseSdp } from '../../lib/sdp/sdp';
import type { SettingsDocument } from '../../lib/settings/settings-types';
import { decode, encode } from '../../lib/sip/codec';
import { headerText, parseValueWithParams, splitHeaderList, type SipRequest } from '../../lib/sip/message';
import { parseNameAddr } from '../../lib/sip/name-addr';

const ALICE = 'sip:alice@lab.test';

function settings(offlineDelivery: boolean | undefined, ...more: Array<boolean | undefined>): SettingsDocument {
  return {
    entities: [offlineDelivery, ...more].map((value, i) => ({
      id: `client-${i}`,
      extensions: [],
      ...(value === undefined ? { poc: { answerMode: 'manual' as const } } : { im: { offlineDelivery: value } }),
    })),
  };
}

describe('deferred delivery plan (seed 003 12.2.2.2)', () => {
  describe('the decision', () => {
    it('delivers when offline delivery is active and messages wait', () => {
      assert.deepEqual(planDelivery({ registered: true, settings: settings(true), waiting: 3 }), {
        action: 'deliver',
        reason: 'offline-delivery-active',
        waiting: 3,
      });
      assert.equal(planDelivery({ registered: true, settings: settings(false, true), waiting: [{}, {}] }).action, 'deliver', 'any client saying active counts');
    });

    it('tells the client what waits when offline delivery is not active, or not said', () => {
      assert.deepEqual(planDelivery({ registered: true, settings: settings(false), waiting: 2 }), {
        action: 'notify-metadata',
        reason: 'offline-delivery-inactive',
        waiting: 2,
      });
      assert.deepEqual(planDelivery({ registered: true, settings: settings(undefined), waiting: 2 }), {
        action: 'notify-metadata',
        reason: 'offline-delivery-unset',
        waiting: 2,
      });
      assert.equal(planDelivery({ registered: true, settings: { entities: [] }, waiting: 1 }).reason, 'offline-delivery-unset');
    });

    it('waits while the user is not registered, has not published, or nothing waits', () => {
      assert.deepEqual(planDelivery({ registered: false, settings: settings(true), waiting: 5 }), { action: 'wait', reason: 'not-registered', waiting: 5 });
      assert.deepEqual(planDelivery({ registered: true, settings: undefined, waiting: 5 }), { action: 'wait', reason: 'settings-not-published', waiting: 5 });
      assert.deepEqual(planDelivery({ registered: true, settings: settings(true), waiting: [] }), { action: 'wait', reason: 'nothing-waiting', waiting: 0 });
      assert.equal(planDelivery({ registered: true, settings: settings(false), waiting: 0 }).action, 'wait');
    });
  });

  describe('the INVITE of step 2', () => {
    const params: DeliveryInviteParams = {
      user: ALICE,
      server: 'sip:im-server@lab.test',
      serverName: 'IM "Server"',
      contact: 'sip:im-server@127.0.0.1:5099;transport=tcp',
      media: { address: '127.0.0.1', port: 7394, path: 'msrp://127.0.0.1:7394/s3ss10n;tcp' },
      callId: 'call-1@127.0.0.1',
      fromTag: 'tag-1',
    };

    /** The INVITE as it goes on the wire and as the receiver reads it. */
    function onWire(p: DeliveryInviteParams = params): { wire: string; req: SipRequest } {
      const wire = encode(buildDeliveryInvite(p));
      const req = decode(wire) as SipRequest;
      assert.ok(req, 'the INVITE does not parse');
      return { wire, req };
    }

    it('a) Request-URI and To are the user’s public identity; From is the server with its tag', () => {
      const { wire, req } = onWire();
      assert.ok(wire.startsWith(`INVITE ${ALICE} SIP/2.0\r\n`));
      assert.equal(req.method, 'INVITE');
      assert.equal(req.headers.to.uri, ALICE);
      assert.equal(req.headers.to.params.tag, undefined);
      assert.equal(req.headers.from.uri, 'sip:im-server@lab.test');
      assert.equal(req.headers.from.params.tag, 'tag-1');
      assert.equal(req.headers.from.name, '"IM \\"Server\\""');
      assert.equal(req.headers['call-id'], 'call-1@127.0.0.1');
      assert.deepEqual(req.headers.cseq, { seq: 1, method: 'INVITE' });
    });

    it('b) Accept-Contact: *;+g.oma.sip-im (RFC 3841)', () => {
      const { wire, req } = onWire();
      assert.match(wire, /\r\nAccept-Contact: \*;\+g\.oma\.sip-im\r\n/);
      const ac = parseValueWithParams(headerText(req, 'accept-contact')!);
      assert.equal(ac.value, '*');
      assert.ok('+g.oma.sip-im' in ac.params);
    });

    it('c) User-Agent with the IM release, and d) Allow with the methods of the dialog', () => {
      const { req } = onWire();
      assert.equal(headerText(req, 'user-agent'), IM_SERVER_USER_AGENT);
      assert.equal(IM_SERVER_USER_AGENT, 'IM-serv/OMA1.0');
      const allow = splitHeaderList(headerText(req, 'allow')!);
      assert.deepEqual(allow, DELIVERY_ALLOW);
      for (const m of ['INVITE', 'ACK', 'CANCEL', 'BYE', 'UPDATE']) assert.ok(allow.includes(m), m);
      assert.equal(headerText(onWire({ ...params, userAgent: 'IM-serv/OMA2.0 lab' }).req, 'user-agent'), 'IM-serv/OMA2.0 lab');
    });

    it('e) f) Contact with +g.oma.sip-im and automata (RFC 3840)', () => {
      const { wire, req } = onWire();
      const contactLine = /\r\nContact: ([^\r]+)\r\n/.exec(wire)?.[1];
      assert.ok(contactLine);
      const contact = parseNameAddr(contactLine);
      assert.equal(contact?.uri, 'sip:im-server@127.0.0.1:5099;transport=tcp');
      assert.ok(contact && '+g.oma.sip-im' in contact.params, contactLine);
      assert.ok(contact && 'automata' in contact.params, contactLine);
      assert.ok(Array.isArray(req.headers.contact) && req.headers.contact.length === 1);
    });

    it('g) Session-Expires with refresher=uac, Supported: timer, Min-SE (RFC 4028)', () => {
      const { req } = onWire();
      const se = parseValueWithParams(headerText(req, 'session-expires')!);
      assert.equal(se.value, '1800');
      assert.equal(se.params.refresher, 'uac');
      assert.ok(splitHeaderList(headerText(req, 'supported')!).includes('timer'));
      assert.equal(headerText(req, 'min-se'), '90');
      assert.equal(parseValueWithParams(headerText(onWire({ ...params, sessionExpires: 600, minSE: 120 }).req, 'session-expires')!).value, '600');
      assert.throws(() => buildDeliveryInvite({ ...params, sessionExpires: 60 }), /below Min-SE 90/);
    });

    it('h) an SDP offer: m=message <port> TCP/MSRP *, a=sendonly on the media, a=path, a=accept-types:message/cpim, a=setup', () => {
      const { req } = onWire();
      assert.equal(headerText(req, 'content-type'), 'application/sdp');
      const sdp = req.content!;
      assert.match(sdp, /\r\nm=message 7394 TCP\/MSRP \*\r\n/);
      const parsed = parseSdp(sdp);
      assert.equal(parsed.media.length, 1);
      const m = parsed.media[0]!;
      assert.deepEqual(
        m.attributes.filter((a) => a.name === 'sendonly'),
        [{ name: 'sendonly' }],
        'a=sendonly modifies the m=message line',
      );
      const media = parseMsrpMedia(sdp);
      assert.equal(media.direction, 'sendonly');
      assert.equal(media.port, 7394);
      assert.deepEqual(media.path, ['msrp://127.0.0.1:7394/s3ss10n;tcp']);
      assert.deepEqual(media.acceptTypes, ['message/cpim']);
      assert.equal(media.setup, 'actpass');
      assert.equal(media.address, '127.0.0.1');
      assert.equal(parseMsrpMedia(onWire({ ...params, media: { ...params.media, port: 9, setup: 'active' } }).req.content!).setup, 'active');
    });

    it('takes extra headers (P-Asserted-Identity, Route) and leaves Via to the endpoint', () => {
      const req = buildDeliveryInvite({
        ...params,
        headers: { 'p-asserted-identity': '<sip:im-server@lab.test>', route: [{ uri: 'sip:127.0.0.1:5060;lr', params: {} }] },
      });
      assert.deepEqual(req.headers.via, []);
      const back = decode(encode({ ...req, headers: { ...req.headers, via: [{ protocol: 'TCP', host: '127.0.0.1', port: 5099, params: { branch: 'z9hG4bK1' } }] } })) as SipRequest;
      assert.equal(headerText(back, 'p-asserted-identity'), '<sip:im-server@lab.test>');
      assert.equal(back.headers.route?.[0]?.uri, 'sip:127.0.0.1:5060;lr');
    });

    it('refuses parameters that cannot make the request', () => {
      assert.throws(() => buildDeliveryInvite({ ...params, user: 'alice' }), /user "alice" is not a SIP or tel URI/);
      assert.throws(() => buildDeliveryInvite({ ...params, contact: 'sip:x\r\nInjected: 1' }), /contact/);
      assert.throws(() => buildDeliveryInvite({ ...params, fromTag: '' }), /From tag/);
      assert.throws(() => buildDeliveryInvite({ ...params, media: { ...params.media, path: 'http://x' } }), /./);
    });
  });
});
