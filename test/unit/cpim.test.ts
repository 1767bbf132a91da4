import assert from 'node:assert/strict';
import { CpimError, buildCpim, cpimBodyText, parseCpim } from '../../lib/cpim/cpim';

describe('message/cpim (RFC 3862)', () => {
  it('reads the RFC 3862 example message, namespaces and all', () => {
    const text =
      'From: MR SANDERS <im:piglet@100akerwood.com>\r\n' +
      'To: Depressed Donkey <im:eeyore@100akerwood.com>\r\n' +
      'DateTime: 2000-12-13T13:40:00-08:00\r\n' +
      'Subject: the weather will be fine today\r\n' +
      'Subject:;lang=fr beau temps prevu pour aujourd\'hui\r\n' +
      'NS: MyFeatures <mid:MessageFeatures@id.foo.com>\r\n' +
      'Require: MyFeatures.VitalMessageOption\r\n' +
      'MyFeatures.VitalMessageOption: Confirmation-requested\r\n' +
      'MyFeatures.WackyMessageOption: Use-silly-font\r\n' +
      '\r\n' +
      'Content-type: text/xml; charset=utf-8\r\n' +
      'Content-ID: <1234567890@foo.com>\r\n' +
      '\r\n' +
      '<body>\r\nHere is the text of my message.\r\n</body>';
    const m = parseCpim(text);
    assert.deepEqual(m.from, { name: 'MR SANDERS', uri: 'im:piglet@100akerwood.com' });
    assert.deepEqual(m.to, [{ name: 'Depressed Donkey', uri: 'im:eeyore@100akerwood.com' }]);
    assert.equal(m.dateTime, '2000-12-13T13:40:00-08:00');
    assert.deepEqual(m.subject, [{ text: 'the weather will be fine today' }, { text: "beau temps prevu pour aujourd'hui", lang: 'fr' }]);
    assert.deepEqual(m.namespaces, [{ prefix: 'MyFeatures', uri: 'mid:MessageFeatures@id.foo.com' }]);
    assert.deepEqual(m.require, ['MyFeatures.VitalMessageOption']);
    assert.deepEqual(m.extensions, [
      { prefix: 'MyFeatures', name: 'VitalMessageOption', value: 'Confirmation-requested', namespace: 'mid:MessageFeatures@id.foo.com' },
      { prefix: 'MyFeatures', name: 'WackyMessageOption', value: 'Use-silly-font', namespace: 'mid:MessageFeatures@id.foo.com' },
    ]);
    assert.equal(m.contentType, 'text/xml; charset=utf-8');
    assert.deepEqual(m.contentHeaders, [{ name: 'Content-ID', value: '<1234567890@foo.com>' }]);
    assert.equal(cpimBodyText(m), '<body>\r\nHere is the text of my message.\r\n</body>');
  });

  it('round-trips a deferred message: original sender, recipient, time with its offset, UTF-8 everywhere', () => {
    const wire = buildCpim({
      from: { name: 'Bob Müller', uri: 'sip:bob@lab.test' },
      to: 'sip:alice@lab.test',
      dateTime: '2026-12-01T09:15:30.250+01:00',
      subject: { text: 'Grüße 👋', lang: 'de' },
      namespaces: [{ prefix: 'imdn', uri: 'urn:ietf:params:imdn' }],
      extensions: [{ prefix: 'imdn', name: 'Message-ID', value: '34jk324j' }],
      contentType: 'text/plain;charset=utf-8',
      body: 'Hallo Alice — 你好 — 👋🏽\r\nzweite Zeile',
    });
    const m = parseCpim(wire);
    assert.deepEqual(m.from, { name: 'Bob Müller', uri: 'sip:bob@lab.test' });
    assert.deepEqual(m.to, [{ uri: 'sip:alice@lab.test' }]);
    assert.equal(m.dateTime, '2026-12-01T09:15:30.250+01:00');
    assert.equal(new Date(m.dateTime!).toISOString(), '2026-12-01T08:15:30.250Z');
    assert.deepEqual(m.subject, [{ text: 'Grüße 👋', lang: 'de' }]);
    assert.deepEqual(m.extensions, [{ prefix: 'imdn', name: 'Message-ID', value: '34jk324j', namespace: 'urn:ietf:params:imdn' }]);
    assert.equal(cpimBodyText(m), 'Hallo Alice — 你好 — 👋🏽\r\nzweite Zeile');
    assert.deepEqual(parseCpim(buildCpim({ ...m, subject: m.subject, body: m.body })), m, 'what is read builds the same again');
  });

  it('keeps a binary body byte for byte, blank lines in it included', () => {
    const body = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0xff, 0xfe, 0x0a, 0x0a]);
    const m = parseCpim(buildCpim({ from: 'sip:a@x', to: 'sip:b@x', dateTime: new Date(Date.UTC(2020, 0, 2, 3, 4, 5)), contentType: 'application/octet-stream', body }));
    assert.ok(m.body.equals(body));
    assert.equal(m.dateTime, '2020-01-02T03:04:05.000Z');
  });

  it('quotes display names that need it and reads them back', () => {
    const wire = buildCpim({ from: { name: 'Smith, "Bob" \\ Jr', uri: 'sip:bob@x' }, contentType: 'text/plain', body: '' }).toString();
    assert.match(wire, /^From: "Smith, \\"Bob\\" \\\\ Jr" <sip:bob@x>\r\n/);
    assert.equal(parseCpim(wire).from?.name, 'Smith, "Bob" \\ Jr');
  });

  it('reads bare-LF and mixed line ends, header parameters and prefixes, and leaves a body with blank lines alone', () => {
    const body = 'line one\n\nline three\r\n\r\nend';
    const text =
      'From: Alice <sip:a@x>\nNS: MyFeatures <mid:MessageFeatures@id.foo.com>\r\n' +
      'MyFeatures.VitalMessageOption:;p1;p2=x Confirmation-requested\nSubject:;lang=fr Bonjour\r\n\n' +
      'Content-Type: text/plain\nContent-ID: <1@x>\r\n\r\n' +
      body;
    const m = parseCpim(text);
    assert.deepEqual(m.from, { name: 'Alice', uri: 'sip:a@x' });
    assert.deepEqual(m.subject, [{ text: 'Bonjour', lang: 'fr' }]);
    assert.deepEqual(m.extensions, [
      { prefix: 'MyFeatures', name: 'VitalMessageOption', value: 'Confirmation-requested', namespace: 'mid:MessageFeatures@id.foo.com', params: ['p1', 'p2=x'] },
    ]);
    assert.equal(m.contentType, 'text/plain');
    assert.deepEqual(m.contentHeaders, [{ name: 'Content-ID', value: '<1@x>' }]);
    assert.equal(m.body.toString('utf8'), body);
    for (const bad of ['a.b.c: x\n\nContent-Type: text/plain\n\nhi', 'From:x\n\nContent-Type: text/plain\n\nhi', 'Fr om: <sip:a@x>\n\nContent-Type: text/plain\n\nhi']) {
      assert.throws(() => parseCpim(bad), /malformed header line/, bad);
    }
  });

  it('refuses malformed wrappers with a clear error', () => {
    const cases: Array<[string, RegExp]> = [
      ['From: <sip:a@x>\r\n\r\nContent-Type: text/plain\r\nhi', /no blank line after the content headers/],
      ['From: <sip:a@x>', /no blank line after the message headers/],
      ['From <sip:a@x>\r\n\r\nContent-Type: text/plain\r\n\r\nhi', /malformed header line/],
      ['From: sip a x\r\n\r\nContent-Type: text/plain\r\n\r\nhi', /From "sip a x" is not \[name\] <uri>/],
      ['DateTime: yesterday\r\n\r\nContent-Type: text/plain\r\n\r\nhi', /DateTime "yesterday" is not an RFC 3339 time/],
      ['From: <sip:a@x>\r\n\r\nContent-ID: <1@x>\r\n\r\nhi', /no Content-Type/],
      ['From: <sip:a@x>\r\nFrom: <sip:b@x>\r\n\r\nContent-Type: text/plain\r\n\r\nhi', /more than one From/],
      ['NS: <no uri\r\n\r\nContent-Type: text/plain\r\n\r\nhi', /NS "<no uri" is not/],
    ];
    for (const [text, why] of cases) {
      assert.throws(() => parseCpim(text), (e: unknown) => e instanceof CpimError && why.test(e.message), text);
    }
  });

  it('will not build a header that breaks its line or a bad time', () => {
    assert.throws(() => buildCpim({ subject: 'a\r\nFrom: <sip:evil@x>', contentType: 'text/plain', body: '' }), CpimError);
    assert.throws(() => buildCpim({ from: 'not a uri', contentType: 'text/plain', body: '' }), /bad URI/);
    assert.throws(() => buildCpim({ dateTime: '2020-13-45', contentType: 'text/plain', body: '' }), /RFC 3339/);
    assert.throws(() => buildCpim({ dateTime: new Date(NaN), contentType: 'text/plain', body: '' }), /invalid Date/);
  });
});
