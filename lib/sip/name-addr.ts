// name-addr text (`"Bob" <sip:bob@x;lr>;tag=1`) to the NameAddr shape.
import type { NameAddr, Params } from './message';

export function parseNameAddr(text: string): NameAddr | undefined {
  const t = text.trim();
  let name: string | undefined;
  let uri: string;
  let rest: string;
  const lt = t.indexOf('<');
  if (lt >= 0) {
    const gt = t.indexOf('>', lt);
    if (gt < 0) return undefined;
    name = t.slice(0, lt).trim() || undefined;
    uri = t.slice(lt + 1, gt).trim();
    rest = t.slice(gt + 1);
  } else {
    // addr-spec: parameters after the URI belong to the header (RFC 3261 20.10).
    const semi = t.indexOf(';');
    uri = semi >= 0 ? t.slice(0, semi) : t;
    rest = semi >= 0 ? t.slice(semi) : '';
  }
  if (!uri) return undefined;
  const params: Params = {};
  for (const p of rest.split(';')) {
    const s = p.trim();
    if (!s) continue;
    const eq = s.indexOf('=');
    if (eq < 0) params[s.toLowerCase()] = null;
    else params[s.slice(0, eq).trim().toLowerCase()] = s.slice(eq + 1).trim();
  }
  return { name, uri, params };
}
