// Header values read straight from a message's head, for the few headers the
// `sip` package's parser gets wrong: IPv6 references (`[2001:db8::1]:5060`)
// in Via break its host pattern, and in Route / Record-Route / Path its URI
// parser, which then makes its output unusable. The package stays the parser
// of everything else.
import { parseValueWithParams, splitHeaderList, type NameAddr, type Via } from './message';
import { parseNameAddr } from './name-addr';

const COMPACT: Record<string, string> = { v: 'via' };

/** Values of the named headers (lower-case full names) in order of appearance, folded lines joined. */
export function rawHeaderValues(head: string, names: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const lines = head.split(/\r\n(?![ \t])/);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    let name = line.slice(0, colon).trim().toLowerCase();
    name = COMPACT[name] ?? name;
    if (!names.includes(name)) continue;
    const value = line.slice(colon + 1).replace(/\r\n[ \t]+/g, ' ').trim();
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

/** Every name-addr of the given header lines (each line may hold a comma-separated list). */
export function nameAddrValues(lines: string[]): NameAddr[] {
  const out: NameAddr[] = [];
  for (const line of lines) {
    for (const entry of splitHeaderList(line)) {
      const n = parseNameAddr(entry);
      if (n) out.push(n);
    }
  }
  return out;
}

const VIA = /^SIP\s*\/\s*(\d+\.\d+)\s*\/\s*(\S+)\s+(\[[0-9A-Fa-f:.]+\]|[^\s;:[\]]+)(?:\s*:\s*(\d+))?\s*(;.*)?$/;

/** Via values (RFC 3261 20.42), the host without IPv6 brackets; undefined when one is not a Via. */
export function viaValues(lines: string[]): Via[] | undefined {
  const out: Via[] = [];
  for (const line of lines) {
    for (const entry of splitHeaderList(line)) {
      const m = VIA.exec(entry);
      if (!m) return undefined;
      const host = m[3]!.startsWith('[') ? m[3]!.slice(1, -1) : m[3]!;
      out.push({
        version: m[1],
        protocol: m[2]!,
        host,
        port: m[4] ? Number(m[4]) : undefined,
        params: m[5] ? parseValueWithParams('x' + m[5]).params : {},
      });
    }
  }
  return out;
}
