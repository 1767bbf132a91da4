// Messages of a node in the user's language. Node-RED's RED._ knows our
// catalogs once the pack is installed; where it does not (the test helper,
// a runtime started without them) the English catalog beside the node is
// used, so status texts never degrade to message keys.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RedApi } from './red';

type Catalog = Record<string, unknown>;

function lookup(catalog: Catalog, key: string): string | undefined {
  let cur: unknown = catalog;
  for (const part of key.split('.')) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === 'string' ? cur : undefined;
}

function substitute(template: string, subs: Record<string, string | number> = {}): string {
  return template.replace(/__([A-Za-z0-9_]+)__/g, (m, k: string) => (k in subs ? String(subs[k]) : m));
}

export type Translate = (key: string, subs?: Record<string, string | number>) => string;

export function translator(RED: RedApi, nodeFile: string): Translate {
  let fallback: Catalog | undefined;
  const english = (): Catalog => {
    if (!fallback) {
      try {
        const file = path.join(__dirname, '..', 'locales', 'en-US', `${nodeFile}.json`);
        fallback = JSON.parse(fs.readFileSync(file, 'utf8')) as Catalog;
      } catch {
        fallback = {};
      }
    }
    return fallback;
  };
  const one = (key: string, subs?: Record<string, string | number>): string | undefined => {
    const s = RED._(key, subs);
    if (s && s !== key) return s;
    const t = lookup(english(), key);
    return t === undefined ? undefined : substitute(t, subs);
  };
  // A number in `count` picks the singular or plural form (`key_one`, `key_other`) where the catalog
  // has them; chosen here rather than by i18next, whose plural suffixes differ between its versions
  // (Node-RED 4 and 5 ship different ones).
  return (key, subs) => {
    const count = subs?.count;
    const form = typeof count === 'number' ? one(`${key}_${count === 1 ? 'one' : 'other'}`, subs) : undefined;
    return form ?? one(key, subs) ?? key;
  };
}
