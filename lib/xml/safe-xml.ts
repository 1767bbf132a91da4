// A namespace-aware XML reader for bodies that arrive from the network (reginfo,
// poc-settings, ...). Everything that lets a document make the parser do work
// out of proportion to its size is refused, never expanded: a DOCTYPE (and with
// it internal subsets and entity declarations, the billion-laughs and XXE
// vectors), entity references other than the five predefined ones (XML 1.0
// §4.6), oversized input, deep nesting and very many elements. saxes itself
// never reads a DTD, so it could not expand an entity anyway; refusing is what
// keeps such a document from being half understood.
import { SaxesParser } from 'saxes';
import type { SaxesAttributeNS, SaxesTagNS } from 'saxes';

export interface XmlElement {
  /** Namespace URI; '' when the element is in no namespace. */
  readonly ns: string;
  /** Local name, without any prefix. */
  readonly name: string;
  /** Keyed by attributeKey(ns, local): '{ns}local', or 'local' when in no namespace. Namespace declarations are not attributes. */
  readonly attrs: ReadonlyMap<string, string>;
  readonly children: readonly XmlElement[];
  /** Character data directly inside this element (text and CDATA), untrimmed. */
  readonly text: string;
}

export type XmlResult = { ok: true; root: XmlElement } | { ok: false; error: string };

export interface XmlLimits {
  /** Refused before parsing when the UTF-8 encoding is longer. */
  maxBytes?: number;
  maxDepth?: number;
  maxElements?: number;
}

export const DEFAULT_XML_LIMITS: Readonly<Required<XmlLimits>> = {
  maxBytes: 65536,
  maxDepth: 64,
  maxElements: 10000,
};

const XMLNS_NAMESPACE = 'http://www.w3.org/2000/xmlns/';

/** Thrown from inside saxes callbacks to stop at the first problem. */
class XmlStop extends Error {}

interface ElementUnderConstruction {
  ns: string;
  name: string;
  attrs: Map<string, string>;
  children: ElementUnderConstruction[];
  text: string;
}

/** The key of an attribute in XmlElement.attrs. */
export function attributeKey(ns: string, local: string): string {
  return ns === '' ? local : `{${ns}}${local}`;
}

export function parseXml(text: string, opts: XmlLimits = {}): XmlResult {
  try {
    const limits = { ...DEFAULT_XML_LIMITS, ...definedOnly(opts ?? {}) };
    if (typeof text !== 'string') return refused('input is not text');
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > limits.maxBytes) return refused(`${bytes} bytes exceeds ${limits.maxBytes}`);
    const body = withoutLeadingWhitespace(text);
    if (prologHasDoctype(body)) return refused('DOCTYPE is not allowed');
    return { ok: true, root: buildTree(body, limits) };
  } catch (e) {
    if (e instanceof XmlStop) return { ok: false, error: e.message };
    return { ok: false, error: `XML refused: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function definedOnly(opts: XmlLimits): XmlLimits {
  const out: XmlLimits = {};
  if (opts.maxBytes !== undefined) out.maxBytes = opts.maxBytes;
  if (opts.maxDepth !== undefined) out.maxDepth = opts.maxDepth;
  if (opts.maxElements !== undefined) out.maxElements = opts.maxElements;
  return out;
}

function refused(why: string): XmlResult {
  return { ok: false, error: `XML refused: ${why}` };
}

// XML 1.0 §2.8 wants the declaration at the very first byte, but a SIP body
// that starts with a stray CRLF is a framing slip, not a different document.
function withoutLeadingWhitespace(text: string): string {
  let i = 0;
  while (i < text.length && isXmlSpace(text.charCodeAt(i))) i++;
  return i === 0 ? text : text.slice(i);
}

function isXmlSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

// A DOCTYPE may only stand in the prolog (XML 1.0 §2.8), so looking there finds
// it before saxes would read the whole internal subset. saxes' own doctype
// event stays as the backstop.
function prologHasDoctype(text: string): boolean {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (;;) {
    while (i < text.length && isXmlSpace(text.charCodeAt(i))) i++;
    if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i + 2);
      if (end < 0) return false;
      i = end + 2;
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end < 0) return false;
      i = end + 3;
    } else {
      return text.startsWith('<!DOCTYPE', i);
    }
  }
}

// One parser is kept for reuse (a few per cent of the time of a small body goes
// into building one). After a throw saxes is mid-document, so that parser is
// dropped and the next call builds a fresh one.
let idleBuilder: TreeBuilder | undefined;

function buildTree(text: string, limits: Required<XmlLimits>): XmlElement {
  const builder = idleBuilder ?? new TreeBuilder();
  idleBuilder = undefined;
  const root = builder.build(text, limits);
  idleBuilder = builder;
  return root;
}

class TreeBuilder {
  private readonly parser = new SaxesParser({ xmlns: true, position: true });
  private readonly entities: Record<string, string>;
  private limits: Required<XmlLimits> = DEFAULT_XML_LIMITS;
  private stack: ElementUnderConstruction[] = [];
  private root: ElementUnderConstruction | undefined;
  private elements = 0;
  private undefinedEntity: string | undefined;

  constructor() {
    const parser = this.parser;
    this.entities = entitiesNoticingMisses(parser.ENTITIES, (name) => (this.undefinedEntity = name));
    parser.on('doctype', () => {
      throw new XmlStop('XML refused: DOCTYPE is not allowed');
    });
    // Six handlers at most: saxes stores each as a new property of the parser,
    // and a seventh makes V8 (Node 20) slow down every property access about
    // five times. So the limits are checked on 'opentag', not 'opentagstart'.
    parser.on('opentag', (tag) => this.open(tag));
    parser.on('closetag', () => {
      this.stack.pop();
    });
    const appendText = (data: string) => {
      const current = this.stack[this.stack.length - 1];
      if (current) current.text += data;
    };
    parser.on('text', appendText);
    parser.on('cdata', appendText);
    parser.on('error', (err) => {
      throw new XmlStop(describeSaxesError(err.message, this.undefinedEntity));
    });
  }

  build(text: string, limits: Required<XmlLimits>): XmlElement {
    this.limits = limits;
    this.stack = [];
    this.root = undefined;
    this.elements = 0;
    this.undefinedEntity = undefined;
    // close() re-initialises saxes, which replaces ENTITIES: set it every time.
    this.parser.ENTITIES = this.entities;
    this.parser.write(text).close();
    const root = this.root;
    this.root = undefined;
    if (!root) throw new XmlStop('XML malformed: no root element');
    return root;
  }

  private open(tag: SaxesTagNS): void {
    this.elements += 1;
    const { maxDepth, maxElements } = this.limits;
    if (this.stack.length + 1 > maxDepth) throw new XmlStop(`XML refused: nesting deeper than ${maxDepth} elements`);
    if (this.elements > maxElements) throw new XmlStop(`XML refused: more than ${maxElements} elements`);
    const element = elementFrom(tag);
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.children.push(element);
    else this.root = element;
    this.stack.push(element);
  }
}

function elementFrom(tag: SaxesTagNS): ElementUnderConstruction {
  const attrs = new Map<string, string>();
  for (const name in tag.attributes) {
    const attribute: SaxesAttributeNS = tag.attributes[name];
    if (attribute.uri === XMLNS_NAMESPACE) continue;
    attrs.set(attributeKey(attribute.uri, attribute.local), attribute.value);
  }
  return { ns: tag.uri, name: tag.local, attrs, children: [], text: '' };
}

// saxes reports "undefined entity." without the name; a lookup that misses is
// the only place the name is known, and naming it makes the refusal clear.
function entitiesNoticingMisses(
  predefined: Record<string, string>,
  onMiss: (name: string) => void,
): Record<string, string> {
  return new Proxy(predefined, {
    get(target, key) {
      const value = typeof key === 'string' ? target[key] : undefined;
      if (value === undefined && typeof key === 'string') onMiss(key);
      return value;
    },
  });
}

function describeSaxesError(message: string, undefinedEntity: string | undefined): string {
  const text = message.replace(/\.$/, '');
  if (/undefined entity$/.test(text) && undefinedEntity !== undefined) {
    return `XML refused: entity reference &${undefinedEntity}; is not allowed`;
  }
  if (/inappropriately located doctype/.test(text)) return 'XML refused: DOCTYPE is not allowed';
  return `XML malformed: ${text}`;
}

// ---- reading helpers -------------------------------------------------------

/** Child elements with this namespace and local name, in document order. */
export function findChildren(parent: XmlElement, ns: string, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  for (const child of parent.children) {
    if (child.name === name && child.ns === ns) found.push(child);
  }
  return found;
}

/** The first child element with this namespace and local name. */
export function findChild(parent: XmlElement, ns: string, name: string): XmlElement | undefined {
  for (const child of parent.children) {
    if (child.name === name && child.ns === ns) return child;
  }
  return undefined;
}

/**
 * An attribute's value. Unprefixed attributes are in no namespace whatever the
 * element's default namespace is (Namespaces in XML §6.2), which is how the
 * attributes of RFC 3680 and RFC 5628 are written; pass ns for a qualified one.
 */
export function readAttribute(element: XmlElement, name: string, ns = ''): string | undefined {
  return element.attrs.get(attributeKey(ns, name));
}

/** The element's own character data without leading and trailing XML white space (XML 1.0 §2.3 S). */
export function trimmedText(element: XmlElement): string {
  return trimXmlSpace(element.text);
}

export function trimXmlSpace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isXmlSpace(value.charCodeAt(start))) start++;
  while (end > start && isXmlSpace(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}
