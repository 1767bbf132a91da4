// Writes a parsed element back as self-contained XML text: every namespace it
// and its descendants use is declared inside it, so the text means the same
// wherever it is pasted (an unqualified element gets xmlns="" so that it does
// not fall into the surrounding default namespace). The output is a function
// of the tree alone, so parsing and writing it again gives the same text.
//
// The tree keeps an element's character data as one string (see XmlElement.text),
// so mixed content cannot be rebuilt in place: text is written before the
// child elements, and white space between child elements (indentation) is left out.
import { attributeText, elementText } from './xml-escape';
import { trimXmlSpace } from './safe-xml';
import type { XmlElement } from './safe-xml';

const XML_NAMESPACE = 'http://www.w3.org/XML/1998/namespace';

export function serializeElement(element: XmlElement): string {
  const out: string[] = [];
  writeElement(out, element, undefined);
  return out.join('');
}

/** inheritedDefault is undefined at the top: nothing may be assumed there. */
function writeElement(out: string[], element: XmlElement, inheritedDefault: string | undefined): void {
  let start = `<${element.name}`;
  if (element.ns !== inheritedDefault) start += ` xmlns="${attributeText(element.ns)}"`;
  start += attributes(element);
  const text = element.children.length > 0 && trimXmlSpace(element.text) === '' ? '' : element.text;
  if (text === '' && element.children.length === 0) {
    out.push(`${start}/>`);
    return;
  }
  out.push(`${start}>`, elementText(text));
  for (const child of element.children) writeElement(out, child, element.ns);
  out.push(`</${element.name}>`);
}

// Attributes in a namespace need a prefix; each element declares its own
// (a0, a1, ...), which is never ambiguous because a declaration on an element
// covers that element's attributes.
function attributes(element: XmlElement): string {
  let declarations = '';
  let values = '';
  const prefixes = new Map<string, string>();
  for (const [key, value] of element.attrs) {
    const { ns, local } = splitAttributeKey(key);
    let qname = local;
    if (ns === XML_NAMESPACE) {
      qname = `xml:${local}`;
    } else if (ns !== '') {
      let prefix = prefixes.get(ns);
      if (prefix === undefined) {
        prefix = `a${prefixes.size}`;
        prefixes.set(ns, prefix);
        declarations += ` xmlns:${prefix}="${attributeText(ns)}"`;
      }
      qname = `${prefix}:${local}`;
    }
    values += ` ${qname}="${attributeText(value)}"`;
  }
  return declarations + values;
}

/** The inverse of attributeKey: '{ns}local' or 'local'. */
function splitAttributeKey(key: string): { ns: string; local: string } {
  if (!key.startsWith('{')) return { ns: '', local: key };
  const end = key.lastIndexOf('}');
  return { ns: key.slice(1, end), local: key.slice(end + 1) };
}
