// application/poc-settings+xml -> SettingsDocument (RFC 4354, with the OMA IM
// service settings of seed 003 5.2.4 a-f). Elements are matched by namespace
// and local name, never by prefix. What this pack does not model is never
// fatal: unknown elements of our two namespaces and invalid values are ignored
// (the setting stays undefined), an entity without `id` is skipped, and
// elements of any other namespace inside an entity are kept as extensions.
//
// IM service settings: the OMA schema (im_service_settings-v1_0.xsd) is not
// public, so this is the pack's reading of it. Elements of
// urn:oma:xml:im:service-settings stand directly inside the entity:
//   a) isb-settings > incoming-session-barring
//   b) ipmb-settings > incoming-pager-large-mode-barring
//   c) vis-settings > vis-status                      (active = invisible)
//   d) deferred-settings > offline-delivery
//   e) hist-settings > hist-activation type="session-mode"
//   f) hist-settings > hist-activation type="pager-large-mode"
// c, d, e and f use the names seen in a commercial IMS client stack; a and b
// are not in that list and are named in the same style after RFC 4354's isb
// and a "pager / large mode barring" (ipmb). Whether `active` and `type` are
// attributes or element text is not established, so all of these are read:
//   <offline-delivery active="true"/>            (the form the writer uses)
//   <offline-delivery><active>true</active></offline-delivery>
//   <offline-delivery>true</offline-delivery>
//   <hist-activation type="session-mode" active="true"/>
//   <hist-activation><type>session-mode</type><active>true</active></hist-activation>
//   <hist-activation><session-mode>true</session-mode></hist-activation>
// When a setting is given more than once, the first valid value counts.
import { findChild, findChildren, parseXml, readAttribute, trimXmlSpace, trimmedText } from '../xml/safe-xml';
import type { XmlElement } from '../xml/safe-xml';
import { serializeElement } from '../xml/xml-serialize';
import { IM_SETTINGS_NAMESPACE, POC_SETTINGS_NAMESPACE } from './settings-types';
import type { AnswerMode, ImSettings, PocSettings, SettingsEntity, SettingsParse } from './settings-types';

const POC = POC_SETTINGS_NAMESPACE;
const IM = IM_SETTINGS_NAMESPACE;

export function readSettings(text: string): SettingsParse {
  const parsed = parseXml(text);
  if (!parsed.ok) return parsed;
  const root = parsed.root;
  if (root.ns !== POC || root.name !== 'poc-settings') {
    return {
      ok: false,
      error: `poc-settings: wrong root <${root.name}> in namespace '${root.ns}'; expected <poc-settings> in ${POC}`,
    };
  }
  const entities: SettingsEntity[] = [];
  for (const element of findChildren(root, POC, 'entity')) {
    const entity = readEntity(element);
    if (entity) entities.push(entity);
  }
  return { ok: true, document: { entities } };
}

function readEntity(element: XmlElement): SettingsEntity | undefined {
  const id = readAttribute(element, 'id');
  if (id === undefined) return undefined;
  const poc: PocSettings = {};
  const im: ImSettings = {};
  const extensions: string[] = [];
  for (const child of element.children) {
    if (child.ns === POC) readPocChild(child, poc);
    else if (child.ns === IM) readImChild(child, im);
    else extensions.push(serializeElement(child));
  }
  const entity: SettingsEntity = { id, extensions };
  if (Object.keys(poc).length > 0) entity.poc = poc;
  if (Object.keys(im).length > 0) entity.im = im;
  return entity;
}

// ---- PoC (RFC 4354) ---------------------------------------------------------

function readPocChild(container: XmlElement, poc: PocSettings): void {
  switch (container.name) {
    case 'isb-settings':
      for (const e of findChildren(container, POC, 'incoming-session-barring')) {
        setFirst(poc, 'incomingSessionBarring', xsBoolean(readAttribute(e, 'active')));
      }
      break;
    case 'am-settings':
      for (const e of findChildren(container, POC, 'answer-mode')) setFirst(poc, 'answerMode', answerMode(trimmedText(e)));
      break;
    case 'ipab-settings':
      for (const e of findChildren(container, POC, 'incoming-personal-alert-barring')) {
        setFirst(poc, 'incomingPersonalAlertBarring', xsBoolean(readAttribute(e, 'active')));
      }
      break;
    case 'sss-settings':
      for (const e of findChildren(container, POC, 'simultaneous-sessions-support')) {
        setFirst(poc, 'simultaneousSessions', xsBoolean(readAttribute(e, 'active')));
      }
      break;
    default:
      break; // an element of RFC 4354's namespace that this pack does not know
  }
}

function answerMode(value: string): AnswerMode | undefined {
  return value === 'automatic' || value === 'manual' ? value : undefined;
}

// ---- IM (seed 003 5.2.4) ----------------------------------------------------

/** The IM switches that are one element with an on/off value: container > element -> field. */
const IM_SWITCHES: ReadonlyArray<readonly [string, string, keyof ImSettings]> = [
  ['isb-settings', 'incoming-session-barring', 'incomingSessionBarring'],
  ['ipmb-settings', 'incoming-pager-large-mode-barring', 'incomingPagerLargeModeBarring'],
  ['vis-settings', 'vis-status', 'invisibility'],
  ['deferred-settings', 'offline-delivery', 'offlineDelivery'],
];

// A Map, not an object literal: a type of 'constructor' must find nothing.
const HISTORY_TYPES: ReadonlyMap<string, keyof ImSettings> = new Map([
  ['session-mode', 'historySessionMode'],
  ['pager-large-mode', 'historyPagerLargeMode'],
]);

function readImChild(container: XmlElement, im: ImSettings): void {
  if (container.name === 'hist-settings') {
    for (const e of findChildren(container, IM, 'hist-activation')) readHistoryActivation(e, im);
    return;
  }
  for (const [containerName, elementName, field] of IM_SWITCHES) {
    if (container.name !== containerName) continue;
    for (const e of findChildren(container, IM, elementName)) setFirst(im, field, switchValue(e));
  }
}

function readHistoryActivation(element: XmlElement, im: ImSettings): void {
  const typeAttribute = readAttribute(element, 'type');
  const type = typeAttribute !== undefined ? trimXmlSpace(typeAttribute) : childText(element, 'type');
  if (type !== undefined) {
    const field = HISTORY_TYPES.get(type);
    if (field !== undefined) setFirst(im, field, switchValue(element));
    return;
  }
  for (const child of element.children) {
    const field = child.ns === IM ? HISTORY_TYPES.get(child.name) : undefined;
    if (field !== undefined) setFirst(im, field, switchValue(child));
  }
}

/** `active` as an attribute, as a child element, or as the element's own text. */
function switchValue(element: XmlElement): boolean | undefined {
  const attribute = readAttribute(element, 'active') ?? readAttribute(element, 'active', IM);
  if (attribute !== undefined) return xsBoolean(attribute);
  const child = childText(element, 'active');
  if (child !== undefined) return xsBoolean(child);
  return element.children.length === 0 ? xsBoolean(element.text) : undefined;
}

function childText(element: XmlElement, name: string): string | undefined {
  const child = findChild(element, IM, name);
  return child === undefined ? undefined : trimmedText(child);
}

// ---- values -----------------------------------------------------------------

/** XML Schema boolean (true, false, 1, 0), after white space collapsing. */
export function xsBoolean(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  switch (trimXmlSpace(value)) {
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
      return false;
    default:
      return undefined;
  }
}

function setFirst<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined && target[key] === undefined) target[key] = value;
}
