// Text and attribute values for the XML this pack writes. The writers never
// produce what the safe reader would refuse: characters XML 1.0 cannot carry
// at all (§2.2 Char) become U+FFFD.

// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[&<>"\t\n\r\u0000-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;

/**
 * Character data for element content. '>' is escaped too so that "]]>" can
 * never appear; CR is a reference because a literal one would be turned into
 * LF on reading (XML 1.0 §2.11).
 */
export function elementText(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value
    .replace(NOT_XML_CHAR, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r/g, '&#13;');
}

/**
 * A value for a double-quoted attribute. Tab, LF and CR are references because
 * attribute-value normalisation would turn literal ones into spaces (XML 1.0 §3.3.3).
 */
export function attributeText(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return elementText(value).replace(/"/g, '&quot;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;');
}
