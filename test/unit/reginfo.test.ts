import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ReginfoView, isEmptyBody, readReginfo, writeReginfo } from '../../lib/reginfo';
import type {
  ApplyResult,
  Contact,
  ContactChange,
  ReginfoChange,
  ReginfoDocument,
  RegistrationChange,
} from '../../lib/reginfo';
import { projectRoot } from '../support/project-root';

function vector(relative: string): string {
  return fs.readFileSync(path.join(projectRoot(), 'test', 'vectors', relative), 'utf8');
}

function read(text: string): ReginfoDocument {
  const result = readReginfo(text);
  if (!result.ok) assert.fail(`expected a document, got: ${result.error}`);
  return result.doc;
}

function readVector(name: string): ReginfoDocument {
  return read(vector(`reginfo/${name}`));
}

function readError(text: string): string {
  const result = readReginfo(text);
  if (result.ok) assert.fail('expected the document to be refused');
  return result.error;
}

function changesOf(result: ApplyResult): ReginfoChange[] {
  if (result.needFullState) assert.fail(`expected changes, got needFullState: ${result.reason}`);
  return result.changes;
}

function contactChanges(result: ApplyResult): ContactChange[] {
  return changesOf(result).filter((c): c is ContactChange => c.kind === 'contact');
}

function registrationChanges(result: ApplyResult): RegistrationChange[] {
  return changesOf(result).filter((c): c is RegistrationChange => c.kind === 'registration');
}

/** A compact picture of contact changes: id, event, state, inferred. */
function summary(changes: ContactChange[]): string[] {
  return changes.map((c) => `${c.contactId} ${c.event} ${c.state}${c.inferred ? ' inferred' : ''}`);
}

const NS = 'xmlns="urn:ietf:params:xml:ns:reginfo"';

function doc(body: string, attrs = 'version="0" state="full"'): string {
  return `<?xml version="1.0"?>\n<reginfo ${NS} ${attrs}>${body}</reginfo>`;
}

function contactXml(id: string, state: string, event: string, extra = '', uri = `sip:u@192.0.2.${id.length}`): string {
  return `<contact id="${id}" state="${state}" event="${event}"${extra}><uri>${uri}</uri></contact>`;
}

describe('reginfo reader', () => {
  it('reads the RFC 3680 §5.4 example', () => {
    assert.deepStrictEqual(readVector('rfc3680-5.4-example.xml'), {
      version: 0,
      state: 'full',
      registrations: [
        {
          aor: 'sip:user@example.com',
          id: 'as9',
          state: 'active',
          contacts: [
            {
              id: '76',
              state: 'active',
              event: 'registered',
              uri: 'sip:user@pc887.example.com',
              durationRegistered: 7322,
              q: '0.8',
              unknownParams: [],
            },
            {
              id: '77',
              state: 'terminated',
              event: 'expired',
              uri: 'sip:user@university.edu',
              durationRegistered: 3600,
              q: '0.5',
              unknownParams: [],
            },
          ],
        },
      ],
    });
  });

  it('reads the RFC 3680 §6 first NOTIFY: a registration in init', () => {
    assert.deepStrictEqual(readVector('rfc3680-6-notify-init.xml'), {
      version: 0,
      state: 'full',
      registrations: [{ aor: 'sip:joe@example.com', id: 'a7', state: 'init', contacts: [] }],
    });
  });

  it('reads the RFC 3680 §6 partial NOTIFY and trims the URI', () => {
    const parsed = readVector('rfc3680-6-notify-partial-active.xml');
    assert.equal(parsed.version, 1);
    assert.equal(parsed.state, 'partial');
    assert.equal(parsed.registrations[0].state, 'active');
    assert.deepStrictEqual(parsed.registrations[0].contacts, [
      { id: '76', state: 'active', event: 'registered', uri: 'sip:joe@pc34.example.com', durationRegistered: 0, unknownParams: [] },
    ]);
  });

  it("reads Kamailio pua_reginfo's extra contact attributes", () => {
    const parsed = readVector('kamailio-1-created.xml');
    assert.equal(parsed.version, 0);
    assert.equal(parsed.state, 'full');
    assert.deepStrictEqual(parsed.registrations[0].contacts[0], {
      id: '0x7f3a5c1e3d88',
      state: 'active',
      event: 'created',
      uri: 'sip:alice@192.0.2.10:5070;transport=udp',
      expires: 3600,
      q: '1.000',
      callId: 'b7c1f0e2-4d6a-4c3e-9a51-1f2e3d4c5b6a',
      cseq: 2,
      unknownParams: [],
      extraAttributes: { received: 'sip:192.0.2.10:5070', path: '<sip:edge.lab.test;lr>', user_agent: 'PoC-client/OMA2.0' },
    });
  });

  it("reads Kamailio's expired binding: a registration without a contact", () => {
    assert.deepStrictEqual(readVector('kamailio-5-all-expired.xml').registrations, [
      { aor: 'sip:alice@lab.test', id: '0x7f3a5c1e2b40', state: 'terminated', contacts: [] },
    ]);
  });

  it('reads the RFC 5628 GRUU extension', () => {
    const contact = readVector('rfc5628-gruu.xml').registrations[0].contacts[0];
    assert.equal(contact.pubGruu, 'sip:user@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
    assert.deepStrictEqual(contact.tempGruu, {
      uri: 'sip:tgruu.7hs==jd7vnzga5w7fajsc7-ajd6fabz0f8g5@example.com;gr',
      firstCseq: 54301,
    });
    assert.deepStrictEqual(contact.unknownParams, [
      { name: '+sip.instance', value: '"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"' },
    ]);
  });

  it('ignores unknown elements, attributes and namespaces', () => {
    const parsed = readVector('unknown-extensions.xml');
    assert.equal(parsed.version, 4);
    assert.equal(parsed.registrations.length, 1);
    const registration = parsed.registrations[0];
    assert.equal(registration.aor, 'sip:bob@lab.test');
    assert.deepStrictEqual(registration.contacts, [
      {
        id: 'c1',
        state: 'active',
        event: 'shortened',
        uri: 'sip:bob@198.51.100.7:5060;transport=tcp',
        displayName: 'Bob & Co',
        displayNameLang: 'en',
        expires: 120,
        retryAfter: 30,
        callId: 'call-1@lab.test',
        cseq: 5,
        unknownParams: [
          { name: '+g.oma.sip-im', value: '' },
          { name: '+g.3gpp.icsi-ref', value: '"urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg"' },
        ],
        extraAttributes: { 'unknown-plain': 'kept as extra' },
      },
    ]);
  });

  it('goes by namespace, never by prefix', () => {
    const parsed = readVector('odd-prefixes.xml');
    assert.equal(parsed.version, 2, 'the unprefixed version attribute, not ri:version');
    assert.deepStrictEqual(parsed.registrations, [
      {
        aor: 'sip:carol@lab.test',
        id: 'reg-7',
        state: 'active',
        contacts: [
          {
            id: 'c9',
            state: 'active',
            event: 'registered',
            uri: 'sip:carol@203.0.113.5:5080',
            unknownParams: [],
            pubGruu: 'sip:carol@lab.test;gr=urn:uuid:0f8e3a52-91c4-4d55-b7a0-8c1d2e3f4a5b',
          },
        ],
      },
      { aor: 'sip:dave@lab.test', id: 'reg-8', state: 'init', contacts: [] },
    ]);
  });

  it('reads a prefixed document the same as a default-namespace one', () => {
    const prefixed = vector('reginfo/rfc3680-5.4-example.xml')
      .replace('xmlns="urn:ietf:params:xml:ns:reginfo"', 'xmlns:q1="urn:ietf:params:xml:ns:reginfo"')
      .replace(/<(\/?)(reginfo|registration|contact|uri)\b/g, '<$1q1:$2');
    assert.notEqual(prefixed, vector('reginfo/rfc3680-5.4-example.xml'));
    assert.deepStrictEqual(read(prefixed), readVector('rfc3680-5.4-example.xml'));
  });

  describe('refusals', () => {
    it('refuses a missing or invalid version', () => {
      assert.equal(readError(doc('', 'state="full"')), 'reginfo: the version attribute is missing');
      for (const bad of ['abc', '-1', '1.5', '', '99999999999999999999']) {
        assert.equal(
          readError(doc('', `version="${bad}" state="full"`)),
          `reginfo: version ${JSON.stringify(bad)} is not a non-negative integer`,
        );
      }
    });

    it('accepts the lexical forms of xs:nonNegativeInteger', () => {
      assert.equal(read(doc('', 'version=" +007 " state="full"')).version, 7);
    });

    it('refuses a missing or invalid document state', () => {
      assert.equal(readError(doc('', 'version="0"')), 'reginfo: the state attribute is missing');
      assert.equal(readError(doc('', 'version="0" state="Full"')), 'reginfo: state "Full" is not one of full, partial');
    });

    it('refuses a root that is not reginfo in its namespace', () => {
      assert.match(
        readError('<reginfo version="0" state="full"/>'),
        /^reginfo: the root element is <reginfo> in no namespace, not <reginfo> in urn:ietf:params:xml:ns:reginfo$/,
      );
      assert.match(readError(`<registration ${NS} aor="a" id="b" state="init"/>`), /root element is <registration>/);
    });

    it('refuses registrations without aor, id or a valid state', () => {
      assert.match(readError(doc('<registration id="r" state="init"/>')), /registration number 1: the aor attribute is missing/);
      assert.match(readError(doc('<registration aor="sip:a@b" state="init"/>')), /registration "sip:a@b" \(id ""\): the id attribute is missing/);
      assert.match(
        readError(doc('<registration aor="sip:a@b" id="r" state="gone"/>')),
        /registration "sip:a@b" \(id "r"\): state "gone" is not one of init, active, terminated/,
      );
    });

    it('refuses contacts without id, uri, or a valid state and event', () => {
      const wrap = (c: string) => doc(`<registration aor="sip:a@b" id="r" state="active">${c}</registration>`);
      assert.match(readError(wrap('<contact state="active" event="registered"><uri>sip:x</uri></contact>')), /contact without id: the id attribute/);
      assert.match(readError(wrap('<contact id="c" state="active" event="registered"/>')), /contact "c": the <uri> element is missing or empty/);
      assert.match(readError(wrap('<contact id="c" state="active" event="registered"><uri> </uri></contact>')), /<uri> element is missing or empty/);
      assert.match(readError(wrap(contactXml('c', 'active', 'unknown'))), /contact "c": event "unknown" is not one of registered, created/);
      assert.match(readError(wrap(contactXml('c', 'expired', 'expired'))), /contact "c": state "expired" is not one of active, terminated/);
    });

    it('refuses a registration or contact that appears twice', () => {
      const registration = '<registration aor="sip:a@b" id="r" state="init"/>';
      assert.match(readError(doc(registration + registration)), /registration "sip:a@b" \(id "r"\) appears twice/);
      const twice = contactXml('c', 'active', 'registered') + contactXml('c', 'active', 'refreshed');
      assert.match(readError(doc(`<registration aor="sip:a@b" id="r" state="active">${twice}</registration>`)), /contact "c" appears twice/);
    });

    it('keeps an extra attribute named __proto__ as plain data', () => {
    const parsed = read(
      doc(
        `<registration aor="sip:a@b" id="r" state="active">${contactXml('c', 'active', 'registered', ' __proto__="polluted" constructor="c"')}</registration>`,
      ),
    );
    const extras = parsed.registrations[0].contacts[0].extraAttributes;
    assert.ok(extras);
    assert.deepStrictEqual(Object.keys(extras), ['__proto__', 'constructor']);
    assert.equal(Object.getOwnPropertyDescriptor(extras, '__proto__')?.value, 'polluted');
    assert.equal(Object.getPrototypeOf(extras), Object.prototype);
    assert.deepStrictEqual(read(writeReginfo(parsed)), parsed);
  });

  it('keeps the same id under two AoRs apart', () => {
      const body =
        '<registration aor="sip:a@b" id="0x1" state="init"/><registration aor="tel:+15550100" id="0x1" state="init"/>';
      assert.equal(read(doc(body)).registrations.length, 2);
    });

    it('leaves out an optional attribute that is not a valid number', () => {
      const parsed = read(
        doc(
          `<registration aor="sip:a@b" id="r" state="active">${contactXml('c', 'active', 'registered', ' expires="-5" cseq="x" duration-registered="1e3" retry-after="7"')}</registration>`,
        ),
      );
      const contact = parsed.registrations[0].contacts[0];
      assert.equal(contact.expires, undefined);
      assert.equal(contact.cseq, undefined);
      assert.equal(contact.durationRegistered, undefined);
      assert.equal(contact.retryAfter, 7);
      assert.ok(!('expires' in contact));
    });

    it('ignores a temp-gruu without first-cseq and GRUUs without a URI', () => {
      const gruus =
        '<gr:pub-gruu uri=" "/><gr:temp-gruu uri="sip:t@b;gr"/>';
      const parsed = read(
        doc(
          `<registration aor="sip:a@b" id="r" state="active"><contact id="c" state="active" event="registered" xmlns:gr="urn:ietf:params:xml:ns:gruuinfo"><uri>sip:c@d</uri>${gruus}</contact></registration>`,
        ),
      );
      const contact = parsed.registrations[0].contacts[0];
      assert.equal(contact.pubGruu, undefined);
      assert.equal(contact.tempGruu, undefined);
    });

    it('passes on the XML refusals of hostile documents', () => {
      assert.equal(readError(vector('negative/billion-laughs.xml')), 'XML refused: DOCTYPE is not allowed');
      assert.equal(readError(vector('negative/xxe-external-entity.xml')), 'XML refused: DOCTYPE is not allowed');
      assert.equal(readError(vector('negative/external-dtd.xml')), 'XML refused: DOCTYPE is not allowed');
      assert.equal(readError(vector('negative/undeclared-entity.xml')), 'XML refused: entity reference &nbsp; is not allowed');
      assert.equal(readError(vector('negative/deep-nesting.xml')), 'XML refused: nesting deeper than 64 elements');
    });

    it('refuses an oversized document that is otherwise valid', () => {
      const generated = (contacts: number) => {
        let body = '';
        for (let i = 0; i < contacts; i++) {
          body += contactXml(`c${i}`, 'active', 'registered', ` expires="3600" callid="call-${i}@lab.test" cseq="${i}"`, `sip:user${i}@192.0.2.1:5060`);
        }
        return doc(`<registration aor="sip:big@lab.test" id="r" state="active">${body}</registration>`);
      };
      const small = generated(300);
      assert.ok(Buffer.byteLength(small) < 65536);
      assert.equal(read(small).registrations[0].contacts.length, 300);
      const big = generated(1000);
      const bytes = Buffer.byteLength(big);
      assert.ok(bytes > 65536);
      assert.equal(readError(big), `XML refused: ${bytes} bytes exceeds 65536`);
    });

    it('refuses an empty body, which isEmptyBody recognises', () => {
      assert.match(readError(''), /^reginfo: the body is empty/);
      assert.match(readError(' \r\n'), /^reginfo: the body is empty/);
      assert.equal(isEmptyBody(''), true);
      assert.equal(isEmptyBody('\r\n \t'), true);
      assert.equal(isEmptyBody(undefined), true);
      assert.equal(isEmptyBody(null), true);
      assert.equal(isEmptyBody(Buffer.alloc(0)), true);
      assert.equal(isEmptyBody(Buffer.from(' \r\n')), true);
      assert.equal(isEmptyBody(Buffer.from(' <a/>')), false);
      assert.equal(isEmptyBody(vector('reginfo/rfc3680-6-notify-init.xml')), false);
    });
  });
});

describe('reginfo writer', () => {
  const vectors = [
    'rfc3680-5.4-example.xml',
    'rfc3680-6-notify-init.xml',
    'rfc3680-6-notify-partial-active.xml',
    'kamailio-1-created.xml',
    'kamailio-3-refreshed.xml',
    'kamailio-5-all-expired.xml',
    'rfc5628-gruu.xml',
    'unknown-extensions.xml',
    'odd-prefixes.xml',
  ];
  for (const name of vectors) {
    it(`reads back what it wrote for ${name}`, () => {
      const original = readVector(name);
      assert.deepStrictEqual(read(writeReginfo(original)), original);
    });
  }

  it('writes the declaration, the default namespace, and gr only with GRUUs', () => {
    const plain = writeReginfo(readVector('rfc3680-5.4-example.xml'));
    assert.match(plain, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">/);
    assert.doesNotMatch(plain, /xmlns:gr/);
    const gruu = writeReginfo(readVector('rfc5628-gruu.xml'));
    assert.match(gruu, /<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" xmlns:gr="urn:ietf:params:xml:ns:gruuinfo" version="1" state="full">/);
    assert.match(gruu, /<gr:temp-gruu uri="sip:tgruu\.7hs==jd7vnzga5w7fajsc7-ajd6fabz0f8g5@example\.com;gr" first-cseq="54301"\/>/);
  });

  it('escapes text and attributes so that they read back unchanged', () => {
    const awkward: ReginfoDocument = {
      version: 12,
      state: 'partial',
      registrations: [
        {
          aor: 'sip:"o\'neil"&<co>@lab.test',
          id: 'tab\there\nnewline\rreturn',
          state: 'active',
          contacts: [
            {
              id: ']]>',
              state: 'active',
              event: 'probation',
              uri: 'sip:a@b;x=<&>',
              displayName: 'line one\r\nline two ]]> & "quoted"',
              retryAfter: 90,
              callId: 'a"b\'c<d>&e',
              unknownParams: [{ name: 'p"&<', value: '"<urn:uuid:1>" & ]]>' }],
              extraAttributes: { user_agent: 'UA "1" <x>', received: '' },
            },
          ],
        },
      ],
    };
    const written = writeReginfo(awkward);
    assert.doesNotMatch(written, /]]>/);
    assert.deepStrictEqual(read(written), awkward);
  });

  it('writes characters XML cannot carry as U+FFFD, and still a document', () => {
    const model: ReginfoDocument = {
      version: 0,
      state: 'full',
      registrations: [{ aor: 'sip:a\u0001b@c', id: 'r\uD800', state: 'init', contacts: [] }],
    };
    const back = read(writeReginfo(model));
    assert.equal(back.registrations[0].aor, 'sip:a\uFFFDb@c');
    assert.equal(back.registrations[0].id, 'r\uFFFD');
  });

  it('leaves out numbers outside xs:unsignedLong and extra attributes it cannot name', () => {
    const contact: Contact = {
      id: 'c',
      state: 'active',
      event: 'registered',
      uri: 'sip:c@d',
      expires: -1,
      cseq: 1.5,
      durationRegistered: Number.NaN,
      unknownParams: [],
      extraAttributes: { 'ns:attr': 'x', 'bad name': 'y', id: 'override', xmlns: 'urn:evil', ok: 'z' },
    };
    const written = writeReginfo({
      version: -3,
      state: 'full',
      registrations: [{ aor: 'sip:a@b', id: 'r', state: 'active', contacts: [contact] }],
    });
    const back = read(written);
    assert.equal(back.version, 0);
    assert.deepStrictEqual(back.registrations[0].contacts[0], {
      id: 'c',
      state: 'active',
      event: 'registered',
      uri: 'sip:c@d',
      unknownParams: [],
      extraAttributes: { ok: 'z' },
    });
  });
});

describe('reginfo view', () => {
  function clock(start = 1_000_000) {
    let now = start;
    return { now: () => now, advance: (seconds: number) => (now += seconds * 1000) };
  }

  it('follows the RFC 3680 §6 flow: init, then a partial activation', () => {
    const view = new ReginfoView();
    const first = view.apply(readVector('rfc3680-6-notify-init.xml'));
    assert.deepStrictEqual(changesOf(first), [
      { kind: 'registration', aor: 'sip:joe@example.com', registrationId: 'a7', event: 'init', state: 'init', activeContacts: 0 },
    ]);
    const second = view.apply(readVector('rfc3680-6-notify-partial-active.xml'));
    assert.deepStrictEqual(summary(contactChanges(second)), ['76 registered active']);
    assert.equal(contactChanges(second)[0].uri, 'sip:joe@pc34.example.com');
    assert.equal(contactChanges(second)[0].previousState, undefined);
    assert.deepStrictEqual(registrationChanges(second), [
      {
        kind: 'registration',
        aor: 'sip:joe@example.com',
        registrationId: 'a7',
        event: 'registered',
        state: 'active',
        previousState: 'init',
        activeContacts: 1,
      },
    ]);
    assert.equal(view.currentVersion, 1);
    assert.equal(view.snapshot().registrations[0].contacts[0].uri, 'sip:joe@pc34.example.com');
  });

  it('asks for full state when a partial comes first', () => {
    const view = new ReginfoView();
    const result = view.apply(readVector('rfc3680-6-notify-partial-active.xml'));
    assert.deepStrictEqual(result, { needFullState: true, reason: 'partial document (version 1) before any full document' });
    assert.deepStrictEqual(view.snapshot(), { version: undefined, registrations: [] });
  });

  it('asks for full state on a version gap or a repeat, and keeps its view', () => {
    const view = new ReginfoView();
    changesOf(view.apply(readVector('rfc3680-6-notify-init.xml')));
    const partial = readVector('rfc3680-6-notify-partial-active.xml');
    const gap = view.apply({ ...partial, version: 2 });
    assert.deepStrictEqual(gap, { needFullState: true, reason: 'partial document version 2 does not follow version 0' });
    assert.equal(view.snapshot().registrations[0].state, 'init');
    changesOf(view.apply(partial));
    const repeat = view.apply(partial);
    assert.deepStrictEqual(repeat, { needFullState: true, reason: 'partial document version 1 does not follow version 1' });
    const lower = view.apply({ ...partial, version: 0 });
    assert.equal(lower.needFullState, true);
    assert.equal(view.currentVersion, 1);
  });

  it('accepts a full document whatever its version, and partials follow it', () => {
    const view = new ReginfoView();
    changesOf(view.apply({ ...readVector('rfc3680-6-notify-init.xml'), version: 7 }));
    changesOf(view.apply({ ...readVector('rfc3680-6-notify-init.xml'), version: 3 }));
    assert.equal(view.currentVersion, 3);
    const partial = readVector('rfc3680-6-notify-partial-active.xml');
    assert.equal(view.apply(partial).needFullState, true);
    assert.deepStrictEqual(summary(contactChanges(view.apply({ ...partial, version: 4 }))), ['76 registered active']);
  });

  it('reports every contact of a first full document, and nothing when it repeats', () => {
    const view = new ReginfoView();
    const example = readVector('rfc3680-5.4-example.xml');
    assert.deepStrictEqual(summary(contactChanges(view.apply(example))), ['76 registered active', '77 expired terminated']);
    assert.deepStrictEqual(changesOf(view.apply(readVector('rfc3680-5.4-example.xml'))), []);
  });

  it('accepts Kamailio repeating version 0 full, reporting only what changed', () => {
    const time = clock();
    const view = new ReginfoView({ now: time.now });

    const created = view.apply(readVector('kamailio-1-created.xml'));
    assert.deepStrictEqual(summary(contactChanges(created)), ['0x7f3a5c1e3d88 created active']);
    assert.deepStrictEqual(
      registrationChanges(created).map((r) => [r.event, r.state, r.activeContacts]),
      [['registered', 'active', 1]],
    );
    assert.deepStrictEqual(changesOf(view.apply(readVector('kamailio-1-created.xml'))), []);

    time.advance(60);
    // The first contact turns "registered" with less time left: no news.
    const second = view.apply(readVector('kamailio-2-second-created.xml'));
    assert.deepStrictEqual(summary(contactChanges(second)), ['0x7f3a5c1e4f10 created active']);
    assert.deepStrictEqual(registrationChanges(second), []);

    time.advance(10);
    const refreshed = view.apply(readVector('kamailio-3-refreshed.xml'));
    assert.deepStrictEqual(summary(contactChanges(refreshed)), ['0x7f3a5c1e3d88 refreshed active']);
    assert.equal(contactChanges(refreshed)[0].previousState, 'active');
    assert.equal(contactChanges(refreshed)[0].contact.cseq, 3);

    time.advance(55); // the second binding had 50 s left
    const oneExpired = view.apply(readVector('kamailio-4-second-expired.xml'));
    assert.deepStrictEqual(summary(contactChanges(oneExpired)), ['0x7f3a5c1e4f10 expired terminated inferred']);
    assert.equal(contactChanges(oneExpired)[0].uri, 'sip:alice@192.0.2.11:5062');
    assert.deepStrictEqual(registrationChanges(oneExpired), []);

    time.advance(3600);
    const allExpired = view.apply(readVector('kamailio-5-all-expired.xml'));
    assert.deepStrictEqual(summary(contactChanges(allExpired)), ['0x7f3a5c1e3d88 expired terminated inferred']);
    assert.deepStrictEqual(registrationChanges(allExpired), [
      {
        kind: 'registration',
        aor: 'sip:alice@lab.test',
        registrationId: '0x7f3a5c1e2b40',
        event: 'unregistered',
        state: 'terminated',
        previousState: 'active',
        activeContacts: 0,
      },
    ]);
    assert.equal(view.currentVersion, 0);
    assert.deepStrictEqual(view.snapshot().registrations[0].contacts, []);
  });

  it('infers unregistered for a contact that disappears before its expiry', () => {
    const time = clock();
    const view = new ReginfoView({ now: time.now });
    changesOf(view.apply(readVector('kamailio-2-second-created.xml')));
    time.advance(5);
    const withoutSecond = readVector('kamailio-2-second-created.xml');
    withoutSecond.registrations[0].contacts.pop();
    const gone = view.apply(withoutSecond);
    assert.deepStrictEqual(summary(contactChanges(gone)), ['0x7f3a5c1e4f10 unregistered terminated inferred']);
    assert.equal(contactChanges(gone)[0].contact.state, 'terminated');
    assert.equal(contactChanges(gone)[0].contact.expires, 0);
  });

  it('reports a contact refreshed without a CSeq by its longer expiry', () => {
    const view = new ReginfoView();
    const at = (expires: number, event: string) =>
      read(doc(`<registration aor="sip:a@b" id="r" state="active">${contactXml('c', 'active', event, ` expires="${expires}"`)}</registration>`));
    changesOf(view.apply(at(600, 'registered')));
    assert.deepStrictEqual(changesOf(view.apply(at(590, 'registered'))), []);
    assert.deepStrictEqual(summary(contactChanges(view.apply(at(600, 'registered')))), ['c registered active']);
    assert.deepStrictEqual(summary(contactChanges(view.apply(at(300, 'shortened')))), ['c shortened active']);
  });

  it('reports a registration that leaves a full document, with its contacts', () => {
    const view = new ReginfoView();
    changesOf(view.apply(readVector('rfc3680-5.4-example.xml')));
    const result = view.apply(read(doc('')));
    assert.deepStrictEqual(summary(contactChanges(result)), ['76 unregistered terminated inferred']);
    assert.deepStrictEqual(
      registrationChanges(result).map((r) => [r.aor, r.event, r.state, r.previousState]),
      [['sip:user@example.com', 'unregistered', 'terminated', 'active']],
    );
    assert.deepStrictEqual(view.snapshot().registrations, []);
  });

  it('reports a registration whose contacts are all gone although it stays active', () => {
    const view = new ReginfoView();
    changesOf(view.apply(readVector('kamailio-1-created.xml')));
    const empty = read(doc('<registration aor="sip:alice@lab.test" id="0x7f3a5c1e2b40" state="active"/>'));
    const result = view.apply(empty);
    assert.deepStrictEqual(summary(contactChanges(result)), ['0x7f3a5c1e3d88 unregistered terminated inferred']);
    assert.deepStrictEqual(
      registrationChanges(result).map((r) => [r.event, r.state, r.previousState, r.activeContacts]),
      [['unregistered', 'active', 'active', 0]],
    );
  });

  it('merges partial documents contact by contact and drops terminated contacts', () => {
    const view = new ReginfoView();
    changesOf(view.apply(readVector('rfc3680-5.4-example.xml')));
    const added = read(
      doc(
        `<registration aor="sip:user@example.com" id="as9" state="active">${contactXml('78', 'active', 'created')}</registration>`,
        'version="1" state="partial"',
      ),
    );
    assert.deepStrictEqual(summary(contactChanges(view.apply(added))), ['78 created active']);
    assert.deepStrictEqual(
      view.snapshot().registrations[0].contacts.map((c) => c.id),
      ['76', '77', '78'],
    );
    const removed = read(
      doc(
        `<registration aor="sip:user@example.com" id="as9" state="active">${contactXml('76', 'terminated', 'deactivated')}</registration>`,
        'version="2" state="partial"',
      ),
    );
    const result = view.apply(removed);
    assert.deepStrictEqual(summary(contactChanges(result)), ['76 deactivated terminated']);
    assert.equal(contactChanges(result)[0].previousState, 'active');
    assert.deepStrictEqual(registrationChanges(result), []);
    assert.deepStrictEqual(
      view.snapshot().registrations[0].contacts.map((c) => c.id),
      ['77', '78'],
    );
  });

  it('terminates the unlisted contacts of a registration a partial terminates', () => {
    const view = new ReginfoView();
    changesOf(view.apply(readVector('rfc3680-5.4-example.xml')));
    const terminated = read(
      doc('<registration aor="sip:user@example.com" id="as9" state="terminated"/>', 'version="1" state="partial"'),
    );
    const result = view.apply(terminated);
    assert.deepStrictEqual(summary(contactChanges(result)), ['76 unregistered terminated inferred']);
    assert.deepStrictEqual(
      registrationChanges(result).map((r) => [r.event, r.state, r.previousState]),
      [['unregistered', 'terminated', 'active']],
    );
  });

  it('reports the contact events the notifier gives', () => {
    const view = new ReginfoView();
    changesOf(view.apply(read(doc('<registration aor="sip:a@b" id="r" state="init"/>'))));
    const events = ['created', 'refreshed', 'shortened', 'probation', 'rejected'];
    let version = 1;
    for (const event of events) {
      const state = event === 'probation' || event === 'rejected' ? 'terminated' : 'active';
      const partial = read(
        doc(
          `<registration aor="sip:a@b" id="r" state="active">${contactXml('c', state, event, ' retry-after="30"')}</registration>`,
          `version="${version++}" state="partial"`,
        ),
      );
      const [change] = contactChanges(view.apply(partial));
      assert.equal(change.event, event);
      assert.equal(change.state, state);
      assert.equal(change.inferred, false);
    }
  });

  it('hands out snapshots that cannot change the view', () => {
    const view = new ReginfoView();
    changesOf(view.apply(readVector('rfc3680-5.4-example.xml')));
    const snapshot = view.snapshot();
    snapshot.registrations[0].contacts[0].uri = 'sip:changed@example.com';
    snapshot.registrations[0].contacts.pop();
    assert.equal(view.snapshot().registrations[0].contacts[0].uri, 'sip:user@pc887.example.com');
    assert.equal(view.snapshot().registrations[0].contacts.length, 2);
  });

  it('is not changed by later edits to an applied document', () => {
    const view = new ReginfoView();
    const example = readVector('rfc3680-5.4-example.xml');
    changesOf(view.apply(example));
    example.registrations[0].contacts[0].state = 'terminated';
    example.registrations[0].contacts[0].unknownParams.push({ name: 'x', value: 'y' });
    assert.equal(view.snapshot().registrations[0].contacts[0].state, 'active');
    assert.deepStrictEqual(view.snapshot().registrations[0].contacts[0].unknownParams, []);
  });

  it('forgets everything on reset', () => {
    const view = new ReginfoView();
    changesOf(view.apply(readVector('rfc3680-6-notify-init.xml')));
    view.reset();
    assert.deepStrictEqual(view.snapshot(), { version: undefined, registrations: [] });
    assert.equal(view.apply(readVector('rfc3680-6-notify-partial-active.xml')).needFullState, true);
  });
});
