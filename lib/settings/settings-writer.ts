// SettingsDocument -> application/poc-settings+xml. RFC 4354 elements in the
// default namespace; the IM service settings under the prefix `im`, declared
// once on the root when used, in the attribute form the reader documents
// (`<im:offline-delivery active="true"/>`, `<im:hist-activation
// type="session-mode" active="true"/>`). readSettings(writeSettings(d)) gives d
// back for every document the reader can produce: settings that are undefined
// are left out, and an entity's poc / im objects are only written when they
// hold a setting.
//
// Documents may come from stored or hand-made JSON, so a value that is not of
// its type is left out rather than written into the markup.
//
// Extensions are written as they are when they are what the reader makes (one
// self-contained element); any other text is parsed and written back in that
// form, so that an unqualified element cannot fall into the PoC namespace. One
// that is not a single well-formed element, or that claims one of our two
// namespaces (it would be read back as settings), is left out.
import { parseXml } from '../xml/safe-xml';
import { attributeText } from '../xml/xml-escape';
import { serializeElement } from '../xml/xml-serialize';
import { IM_SETTINGS_NAMESPACE, POC_SETTINGS_NAMESPACE } from './settings-types';
import type { ImSettings, PocSettings, SettingsDocument, SettingsEntity } from './settings-types';

export function writeSettings(doc: SettingsDocument): string {
  const usesIm = doc.entities.some((entity) => hasSetting(entity.im));
  const imDeclaration = usesIm ? ` xmlns:im="${IM_SETTINGS_NAMESPACE}"` : '';
  const open = `<?xml version="1.0" encoding="UTF-8"?>\n<poc-settings xmlns="${POC_SETTINGS_NAMESPACE}"${imDeclaration}`;
  if (doc.entities.length === 0) return `${open}/>\n`;
  const out: string[] = [`${open}>\n`];
  for (const entity of doc.entities) writeEntity(out, entity);
  out.push('</poc-settings>\n');
  return out.join('');
}

function writeEntity(out: string[], entity: SettingsEntity): void {
  const body: string[] = [];
  writePoc(body, entity.poc ?? {});
  writeIm(body, entity.im ?? {});
  for (const extension of entity.extensions ?? []) {
    const text = extensionText(extension);
    if (text !== undefined) body.push(text);
  }
  const open = `  <entity id="${attributeText(entity.id)}"`;
  if (body.length === 0) {
    out.push(`${open}/>\n`);
    return;
  }
  out.push(`${open}>\n`);
  for (const line of body) out.push(`    ${line}\n`);
  out.push('  </entity>\n');
}

function writePoc(body: string[], poc: PocSettings): void {
  pushSwitch(body, '', 'isb-settings', 'incoming-session-barring', poc.incomingSessionBarring);
  if (poc.answerMode === 'automatic' || poc.answerMode === 'manual') {
    body.push(`<am-settings><answer-mode>${poc.answerMode}</answer-mode></am-settings>`);
  }
  pushSwitch(body, '', 'ipab-settings', 'incoming-personal-alert-barring', poc.incomingPersonalAlertBarring);
  pushSwitch(body, '', 'sss-settings', 'simultaneous-sessions-support', poc.simultaneousSessions);
}

function writeIm(body: string[], im: ImSettings): void {
  pushSwitch(body, 'im:', 'isb-settings', 'incoming-session-barring', im.incomingSessionBarring);
  pushSwitch(body, 'im:', 'ipmb-settings', 'incoming-pager-large-mode-barring', im.incomingPagerLargeModeBarring);
  pushSwitch(body, 'im:', 'vis-settings', 'vis-status', im.invisibility);
  pushSwitch(body, 'im:', 'deferred-settings', 'offline-delivery', im.offlineDelivery);
  const history: string[] = [];
  if (typeof im.historySessionMode === 'boolean') history.push(historyActivation('session-mode', im.historySessionMode));
  if (typeof im.historyPagerLargeMode === 'boolean') {
    history.push(historyActivation('pager-large-mode', im.historyPagerLargeMode));
  }
  if (history.length > 0) body.push(`<im:hist-settings>${history.join('')}</im:hist-settings>`);
}

function historyActivation(type: string, active: boolean): string {
  return `<im:hist-activation type="${type}" active="${active}"/>`;
}

function pushSwitch(body: string[], prefix: string, container: string, name: string, active: boolean | undefined): void {
  if (typeof active !== 'boolean') return;
  body.push(`<${prefix}${container}><${prefix}${name} active="${active}"/></${prefix}${container}>`);
}

function hasSetting(settings: object | undefined): boolean {
  return settings !== undefined && Object.values(settings).some((value) => typeof value === 'boolean');
}

function extensionText(extension: string): string | undefined {
  if (typeof extension !== 'string') return undefined;
  const parsed = parseXml(extension);
  if (!parsed.ok) return undefined;
  const ns = parsed.root.ns;
  if (ns === POC_SETTINGS_NAMESPACE || ns === IM_SETTINGS_NAMESPACE) return undefined;
  return serializeElement(parsed.root);
}
