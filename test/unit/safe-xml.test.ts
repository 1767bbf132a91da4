import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_XML_LIMITS,
  attributeKey,
  findChild,
  findChildren,
  parseXml,
  readAttribute,
  trimmedText,
} from '../../lib/xml/safe-xml';
import type { XmlElement, XmlResult } from '../../lib/xml/safe-xml';
import { projectRoot } from '../support/project-root';

const REGINFO = 'urn:ietf:params:xml:ns:reginfo';
const POC_SETTINGS = 'urn:oma:params:xml:ns:poc:poc-settings';


function vector(relative: string): string {
  return fs.readFileSync(path.join(projectRoot(), 'test', 'vectors', relative), 'utf8');
}

function root(result: XmlResult): XmlElement {
  if (!result.ok) assert.fail(`expected a document, got: ${result.error}`);
  return result.root;
}

function refusal(result: XmlResult): string {
  if (result.ok) assert.fail('expected a refusal, got a document');
  return result.error;
}

function nested(depth: number): string {
  return '<a>'.repeat(depth) + '</a>'.repeat(depth);
}

describe('safe-xml', () => {
  describe('public vectors', () => {
    // The copies must stay byte for byte: one RFC vector's point is a trailing space.
    const expected: Record<string, string> = {
      'README.md': 'a65be7c03f87267b6e08a08c839edef6fbd4e32f407efd0864dd32735f3e47ff',
      'reginfo/rfc3680-5.4-example.xml': '51dfd40f87c0642eb7849e42a5ce68291a5d3b9b121426ae46e11f6901c4fb2f',
      'reginfo/rfc3680-6-notify-init.xml': '23cb4373a5039ba337395f6447bcb3a163bd31d7a72aed6d88a015e626de9966',
      'reginfo/rfc3680-6-notify-partial-active.xml': '1fec6afb35d2fa68f1fe2b90be36976f32c5612d7a79893c0172afbb91fbab33',
      'poc-settings/minimal-am-only.xml': '986be1a90a99a56734b873a3144b50b7a8b131b6e3847c312600424b1723d760',
      'negative/billion-laughs.xml': 'c64e66df8cda6921f90065ada9801646b28583d3f2ab0c4747c6a2787d0c0768',
    };
    for (const [file, sha256] of Object.entries(expected)) {
      it(`${file} is the public copy, byte for byte`, () => {
        const bytes = fs.readFileSync(path.join(projectRoot(), 'test', 'vectors', file));
        assert.equal(createHash('sha256').update(bytes).digest('hex'), sha256);
      });
    }

    it('reads the RFC 3680 example by namespace and local name', () => {
      const doc = root(parseXml(vector('reginfo/rfc3680-5.4-example.xml')));
      assert.equal(doc.ns, REGINFO);
      assert.equal(doc.name, 'reginfo');
      assert.equal(readAttribute(doc, 'version'), '0');
      assert.equal(readAttribute(doc, 'state'), 'full');
      // Namespace declarations (xmlns, xmlns:xsi) are not attributes.
      assert.deepEqual([...doc.attrs.keys()].sort(), ['state', 'version']);
      const registration = findChild(doc, REGINFO, 'registration');
      assert.ok(registration);
      const contacts = findChildren(registration, REGINFO, 'contact');
      assert.deepEqual(
        contacts.map((c) => readAttribute(c, 'id')),
        ['76', '77'],
      );
      const uri = findChild(contacts[1], REGINFO, 'uri');
      assert.ok(uri);
      assert.equal(trimmedText(uri), 'sip:user@university.edu');
    });

    it('reads the poc-settings vector, which has no XML declaration', () => {
      const doc = root(parseXml(vector('poc-settings/minimal-am-only.xml')));
      assert.equal(doc.ns, POC_SETTINGS);
      assert.equal(doc.name, 'poc-settings');
      const entity = findChild(doc, POC_SETTINGS, 'entity');
      assert.ok(entity);
      assert.equal(readAttribute(entity, 'id'), 'smoke');
      const am = findChild(entity, POC_SETTINGS, 'am-settings');
      assert.ok(am);
      const mode = findChild(am, POC_SETTINGS, 'answer-mode');
      assert.ok(mode);
      assert.equal(trimmedText(mode), 'automatic');
      assert.equal(findChild(entity, POC_SETTINGS, 'isb-settings'), undefined);
    });
  });

  describe('namespaces', () => {
    it('gives the same names whatever the prefix', () => {
      const prefixed = root(parseXml('<p:a xmlns:p="urn:x"><p:b/></p:a>'));
      const defaulted = root(parseXml('<a xmlns="urn:x"><b/></a>'));
      const other = root(parseXml('<zz:a xmlns:zz="urn:x"><b xmlns="urn:x"/></zz:a>'));
      for (const doc of [prefixed, defaulted, other]) {
        assert.equal(doc.ns, 'urn:x');
        assert.equal(doc.name, 'a');
        assert.equal(doc.children[0].ns, 'urn:x');
        assert.equal(doc.children[0].name, 'b');
      }
    });

    it('does not match a child in another namespace with the same local name', () => {
      const doc = root(parseXml('<a xmlns="urn:x" xmlns:o="urn:other"><o:b/><b/><o:b/></a>'));
      assert.equal(findChildren(doc, 'urn:x', 'b').length, 1);
      assert.equal(findChildren(doc, 'urn:other', 'b').length, 2);
      assert.equal(findChild(doc, '', 'b'), undefined);
    });

    it('keys attributes by namespace; unprefixed ones are in no namespace', () => {
      const doc = root(parseXml('<a xmlns="urn:x" xmlns:p="urn:p" plain="1" p:qualified="2" xml:lang="en"/>'));
      assert.equal(readAttribute(doc, 'plain'), '1');
      assert.equal(readAttribute(doc, 'qualified'), undefined);
      assert.equal(readAttribute(doc, 'qualified', 'urn:p'), '2');
      assert.equal(readAttribute(doc, 'lang', 'http://www.w3.org/XML/1998/namespace'), 'en');
      assert.equal(doc.attrs.get(attributeKey('urn:p', 'qualified')), '2');
      assert.equal(doc.attrs.get('{urn:p}qualified'), '2');
      assert.equal(doc.attrs.size, 3);
    });

    it('undoes a default namespace with xmlns=""', () => {
      const doc = root(parseXml('<a xmlns="urn:x"><b xmlns=""/></a>'));
      assert.equal(doc.children[0].ns, '');
    });

    it('refuses an unbound prefix', () => {
      assert.match(refusal(parseXml('<x:a/>')), /^XML malformed: .*unbound namespace prefix/);
    });
  });

  describe('text', () => {
    it('decodes the predefined entities, character references and CDATA', () => {
      const doc = root(parseXml('<a t="&lt;&#65;&#x42;&quot;">&amp;&lt;&gt;&apos;&quot;&#x1F600;<![CDATA[<b>&amp;]]></a>'));
      assert.equal(doc.text, `&<>'"\u{1F600}<b>&amp;`);
      assert.equal(readAttribute(doc, 't'), '<AB"');
      assert.equal(doc.children.length, 0);
    });

    it('trims XML white space only', () => {
      const doc = root(parseXml('<a> \t\r\n\u00a0x\u00a0 \n</a>'));
      assert.equal(trimmedText(doc), '\u00a0x\u00a0');
    });

    it('keeps the text of each element to itself', () => {
      const doc = root(parseXml('<a>one<b>two</b>three</a>'));
      assert.equal(doc.text, 'onethree');
      assert.equal(doc.children[0].text, 'two');
    });

    it('ignores comments and processing instructions', () => {
      const doc = root(parseXml('<?xml version="1.0"?><!-- c --><?pi x?><a><!-- in --><?pi y?>t</a><!-- after -->'));
      assert.equal(doc.text, 't');
      assert.equal(doc.children.length, 0);
    });

    it('accepts white space before the XML declaration', () => {
      const doc = root(parseXml('\r\n  <?xml version="1.0"?>\n<a/>'));
      assert.equal(doc.name, 'a');
    });
  });

  describe('refusals', () => {
    it('refuses the billion laughs without expanding it', () => {
      assert.equal(refusal(parseXml(vector('negative/billion-laughs.xml'))), 'XML refused: DOCTYPE is not allowed');
    });

    it('refuses an external entity (XXE)', () => {
      assert.equal(refusal(parseXml(vector('negative/xxe-external-entity.xml'))), 'XML refused: DOCTYPE is not allowed');
    });

    it('refuses an external DTD', () => {
      assert.equal(refusal(parseXml(vector('negative/external-dtd.xml'))), 'XML refused: DOCTYPE is not allowed');
    });

    it('refuses a DOCTYPE behind comments and processing instructions', () => {
      const text = '<?xml version="1.0"?>\n<!-- x --><?pi?>\n<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>';
      assert.equal(refusal(parseXml(text)), 'XML refused: DOCTYPE is not allowed');
    });

    it('refuses a DOCTYPE before reading its internal subset', () => {
      // Unterminated: a parser that waited for its end would call it malformed instead.
      const text = `<?xml version="1.0"?><!DOCTYPE a [${'<!ENTITY e "x">'.repeat(3000)}`;
      assert.equal(refusal(parseXml(text)), 'XML refused: DOCTYPE is not allowed');
    });

    it('refuses a DOCTYPE after the root element too', () => {
      assert.equal(refusal(parseXml('<a/><!DOCTYPE a>')), 'XML refused: DOCTYPE is not allowed');
    });

    it('does not mistake a DOCTYPE inside a comment for one', () => {
      assert.equal(root(parseXml('<!-- <!DOCTYPE a> --><a/>')).name, 'a');
    });

    it('refuses an entity that is not predefined, naming it', () => {
      assert.equal(
        refusal(parseXml(vector('negative/undeclared-entity.xml'))),
        'XML refused: entity reference &nbsp; is not allowed',
      );
    });

    it('refuses an undefined entity in an attribute', () => {
      assert.equal(refusal(parseXml('<a b="x&ext;"/>')), 'XML refused: entity reference &ext; is not allowed');
    });

    it('refuses entity names that exist on Object.prototype', () => {
      for (const name of ['constructor', '__proto__', 'toString']) {
        assert.equal(refusal(parseXml(`<a>&${name};</a>`)), `XML refused: entity reference &${name}; is not allowed`);
      }
    });

    it('refuses input over 64 KiB before parsing, counting UTF-8 bytes', () => {
      const big = `<a>${'x'.repeat(70000 - 7)}</a>`;
      assert.equal(refusal(parseXml(big)), 'XML refused: 70000 bytes exceeds 65536');
      // 33,000 two-byte characters: fewer than 65,536 UTF-16 units, more bytes.
      const wide = `<a>${'é'.repeat(33000)}</a>`;
      assert.ok(wide.length < 65536);
      assert.equal(refusal(parseXml(wide)), `XML refused: ${66007} bytes exceeds 65536`);
    });

    it('accepts exactly the byte limit and honours a smaller one', () => {
      const exact = `<a>${'x'.repeat(DEFAULT_XML_LIMITS.maxBytes - 7)}</a>`;
      assert.equal(Buffer.byteLength(exact), 65536);
      assert.equal(root(parseXml(exact)).name, 'a');
      assert.equal(refusal(parseXml('<a>12345</a>', { maxBytes: 10 })), 'XML refused: 12 bytes exceeds 10');
    });

    it('refuses nesting deeper than 64 elements', () => {
      assert.equal(root(parseXml(nested(64))).name, 'a');
      assert.equal(refusal(parseXml(nested(65))), 'XML refused: nesting deeper than 64 elements');
      assert.equal(refusal(parseXml(vector('negative/deep-nesting.xml'))), 'XML refused: nesting deeper than 64 elements');
      assert.equal(refusal(parseXml(nested(4), { maxDepth: 3 })), 'XML refused: nesting deeper than 3 elements');
    });

    it('refuses more than 10,000 elements', () => {
      const ok = `<r>${'<a/>'.repeat(9999)}</r>`;
      assert.equal(root(parseXml(ok)).children.length, 9999);
      const tooMany = `<r>${'<a/>'.repeat(10000)}</r>`;
      assert.equal(refusal(parseXml(tooMany)), 'XML refused: more than 10000 elements');
    });

    it('reports malformed documents instead of throwing', () => {
      const cases = ['', '   ', 'text', '<a>', '<a></b>', '<a/><b/>', '<a x="1" x="2"/>', '<a>&#0;</a>', '<a>\u0000</a>', '<'];
      for (const text of cases) {
        assert.match(refusal(parseXml(text)), /^XML (malformed|refused): /, JSON.stringify(text));
      }
    });

    it('refuses what is not text', () => {
      for (const input of [undefined, null, 42, Buffer.from('<a/>'), {}]) {
        assert.equal(refusal(parseXml(input as unknown as string)), 'XML refused: input is not text');
      }
    });

    it('never throws on mangled documents', () => {
      const base = vector('reginfo/rfc3680-5.4-example.xml');
      const alphabet = ['<', '>', '&', ';', '"', '/', '!', '?', '[', ']', ':', '=', 'x', ' ', '\u0000', '#'];
      let seed = 12345;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      let refused = 0;
      for (let round = 0; round < 500; round++) {
        const chars = base.split('');
        for (let k = 0; k < 3; k++) chars[random(chars.length)] = alphabet[random(alphabet.length)];
        const result = parseXml(chars.join(''));
        assert.equal(typeof result.ok, 'boolean');
        if (!result.ok) {
          refused++;
          assert.match(result.error, /^XML (malformed|refused): /);
        }
      }
      assert.ok(refused > 0);
    });
  });
});
