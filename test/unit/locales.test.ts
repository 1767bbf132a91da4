// The words of every node: status texts agree in number ("1 user registered",
// "2 users registered") whether Node-RED's catalog or the fallback answers,
// and the German catalog has exactly the keys of the English one, so a
// missing or misspelt key shows here rather than as a raw key in the editor.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { translator } from '../../nodes/common/i18n';
import type { RedApi } from '../../nodes/common/red';
import { projectRoot } from '../support/project-root';

const locales = path.join(projectRoot(), 'nodes', 'locales');

function keysOf(o: unknown, prefix = ''): string[] {
  if (typeof o !== 'object' || o === null) return [prefix];
  return Object.entries(o).flatMap(([k, v]) => keysOf(v, prefix ? `${prefix}.${k}` : k));
}

function read(lang: string, file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(locales, lang, file), 'utf8')) as Record<string, unknown>;
}

/** A runtime whose own catalog knows nothing: the translator falls back to the English file. */
const bareRed = { _: (key: string) => key } as unknown as RedApi;

/** A runtime that answers from the German catalog, as Node-RED does for a German browser. */
function germanRed(node: string): RedApi {
  const catalog = read('de', `${node}.json`);
  const lookup = (key: string): string | undefined => {
    const v = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], catalog);
    return typeof v === 'string' ? v : undefined;
  };
  return {
    _: (key: string, subs: Record<string, string | number> = {}) => (lookup(key) ?? key).replace(/__(\w+)__/g, (m, k: string) => (k in subs ? String(subs[k]) : m)),
  } as unknown as RedApi;
}

describe('locales: status texts and catalogs', () => {
  it('picks the singular or the plural by the count', () => {
    const t = translator(bareRed, 'oma-third-party-register');
    assert.equal(t('oma-third-party-register.status.users', { count: 1 }), '1 user registered');
    assert.equal(t('oma-third-party-register.status.users', { count: 3 }), '3 users registered');
    assert.equal(t('oma-third-party-register.status.users', { count: 0 }), '0 users registered');
    const r = translator(bareRed, 'oma-reg-event');
    assert.equal(r('oma-reg-event.status.active', { count: 1 }), 'active: 1 contact');
    assert.equal(r('oma-reg-event.status.active', { count: 2 }), 'active: 2 contacts');
  });

  it('keeps a key without plural forms as it is, with its count', () => {
    const t = translator(bareRed, 'oma-lab-core');
    assert.match(t('oma-lab-core.errors.auth', { user: 'alice', reason: 'wrong password', count: 2 }), /alice \(wrong password; 2 failed/);
  });

  it('answers in German where the runtime has the German catalog', () => {
    const t = translator(germanRed('oma-third-party-register'), 'oma-third-party-register');
    assert.equal(t('oma-third-party-register.status.users', { count: 1 }), '1 Benutzer registriert');
    assert.equal(t('oma-third-party-register.status.users', { count: 4 }), '4 Benutzer registriert');
  });

  it('has a German catalog with the same keys as the English one for every node', () => {
    const english = fs.readdirSync(path.join(locales, 'en-US')).filter((f) => f.endsWith('.json'));
    assert.ok(english.length >= 9, `catalogs: ${english}`);
    for (const file of english) {
      assert.ok(fs.existsSync(path.join(locales, 'de', file)), `de/${file} exists`);
      assert.deepEqual(keysOf(read('de', file)).sort(), keysOf(read('en-US', file)).sort(), `de/${file} has the keys of en-US/${file}`);
    }
  });

  it('keeps every placeholder of the English text in the German one', () => {
    for (const file of fs.readdirSync(path.join(locales, 'en-US')).filter((f) => f.endsWith('.json'))) {
      const en = read('en-US', file);
      const de = read('de', file);
      for (const key of keysOf(en)) {
        const get = (o: unknown) => String(key.split('.').reduce<unknown>((x, k) => (x as Record<string, unknown>)?.[k], o));
        const holes = (s: string) => [...s.matchAll(/__\w+__/g)].map((m) => m[0]).sort();
        assert.deepEqual(holes(get(de)), holes(get(en)), `${file} ${key}`);
      }
    }
  });
});
