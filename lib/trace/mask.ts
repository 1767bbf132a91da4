// What a trace may show of a message. A digest `response` proves knowledge of
// the password (RFC 7616 3.4.1): with the nonce beside it, it can be attacked
// offline, so traces never keep it. Basic credentials are the password itself.
// The other digest parameters (cnonce, nc, qop, uri) stay: they are what a lab
// engineer reads to see why a core refused the answer.

const AUTH_HEADER = /^(authorization|proxy-authorization)\s*:/i;
const DIGEST_RESPONSE = /(\bresponse\s*=\s*)("[^"]*"|[^\s,]*)/gi;
const BASIC = /^(\s*basic\s+)\S+/i;

export const MASK = '"********"';

/** The header lines of `text` (folded continuations kept with their header), credentials masked. */
export function maskSecrets(text: string): string {
  const end = text.indexOf('\r\n\r\n');
  const head = end >= 0 ? text.slice(0, end) : text;
  if (!/authorization\s*:/i.test(head)) return text;
  const lines = head.split('\r\n');
  const out: string[] = [];
  let inAuth = false;
  for (const line of lines) {
    const continuation = out.length > 0 && (line.startsWith(' ') || line.startsWith('\t'));
    if (!continuation) inAuth = AUTH_HEADER.test(line);
    out.push(inAuth ? maskLine(line, continuation) : line);
  }
  return out.join('\r\n') + (end >= 0 ? text.slice(end) : '');
}

function maskLine(line: string, continuation: boolean): string {
  if (!continuation) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon + 1);
    const value = line.slice(colon + 1);
    if (BASIC.test(value)) return name + value.replace(BASIC, '$1********');
    return name + value.replace(DIGEST_RESPONSE, `$1${MASK}`);
  }
  return line.replace(DIGEST_RESPONSE, `$1${MASK}`);
}
