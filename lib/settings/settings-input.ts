// The settings in the plain terms of a flow: what a lab user puts in
// msg.payload or the editor gives a node, and the JSON a node sends on. Nothing
// here knows Node-RED; adapters call these and report the Error they throw.
import { parseXml } from '../xml/safe-xml';
import { serializeElement } from '../xml/xml-serialize';
import { IM_SETTINGS_NAMESPACE, POC_SETTINGS_NAMESPACE } from './settings-types';
import type { AnswerMode, ImSettings, PocSettings, SettingsDocument, SettingsEntity } from './settings-types';

/** The PoC setting names a flow may give (flat, or under `poc`). */
export const POC_KEYS: ReadonlyArray<keyof PocSettings> = [
  'incomingSessionBarring',
  'answerMode',
  'incomingPersonalAlertBarring',
  'simultaneousSessions',
];
/** The IM setting names a flow may give under `im`. */
export const IM_KEYS: ReadonlyArray<keyof ImSettings> = [
  'incomingSessionBarring',
  'incomingPagerLargeModeBarring',
  'invisibility',
  'offlineDelivery',
  'historySessionMode',
  'historyPagerLargeMode',
];

export function emptyDocument(): SettingsDocument {
  return { entities: [] };
}

/**
 * One entity from user input: flat PoC settings
 * `{incomingSessionBarring, answerMode, incomingPersonalAlertBarring, simultaneousSessions}`,
 * or `{poc: {...}, im: {...}}` (flat PoC keys may not be mixed with `poc`), and
 * optionally `extensions`: an array of XML elements as text. Booleans may be
 * true / false or the strings 'true' / 'false'; answerMode is 'automatic' or
 * 'manual'. undefined, null and '' (an editor field left empty) mean "not set".
 * Throws an Error naming the field for anything else, and for unknown keys.
 */
export function entityFromInput(input: unknown, id: string): SettingsEntity {
  if (typeof id !== 'string' || id === '') throw new Error('settings: the entity id must be a non-empty string');
  const object = plainObject(input, 'settings');
  let poc: PocSettings = {};
  let im: ImSettings = {};
  let extensions: string[] = [];
  const flat: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (key === 'poc') {
      if (!isUnset(value)) poc = pocFromInput(plainObject(value, 'poc'), 'poc.');
    } else if (key === 'im') {
      if (!isUnset(value)) im = imFromInput(plainObject(value, 'im'));
    } else if (key === 'extensions') {
      if (!isUnset(value)) extensions = extensionsFromInput(value);
    } else if ((POC_KEYS as readonly string[]).includes(key)) {
      flat[key] = value;
    } else {
      throw new Error(`settings: unknown key '${key}' (expected ${[...POC_KEYS, 'poc', 'im', 'extensions'].join(', ')})`);
    }
  }
  if (Object.keys(flat).length > 0) {
    if (object.poc !== undefined && object.poc !== null) {
      throw new Error(`settings: give PoC settings either flat or under 'poc', not both ('${Object.keys(flat)[0]}')`);
    }
    poc = pocFromInput(flat, '');
  }
  const entity: SettingsEntity = { id, extensions };
  if (Object.keys(poc).length > 0) entity.poc = poc;
  if (Object.keys(im).length > 0) entity.im = im;
  return entity;
}

function pocFromInput(input: Record<string, unknown>, path: string): PocSettings {
  const poc: PocSettings = {};
  for (const [key, value] of Object.entries(input)) {
    if (isUnset(value)) continue;
    const field = `${path}${key}`;
    switch (key) {
      case 'answerMode':
        poc.answerMode = answerModeFromInput(value, field);
        break;
      case 'incomingSessionBarring':
      case 'incomingPersonalAlertBarring':
      case 'simultaneousSessions':
        poc[key] = booleanFromInput(value, field);
        break;
      default:
        throw new Error(`settings: unknown key '${field}' (expected ${POC_KEYS.map((k) => path + k).join(', ')})`);
    }
  }
  return poc;
}

function imFromInput(input: Record<string, unknown>): ImSettings {
  const im: ImSettings = {};
  for (const [key, value] of Object.entries(input)) {
    if (!(IM_KEYS as readonly string[]).includes(key)) {
      throw new Error(`settings: unknown key 'im.${key}' (expected ${IM_KEYS.map((k) => `im.${k}`).join(', ')})`);
    }
    if (!isUnset(value)) im[key as keyof ImSettings] = booleanFromInput(value, `im.${key}`);
  }
  return im;
}

function extensionsFromInput(value: unknown): string[] {
  if (!Array.isArray(value)) throw new Error('settings: extensions must be an array of XML elements as text');
  return value.map((item, index) => {
    const field = `extensions[${index}]`;
    if (typeof item !== 'string') throw new Error(`settings: ${field} must be XML text, got ${describe(item)}`);
    const parsed = parseXml(item);
    if (!parsed.ok) throw new Error(`settings: ${field} is not one well-formed XML element: ${parsed.error}`);
    const ns = parsed.root.ns;
    if (ns === POC_SETTINGS_NAMESPACE || ns === IM_SETTINGS_NAMESPACE) {
      throw new Error(`settings: ${field} is in ${ns}: give those settings by name, not as an extension`);
    }
    // The form the reader would give back, so that the entity survives a round trip unchanged.
    return serializeElement(parsed.root);
  });
}

function booleanFromInput(value: unknown, field: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === 'true') return true;
    if (text === 'false') return false;
  }
  throw new Error(`settings: ${field} must be true or false, got ${describe(value)}`);
}

function answerModeFromInput(value: unknown, field: string): AnswerMode {
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === 'automatic' || text === 'manual') return text;
  }
  throw new Error(`settings: ${field} must be 'automatic' or 'manual', got ${describe(value)}`);
}

function plainObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`settings: ${field} must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

// ---- output and combination -------------------------------------------------

export interface SettingsEntityView {
  id: string;
  poc?: PocSettings;
  im?: ImSettings;
  extensions: string[];
}

export interface SettingsView {
  entities: SettingsEntityView[];
}

/** A plain JSON copy for msg.payload: no undefined values, nothing shared with doc. */
export function documentView(doc: SettingsDocument): SettingsView {
  return copyDocument(doc);
}

/**
 * A copy sharing nothing with doc, without undefined values (what a JSON
 * round trip keeps), at a fraction of the cost of structuredClone.
 */
export function copyDocument(doc: SettingsDocument): SettingsDocument {
  return { entities: doc.entities.map(copyEntity) };
}

/**
 * Offline delivery activation (seed 003 5.2.4 d, 12.2.2.2) over all entities:
 * true when any entity says active, false when some say inactive and none
 * active, undefined when none says.
 */
export function offlineDeliveryActive(doc: SettingsDocument): boolean | undefined {
  let answer: boolean | undefined;
  for (const entity of doc.entities) {
    const value = entity.im?.offlineDelivery;
    if (value === true) return true;
    if (value === false) answer = false;
  }
  return answer;
}

/**
 * RFC 3903 §4.4 composition of several publications: the union of their
 * entities; for the same entity id the later document (and within one
 * document the later entity) wins. An entity keeps the place where its id
 * first appeared.
 */
export function composeDocuments(docs: SettingsDocument[]): SettingsDocument {
  const byId = new Map<string, SettingsEntity>();
  for (const doc of docs) {
    for (const entity of doc.entities) byId.set(entity.id, copyEntity(entity));
  }
  return { entities: [...byId.values()] };
}

function copyEntity(entity: SettingsEntity): SettingsEntity {
  const copy: SettingsEntity = { id: entity.id, extensions: [...(entity.extensions ?? [])] };
  const poc = definedOnly(entity.poc);
  const im = definedOnly(entity.im);
  if (poc) copy.poc = poc;
  if (im) copy.im = im;
  return copy;
}

// A plain loop: this runs for every entity of every publication, several times.
function definedOnly<T extends object>(settings: T | undefined): T | undefined {
  if (settings === undefined) return undefined;
  const copy: Record<string, unknown> = {};
  let any = false;
  for (const key of Object.keys(settings)) {
    const value = (settings as Record<string, unknown>)[key];
    if (value === undefined) continue;
    copy[key] = value;
    any = true;
  }
  return any ? (copy as T) : undefined;
}
