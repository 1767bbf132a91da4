// The deferred-message metadata document of OMA IM (XCAP application usage
// org.openmobilealliance.deferred-list), which the deferred-messages info
// NOTIFY carries (seed 004 7.2.6.1 reuses it): `history-list` > `history`*,
// each with `history-reference` (the stored message's id), `size`, `expiry`,
// `subject`, `date` and `pager` (`time-stamp`, `from`, `to`).
//
// The schema is not public (hints/settings-xml.md): this pack writes every
// value as element text, times as RFC 3339 UTC, and reads tolerantly:
// elements of other namespaces and unknown ones are skipped, values it cannot
// use are left out. What it refuses is a document that is not a history-list
// at all, and whatever the safe reader refuses (DOCTYPE, entities, size).
import { findChild, findChildren, parseXml, trimmedText, type XmlElement, type XmlLimits } from '../xml/safe-xml';
import { elementText } from '../xml/xml-escape';
import type { DeferredMessage } from './message-store';

export const HISTORY_LIST_NAMESPACE = 'urn:oma:xml:im:history-list';
export const DEFERRED_LIST_CONTENT_TYPE = 'application/vnd.oma.im.deferred-list+xml';

export interface HistoryPager {
  /** When the message was sent (RFC 3339). */
  timeStamp?: string;
  from?: string;
  to: string[];
}

export interface HistoryEntry {
  /** history-reference: the id of the stored message. */
  reference: string;
  /** Bytes of the content. */
  size?: number;
  /** When the stored message is dropped (RFC 3339). */
  expiry?: string;
  subject?: string;
  /** When the message was stored (RFC 3339). */
  date?: string;
  /** Present for a pager-mode message. */
  pager?: HistoryPager;
}

export interface HistoryList {
  entries: HistoryEntry[];
}

export type HistoryListResult = { ok: true; list: HistoryList } | { ok: false; error: string };

const HEAD = `<?xml version="1.0" encoding="UTF-8"?>\n<history-list xmlns="${HISTORY_LIST_NAMESPACE}">\n`;
const TAIL = '</history-list>\n';
const EMPTY = `<?xml version="1.0" encoding="UTF-8"?>\n<history-list xmlns="${HISTORY_LIST_NAMESPACE}"/>\n`;

export function writeHistoryList(list: HistoryList): string {
  if (list.entries.length === 0) return EMPTY;
  return HEAD + list.entries.map(historyEntryXml).join('') + TAIL;
}

/**
 * As many entries as fit in maxBytes of document (UTF-8), from the first: a
 * NOTIFY must stay within what a reader takes (64 KiB by default, SPEC).
 * `omitted` says how many did not fit.
 */
export function writeHistoryListWithin(list: HistoryList, maxBytes: number): { text: string; included: number; omitted: number } {
  let used = Buffer.byteLength(HEAD + TAIL, 'utf8');
  const parts: string[] = [];
  for (const entry of list.entries) {
    const xml = historyEntryXml(entry);
    const bytes = Buffer.byteLength(xml, 'utf8');
    if (used + bytes > maxBytes) break;
    used += bytes;
    parts.push(xml);
  }
  const text = parts.length === 0 ? EMPTY : HEAD + parts.join('') + TAIL;
  return { text, included: parts.length, omitted: list.entries.length - parts.length };
}

/** One `history` element with its line break. */
export function historyEntryXml(e: HistoryEntry): string {
  const out = [`  <history>\n    <history-reference>${elementText(e.reference)}</history-reference>\n`];
  if (e.size !== undefined && Number.isSafeInteger(e.size) && e.size >= 0) out.push(`    <size>${e.size}</size>\n`);
  if (e.expiry !== undefined) out.push(`    <expiry>${elementText(e.expiry)}</expiry>\n`);
  if (e.subject !== undefined) out.push(`    <subject>${elementText(e.subject)}</subject>\n`);
  if (e.date !== undefined) out.push(`    <date>${elementText(e.date)}</date>\n`);
  if (e.pager) {
    out.push('    <pager>\n');
    if (e.pager.timeStamp !== undefined) out.push(`      <time-stamp>${elementText(e.pager.timeStamp)}</time-stamp>\n`);
    if (e.pager.from !== undefined) out.push(`      <from>${elementText(e.pager.from)}</from>\n`);
    for (const to of e.pager.to) out.push(`      <to>${elementText(to)}</to>\n`);
    out.push('    </pager>\n');
  }
  out.push('  </history>\n');
  return out.join('');
}

/** A stored message as metadata: its id, size, expiry, subject, and the pager part with the original sender and time. */
export function historyEntryOf(m: DeferredMessage): HistoryEntry {
  const entry: HistoryEntry = {
    reference: m.id,
    size: m.size,
    expiry: new Date(m.expiresAt).toISOString(),
    date: new Date(m.receivedAt).toISOString(),
    pager: { timeStamp: new Date(m.receivedAt).toISOString(), from: m.sender, to: [m.recipient] },
  };
  if (m.subject !== undefined) entry.subject = m.subject;
  return entry;
}

/** The metadata of a user's waiting messages, in their order. */
export function historyListOf(messages: readonly DeferredMessage[]): HistoryList {
  return { entries: messages.map(historyEntryOf) };
}

/**
 * Reads a history-list (namespace-aware: the prefix does not matter, the
 * namespace does). Refuses a document whose root is not history-list in
 * HISTORY_LIST_NAMESPACE, and a history without a history-reference.
 */
export function readHistoryList(text: string, limits?: XmlLimits): HistoryListResult {
  const parsed = parseXml(text, limits);
  if (!parsed.ok) return parsed;
  const root = parsed.root;
  if (root.name !== 'history-list' || root.ns !== HISTORY_LIST_NAMESPACE) {
    return { ok: false, error: `not a history-list: the root is {${root.ns}}${root.name}` };
  }
  const entries: HistoryEntry[] = [];
  for (const [index, history] of findChildren(root, HISTORY_LIST_NAMESPACE, 'history').entries()) {
    const reference = textOf(history, 'history-reference');
    if (reference === undefined || reference === '') {
      return { ok: false, error: `history ${index + 1} has no history-reference` };
    }
    const entry: HistoryEntry = { reference };
    const size = textOf(history, 'size');
    if (size !== undefined && /^\d{1,15}$/.test(size)) entry.size = Number(size);
    copyText(history, 'expiry', (v) => (entry.expiry = v));
    copyText(history, 'subject', (v) => (entry.subject = v));
    copyText(history, 'date', (v) => (entry.date = v));
    const pager = findChild(history, HISTORY_LIST_NAMESPACE, 'pager');
    if (pager) {
      const p: HistoryPager = { to: findChildren(pager, HISTORY_LIST_NAMESPACE, 'to').map(trimmedText).filter(Boolean) };
      copyText(pager, 'time-stamp', (v) => (p.timeStamp = v));
      copyText(pager, 'from', (v) => (p.from = v));
      entry.pager = p;
    }
    entries.push(entry);
  }
  return { ok: true, list: { entries } };
}

function textOf(parent: XmlElement, name: string): string | undefined {
  const child = findChild(parent, HISTORY_LIST_NAMESPACE, name);
  return child ? trimmedText(child) : undefined;
}

function copyText(parent: XmlElement, name: string, set: (v: string) => void): void {
  const v = textOf(parent, name);
  if (v !== undefined && v !== '') set(v);
}
