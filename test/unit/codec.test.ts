// The codec around the `sip` parser: UTF-8 in headers, IPv6 references in
// Via, Route-family headers and Contact.
import assert from 'node:assert/strict';
import { decode, encode } from '../../lib/sip/codec';
import type { SipRequest, SipResponse } from '../../lib/sip/message';

function wireOf(lines: string[], body = ''): string {
  return Buffer.from(lines.join('\r\n') + `\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` + body, 'utf8').toString('latin1');
}

const REQUEST_LINES = [
  'MESSAGE sip:bob@lab.test SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport',
  'From: "Jürgen 日本" <sip:juergen@lab.test>;tag=a1',
  'To: "Zoë" <sip:bob@lab.test>',
  'Call-ID: utf8-1@lab.test',
  'CSeq: 1 MESSAGE',
  'Subject: Grüße 🎉',
  'Content-Type: text/plain;charset=utf-8',
];

describe('codec', () => {
  it('decodes UTF-8 header text (display names, free text) as UTF-8', () => {
    const m = decode(wireOf(REQUEST_LINES, 'Hallo Jürgen')) as SipRequest;
    assert.equal(m.headers.from.name, '"Jürgen 日本"');
    assert.equal(m.headers.to.name, '"Zoë"');
    assert.equal(m.headers.subject, 'Grüße 🎉');
    assert.equal(m.content, 'Hallo Jürgen');
  });

  it('writes UTF-8 header text as UTF-8 bytes: decode then encode gives the same bytes', () => {
    const wire = wireOf(REQUEST_LINES, 'Hallo Jürgen');
    const again = encode(decode(wire)!);
    assert.equal(Buffer.from(again, 'latin1').toString('hex'), Buffer.from(wire, 'latin1').toString('hex'));
    assert.match(Buffer.from(again, 'latin1').toString('utf8'), /From: "Jürgen 日本" <sip:juergen@lab\.test>;tag=a1\r\n/);
  });

  it('keeps header bytes that are not UTF-8 one char per byte instead of replacing them', () => {
    const lines = [...REQUEST_LINES.slice(0, 6), 'Subject: caf\xe9'];
    const m = decode(lines.join('\r\n') + '\r\nContent-Length: 0\r\n\r\n')!;
    assert.equal(m.headers.subject, 'caf\xe9');
  });

  it('decodes a response with IPv6 hosts in Via, Record-Route, Path and Contact without throwing', () => {
    const wire = wireOf([
      'SIP/2.0 200 OK',
      'Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK-6;received=2001:db8::1, SIP/2.0/TCP [2001:db8::2];branch=z9hG4bK-7',
      'Record-Route: <sip:[2001:db8::10]:5060;lr>, <sip:proxy.lab.test;lr>',
      'Record-Route: <sip:[2001:db8::11];transport=tcp;lr>',
      'Path: <sip:[2001:db8::12]:5060;lr>',
      'Contact: <sip:bob@[2001:db8::3]:5062>;expires=60',
      'From: <sip:a@lab.test>;tag=1',
      'To: <sip:b@lab.test>;tag=2',
      'Call-ID: v6@lab.test',
      'CSeq: 3 INVITE',
    ]);
    const m = decode(wire) as SipResponse;
    assert.ok(m, 'decoded');
    assert.deepEqual(
      m.headers.via.map((v) => [v.protocol, v.host, v.port, v.params.branch]),
      [['UDP', '2001:db8::1', 5060, 'z9hG4bK-6'], ['TCP', '2001:db8::2', undefined, 'z9hG4bK-7']],
    );
    assert.equal(m.headers.via[0]!.params.received, '2001:db8::1');
    assert.deepEqual(m.headers['record-route']!.map((r) => r.uri), ['sip:[2001:db8::10]:5060;lr', 'sip:proxy.lab.test;lr', 'sip:[2001:db8::11];transport=tcp;lr']);
    assert.deepEqual(m.headers.path!.map((r) => r.uri), ['sip:[2001:db8::12]:5060;lr']);
    assert.equal((m.headers.contact as { uri: string }[])[0]!.uri, 'sip:bob@[2001:db8::3]:5062');
  });

  it('writes a Via with an IPv6 host in brackets, and reads it back', () => {
    const req = decode(wireOf(REQUEST_LINES)) as SipRequest;
    req.headers.via = [{ version: '2.0', protocol: 'UDP', host: '2001:db8::1', port: 5060, params: { branch: 'z9hG4bK-v6' } }];
    const wire = encode(req);
    assert.match(wire, /\r\nVia: SIP\/2\.0\/UDP \[2001:db8::1\]:5060;branch=z9hG4bK-v6\r\n/);
    assert.equal((decode(wire) as SipRequest).headers.via[0]!.host, '2001:db8::1');
  });

  it('keeps the URIs of Route headers exactly as written', () => {
    const m = decode(wireOf([...REQUEST_LINES, 'Route: <sip:scscf.lab.test:6060;transport=tcp;lr>;x=1'])) as SipRequest;
    assert.deepEqual(m.headers.route, [{ name: undefined, uri: 'sip:scscf.lab.test:6060;transport=tcp;lr', params: { x: '1' } }]);
  });
});
